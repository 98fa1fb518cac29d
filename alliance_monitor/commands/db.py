"""``db upgrade|downgrade|current|wait|purge``: the store's schema and retention."""

from __future__ import annotations

__layer__ = "cli"

import argparse

from ..argtypes import days, non_negative_float
from ..errors import CliError
from .common import add_db_argument, db_failure, store_engine, store_url


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="store schema: upgrade, downgrade, current, purge old transcripts")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(db))
    p = dbsub.add_parser("upgrade", help="run the migrations up to a revision (default head)")
    p.add_argument("revision", nargs="?", default="head")
    add_db_argument(p)
    p.set_defaults(func=cmd_db_upgrade)
    p = dbsub.add_parser("downgrade", help="undo migrations down to a revision (default: one step)")
    p.add_argument("revision", nargs="?", default="-1")
    add_db_argument(p)
    p.set_defaults(func=cmd_db_downgrade)
    p = dbsub.add_parser("current", help="show the database, its revision and row counts")
    add_db_argument(p)
    p.set_defaults(func=cmd_db_current)
    p = dbsub.add_parser("wait", help="wait until the database is at this release's schema revision (head): "
                                      "an init container that gates a rollout on the migrate job")
    p.add_argument("--timeout", type=non_negative_float, default=600.0, metavar="SECONDS",
                   help="give up after this long, exit 2 (default 600)")
    add_db_argument(p)
    p.set_defaults(func=cmd_db_wait)
    p = dbsub.add_parser("purge", help="remove chat text older than DAYS: turns, quotes, rationales, evidence, "
                                       "journal; and audit records past their own retention")
    p.add_argument("--older-than", type=days, metavar="DAYS",
                   help="chat text; default: ALLIANCE_TURNS_RETENTION_DAYS (30)")
    p.add_argument("--audit-older-than", type=days, metavar="DAYS",
                   help="audit records (who viewed which session); default: ALLIANCE_AUDIT_RETENTION_DAYS (365)")
    add_db_argument(p)
    p.set_defaults(func=cmd_db_purge)
    db.set_defaults(func=lambda args: (db.print_help(), 2)[1])


def cmd_db_upgrade(args) -> int:
    from store.db import StoreError, current_revision, make_engine, safe_url, upgrade

    url = store_url(args)
    try:
        upgrade(url, args.revision)
        rev = current_revision(make_engine(url))
    except StoreError:
        raise
    except Exception as err:  # noqa: BLE001 - unreachable server, unknown revision...
        raise db_failure(err, url) from None
    print(f"{safe_url(url)}: at revision {rev}")
    return 0


def cmd_db_downgrade(args) -> int:
    from store.db import current_revision, downgrade, make_engine, safe_url

    url = store_url(args)
    try:
        downgrade(url, args.revision)
        rev = current_revision(make_engine(url))
    except Exception as err:  # noqa: BLE001
        raise db_failure(err, url) from None
    print(f"{safe_url(url)}: at revision {rev or 'base (empty)'}")
    return 0


def cmd_db_wait(args) -> int:
    """Poll (every 2 s) until the store is at head; an unreachable database counts as not yet."""
    import time

    from store.db import current_revision, head_revision, make_engine, safe_url

    url = store_url(args)
    head = head_revision()
    deadline = time.monotonic() + args.timeout
    seen: str | None = "unreachable"
    while True:
        try:
            engine = make_engine(url)
            try:
                seen = current_revision(engine) or "none"
            finally:
                engine.dispose()
        except Exception as err:  # noqa: BLE001 - not reachable yet (the database or its DNS name starts later)
            seen = f"unreachable ({type(err).__name__})"
        if seen == head:
            print(f"{safe_url(url)}: at revision {head}")
            return 0
        if time.monotonic() >= deadline:
            raise CliError(f"{safe_url(url)} is at revision {seen}, this release needs {head} after "
                           f"{args.timeout:g} s: has the migrate job run? (kubectl -n alliance logs job/alliance-migrate)")
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def cmd_db_current(args) -> int:
    from store.db import current_revision, head_revision, make_engine, safe_url
    from store.repository import StoreRepository

    url = store_url(args)
    try:
        engine = make_engine(url)
        rev = current_revision(engine)
        counts = StoreRepository(engine).counts() if rev == head_revision() else {}
    except Exception as err:  # noqa: BLE001
        raise db_failure(err, url) from None
    print(f"database: {safe_url(url)}")
    print(f"revision: {rev or 'none (run `alliance-monitor db upgrade`)'} (head {head_revision()})")
    for table, n in counts.items():
        print(f"  {table:<18} {n}")
    return 0


def cmd_db_purge(args) -> int:
    from store.retention import purge_audit, purge_text
    from store.settings import StoreSettings

    older_than, audit_older_than = args.older_than, args.audit_older_than
    if older_than is None or audit_older_than is None:
        try:
            settings = StoreSettings.from_env()
        except ValueError as err:
            raise CliError(str(err)) from None
        older_than = settings.turns_retention_days if older_than is None else older_than
        audit_older_than = settings.audit_retention_days if audit_older_than is None else audit_older_than
    if older_than is None and audit_older_than is None:
        raise CliError("no retention set: give --older-than DAYS or ALLIANCE_TURNS_RETENTION_DAYS "
                       "(and --audit-older-than DAYS or ALLIANCE_AUDIT_RETENTION_DAYS)")
    engine = store_engine(args)
    with engine.begin() as conn:
        res = purge_text(conn, older_than) if older_than is not None else None
        audit = purge_audit(conn, audit_older_than) if audit_older_than is not None else None
    print(f"older than {older_than:g} days: {res.line()}" if res is not None else "chat text: kept (no retention set)")
    print(f"audit records older than {audit_older_than:g} days: deleted {audit}" if audit is not None
          else "audit records: kept (no retention set)")
    return 0
