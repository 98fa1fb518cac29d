"""``sink``: write the pipeline's topics into the store until Ctrl-C."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import asyncio
import sys

from streams import environment

from ..errors import CliError
from ..health import add_health_argument, start_health
from ..stopping import stop_on_signals
from .common import add_db_argument, add_trusted_source_argument, store_engine, store_url


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sink", help="write chat.sessions, alliance.scores/alerts/acks and chat.ratings into the store")
    p.add_argument("--group", default="alliance-store", help="consumer group id (default alliance-store)")
    p.add_argument("--upgrade", action="store_true",
                   help="run the migrations first (automatic for a SQLite store; a deploy step for PostgreSQL)")
    p.add_argument("--no-redact", action="store_true",
                   help="store texts as they arrive; by default names, phone numbers, e-mails, addresses and ID "
                        "numbers in turns, quotes, rationales, notes and the journal become [NAME], [PHONE], ...")
    add_db_argument(p)
    add_trusted_source_argument(p)
    add_health_argument(p)
    p.set_defaults(func=cmd_sink)


def cmd_sink(args) -> int:
    from dataclasses import replace

    from store.db import upgrade
    from store.settings import StoreSettings
    from store.sink import Sink
    from streams.broker import running_embedded

    bootstrap = environment.get("KAFKA_BOOTSTRAP") or running_embedded()
    if not bootstrap:
        raise CliError("no broker: set KAFKA_BOOTSTRAP or start `alliance-monitor broker`")
    url = store_url(args)
    if args.upgrade or url.startswith("sqlite"):  # one local file, one writer: safe to migrate here
        upgrade(url)
    engine = store_engine(args)

    async def main() -> None:
        stop = stop_on_signals(health)
        settings = replace(StoreSettings.from_env(url), redact=not args.no_redact)
        sink = Sink(bootstrap, engine, group_id=args.group, settings=settings,
                    trusted_sources=frozenset(args.trusted_source),
                    on_group=health.watch_group(args.group).update if health else None)
        print(f"sink: {', '.join(sink.topics.contracts())} → store (Ctrl-C to stop)", file=sys.stderr, flush=True)
        stats = await sink.run(stop, on_ready=health.set_ready if health else None)  # ready once in the group
        redacted = ", ".join(f"{k} {v}" for k, v in sorted(stats.redacted.items())) or "none"
        print(f"sink stopped: {stats.consumed} records, {stats.commits} commits, "
              f"{stats.dead_lettered} dead-lettered, {stats.db_retries} DB retries, redacted: {redacted}",
              file=sys.stderr)

    health = start_health("sink", args.health_port)
    if health:
        health.watch_kafka(bootstrap)
        health.watch_store(engine)
    try:
        asyncio.run(main())
    finally:
        if health:
            health.close()
    return 0
