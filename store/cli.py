"""Subcommands of the store: ``db upgrade|downgrade|current|purge``, ``sink``, ``report``, ``eval``, ``calibrate``."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
from pathlib import Path

from . import validation_cli


def _cli_error(message: str):
    from alliance_monitor.cli import CliError

    return CliError(message)


def _positive(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {value!r}") from None
    if not x > 0 or math.isinf(x):
        raise argparse.ArgumentTypeError("must be a positive number")
    return x


def _non_negative(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of days, not {value!r}") from None
    if not x >= 0 or math.isinf(x):
        raise argparse.ArgumentTypeError("must be a number of days >= 0")
    return x


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: ALLIANCE_DB_URL, else the SQLite file "
                                               "in ~/.local/share/alliance-monitor)")


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="store schema: upgrade, downgrade, current, purge old transcripts")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(db))
    p = dbsub.add_parser("upgrade", help="run the migrations up to a revision (default head)")
    p.add_argument("revision", nargs="?", default="head")
    _add_db(p)
    p.set_defaults(func=cmd_db_upgrade)
    p = dbsub.add_parser("downgrade", help="undo migrations down to a revision (default: one step)")
    p.add_argument("revision", nargs="?", default="-1")
    _add_db(p)
    p.set_defaults(func=cmd_db_downgrade)
    p = dbsub.add_parser("current", help="show the database, its revision and row counts")
    _add_db(p)
    p.set_defaults(func=cmd_db_current)
    p = dbsub.add_parser("purge", help="remove chat text older than DAYS: turns, quotes, rationales, evidence, "
                                       "journal (retention)")
    p.add_argument("--older-than", type=_non_negative, metavar="DAYS",
                   help="default: ALLIANCE_TURNS_RETENTION_DAYS (30)")
    _add_db(p)
    p.set_defaults(func=cmd_db_purge)
    db.set_defaults(func=lambda args: (db.print_help(), 2)[1])

    p = sub.add_parser("sink", help="write chat.sessions, alliance.scores/alerts/acks into the store")
    p.add_argument("--group", default="alliance-store", help="consumer group id (default alliance-store)")
    p.add_argument("--upgrade", action="store_true",
                   help="run the migrations first (automatic for a SQLite store; a deploy step for PostgreSQL)")
    _add_db(p)
    p.set_defaults(func=cmd_sink)

    p = sub.add_parser("report", help="phase-wise trajectories and counselor profiles (PNG + CSV + text)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the plots and tables")
    p.add_argument("--delta", type=_positive, default=0.25,
                   help="smallest change early→late that counts, besides one full scale level (default 0.25)")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    _add_db(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("eval", help="Pearson r of predictions vs client-rated WAI-SR labels; self-consistency")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE", help="JSONL labels (see docs/store.md)")
    p.add_argument("--phase", choices=("early", "middle", "late"), default="late",
                   help="which phase's prediction to compare (default late = whole session)")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON")
    _add_db(p)
    validation_cli.add_gate_arguments(p)
    p.set_defaults(func=cmd_eval)
    validation_cli.register(sub)  # calibrate


def _url(args) -> str:
    from .settings import StoreSettings

    try:
        return StoreSettings.from_env(getattr(args, "db", None)).db_url
    except ValueError as err:
        raise _cli_error(str(err)) from None


def _engine(args, *, require: bool = True):
    from .db import StoreError, make_engine, require_schema

    try:
        engine = make_engine(_url(args))
        if require:
            require_schema(engine)
    except StoreError as err:
        raise _cli_error(str(err)) from None
    return engine


def _db_failure(err: Exception, url: str):
    from .db import safe_url

    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return _cli_error(f"database {safe_url(url)}: {first[:300]}")


def cmd_db_upgrade(args) -> int:
    from .db import StoreError, current_revision, make_engine, safe_url, upgrade

    url = _url(args)
    try:
        upgrade(url, args.revision)
        rev = current_revision(make_engine(url))
    except StoreError as err:
        raise _cli_error(str(err)) from None
    except Exception as err:  # noqa: BLE001 - unreachable server, unknown revision...
        raise _db_failure(err, url) from None
    print(f"{safe_url(url)}: at revision {rev}")
    return 0


def cmd_db_downgrade(args) -> int:
    from .db import current_revision, downgrade, make_engine, safe_url

    url = _url(args)
    try:
        downgrade(url, args.revision)
        rev = current_revision(make_engine(url))
    except Exception as err:  # noqa: BLE001
        raise _db_failure(err, url) from None
    print(f"{safe_url(url)}: at revision {rev or 'base (empty)'}")
    return 0


def cmd_db_current(args) -> int:
    from .db import current_revision, head_revision, make_engine, safe_url
    from .repository import StoreRepository

    url = _url(args)
    try:
        engine = make_engine(url)
        rev = current_revision(engine)
        counts = StoreRepository(engine).counts() if rev == head_revision() else {}
    except Exception as err:  # noqa: BLE001
        raise _db_failure(err, url) from None
    print(f"database: {safe_url(url)}")
    print(f"revision: {rev or 'none (run `alliance-monitor db upgrade`)'} (head {head_revision()})")
    for table, n in counts.items():
        print(f"  {table:<18} {n}")
    return 0


def cmd_db_purge(args) -> int:
    from .retention import purge_text
    from .settings import StoreSettings

    days = args.older_than
    if days is None:
        days = StoreSettings.from_env().turns_retention_days
        if days is None:
            raise _cli_error("no retention set: give --older-than DAYS or ALLIANCE_TURNS_RETENTION_DAYS")
    engine = _engine(args)
    with engine.begin() as conn:
        res = purge_text(conn, days)
    print(f"older than {days:g} days: {res.line()}")
    return 0


def cmd_sink(args) -> int:
    from streams.broker import running_embedded

    from .db import StoreError, upgrade
    from .sink import Sink

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP") or running_embedded()
    if not bootstrap:
        raise _cli_error("no broker: set KAFKA_BOOTSTRAP or start `alliance-monitor broker`")
    url = _url(args)
    if args.upgrade or url.startswith("sqlite"):  # one local file, one writer: safe to migrate here
        try:
            upgrade(url)
        except StoreError as err:
            raise _cli_error(str(err)) from None
    engine = _engine(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sink = Sink(bootstrap, engine, group_id=args.group)
        print(f"sink: {', '.join(sink.topics.contracts())} → store (Ctrl-C to stop)", file=sys.stderr)
        stats = await sink.run(stop)
        print(f"sink stopped: {stats.consumed} records, {stats.commits} commits, "
              f"{stats.dead_lettered} dead-lettered, {stats.db_retries} DB retries", file=sys.stderr)

    asyncio.run(main())
    return 0


def cmd_report(args) -> int:
    from .report import build_report

    engine = _engine(args)
    try:
        res = build_report(engine, args.out, delta=args.delta, model=args.model)
    except LookupError as err:
        raise _cli_error(str(err).strip("'\"")) from None
    print(res.text)
    print(f"wrote {len(res.files)} files to {args.out}")
    return 0


def cmd_eval(args) -> int:
    import orjson

    from .eval import (LabelError, evaluate, format_result, read_labels, result_json, scorer_consistency,
                       self_consistency)
    from .repository import ModelKey, StoreRepository, pick_model

    try:
        labels = read_labels(args.labels)
    except LabelError as err:
        raise _cli_error(str(err)) from None
    engine = _engine(args)
    repo = StoreRepository(engine)
    identities = repo.model_identities()
    try:
        key = pick_model(identities, args.model)
    except LookupError as err:
        raise _cli_error(str(err).strip("'\"")) from None
    records = repo.predictions(key, phase=args.phase)
    res = evaluate(records, labels, args.phase)
    if res.matched == 0:
        raise _cli_error(f"none of the {len(labels)} labelled sessions has a {args.phase}-phase prediction "
                         f"by {key}")
    sampled = ModelKey(key.name, key.revision, key.prompt_version, "sampled")
    if any(k == sampled for k, _ in identities):
        sampled_records = repo.predictions(sampled)
        res.consistency = self_consistency(sampled_records)
        if not res.consistency:
            res.scorer_consistency = scorer_consistency(sampled_records)
    res.item_partials = validation_cli.item_partials(records, labels, args.phase)
    print(format_result(res, str(key)))
    gate_text, record = validation_cli.gate_section(repo, key, records, labels, args, str(args.labels))
    print(gate_text)
    if args.json:
        data = result_json(res, str(key))
        data["validation"] = orjson.loads(record.to_json()) if record is not None else None
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return 0
