"""``alliance-monitor audit``: who viewed which session (the audit trail in the store).

The gateway records every view of sessions (board snapshot, resume, subscribe,
timeline drill-down) on ``alliance.access``; the sink stores it; this command is
how a supervisor or an auditor reads it. Prints names, ids and times only.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys

from ..argtypes import int_at_least, since
from .common import add_db_argument, db_failure, store_engine, store_url

ACTIONS = ("board", "resume", "subscribe", "timeline", "live", "coding")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="who viewed which session: the gateway's audit trail, from the store")
    p.add_argument("--session", metavar="ID", help="only views that named this session")
    p.add_argument("--viewer", metavar="NAME", help="only this viewer (the token's subject, as shown on acks)")
    p.add_argument("--since", type=since, metavar="WHEN",
                   help="only views at or after WHEN: 2026-12-01, 2026-12-01T08:00Z (no zone: UTC), or an age: 12h, 7d")
    p.add_argument("--action", choices=ACTIONS, help="only this kind of view")
    p.add_argument("--limit", type=int_at_least(1), default=1000, metavar="N",
                   help="newest N views (default 1000), printed oldest first")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    add_db_argument(p)
    p.set_defaults(func=cmd_audit)


def _sessions(view) -> str:
    if view.session_ids:
        return " ".join(view.session_ids)
    return f"({view.sessions_shown} sessions in scope)"


def cmd_audit(args) -> int:
    import orjson

    from store.audit import query_access

    engine = store_engine(args)
    try:
        views = query_access(engine, session=args.session, viewer=args.viewer, since=args.since,
                             action=args.action, limit=args.limit)
    except Exception as err:  # noqa: BLE001 - unreachable server, lost connection...
        raise db_failure(err, store_url(args)) from None
    finally:
        engine.dispose()
    if args.json:
        for v in views:
            sys.stdout.write(orjson.dumps(v.as_dict()).decode() + "\n")
        return 0
    if not views:
        print("no views recorded for these filters")
        return 0
    print(f"{'viewed at (UTC)':<20} {'viewer':<24} {'role':<10} {'action':<9} sessions")
    for v in views:
        who = v.viewer if len(v.viewer) <= 24 else v.viewer[:23] + "…"
        print(f"{v.viewed_at:%Y-%m-%d %H:%M:%S} {who:<24} {v.role:<10} {v.action:<9} {_sessions(v)}")
    print(f"{len(views)} view(s)" + (f" (the newest {args.limit}; use --limit for more)"
                                     if len(views) == args.limit else ""))
    return 0
