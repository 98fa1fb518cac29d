"""``alliance-monitor dlq redrive TOPIC [--reason TEXT] [--dry-run]``: dead letters back to their topic.

Thin: parses, finds the broker, calls :func:`streams.dlq.redrive`, prints counts.
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio

from streams import environment

from ..errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dlq", help="dead-letter topics: re-drive records back to their source topic")
    dsub = p.add_subparsers(dest="dlq_command", metavar="ACTION", parser_class=type(p))
    r = dsub.add_parser("redrive", aliases=["replay"],
                        help="re-send the records of TOPIC.dlq to TOPIC (after fixing the cause); alias: replay")
    r.add_argument("topic", metavar="TOPIC", help="the source topic, e.g. chat.turns (its .dlq is read)")
    r.add_argument("--reason", metavar="TEXT", help="only letters whose reason contains TEXT")
    r.add_argument("--dry-run", action="store_true", help="count and list reasons; send nothing")
    r.set_defaults(func=cmd_redrive)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_redrive(args) -> int:
    from streams.broker import running_embedded
    from streams.dlq import redrive
    from streams.topics import BY_NAME

    topic = args.topic[: -len(".dlq")] if args.topic.endswith(".dlq") else args.topic
    if topic not in BY_NAME:
        raise CliError(f"unknown topic {args.topic!r}; known: {', '.join(BY_NAME)}")
    bootstrap = environment.get("KAFKA_BOOTSTRAP") or running_embedded()
    if not bootstrap:
        raise CliError("no broker: set KAFKA_BOOTSTRAP or start `alliance-monitor broker`")
    # a DlqError is a StreamsError: one line, exit 2
    res = asyncio.run(redrive(bootstrap, topic, reason_contains=args.reason, dry_run=args.dry_run))
    print("\n".join(res.lines(args.dry_run)))
    return 0
