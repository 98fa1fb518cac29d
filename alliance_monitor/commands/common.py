"""Helpers several command modules share: the ``--db`` option, the store engine, the broker announcement."""

from __future__ import annotations

__layer__ = "cli"

import argparse
import sys

from ..errors import CliError


def announce(message: str) -> None:
    """Where the embedded broker's start-up line goes: stderr, so stdout stays the command's output."""
    print(message, file=sys.stderr)


TRUSTED_SOURCE_HELP = ("a source (the platform name ingest stamps in the alliance-source header) whose chat.sessions "
                       "records may claim a session; repeatable; default: every source. Either way only the "
                       "session's owner changes it afterwards (docs/streams.md#session-ownership)")


def add_trusted_source_argument(p: argparse.ArgumentParser) -> None:
    """``--trusted-source NAME``, the same on every part that reads session records (one variable for all)."""
    p.add_argument("--trusted-source", action="append", default=[], metavar="NAME", help=TRUSTED_SOURCE_HELP)


def add_embedded_broker_argument(p: argparse.ArgumentParser) -> None:
    """``--embedded-broker``: without KAFKA_BOOTSTRAP, a part fails (one line) instead of quietly starting
    a private broker that nobody else talks to; development asks for one with this flag."""
    p.add_argument("--embedded-broker", action="store_true",
                   help="without KAFKA_BOOTSTRAP: use the running embedded broker or start one (development only)")


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", help="database URL (default: ALLIANCE_DB_URL, else the SQLite file "
                                               "in ~/.local/share/alliance-monitor)")


def store_url(args: argparse.Namespace) -> str:
    """The store URL from ``--db``, ``ALLIANCE_DB_URL`` or the default SQLite file."""
    from store.settings import StoreSettings

    try:
        return StoreSettings.from_env(getattr(args, "db", None)).db_url
    except ValueError as err:
        raise CliError(str(err)) from None


def store_engine(args: argparse.Namespace, *, require: bool = True):
    """An engine on the store; with ``require``, a store without the schema is a one-line error."""
    from store.db import make_engine, require_schema

    engine = make_engine(store_url(args))
    if require:
        require_schema(engine)
    return engine


def db_failure(err: Exception, url: str) -> CliError:
    """Any database failure (unreachable server, unknown revision...) as one line naming the database."""
    from store.db import safe_url

    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return CliError(f"database {safe_url(url)}: {first[:300]}")


def lookup_message(err: LookupError) -> str:
    """A LookupError's message without the quotes KeyError adds."""
    return str(err).strip("'\"")


def run_kafka_part(part: str, health_port: int | None, main, *, embedded: bool = False) -> None:
    """Run a long-running Kafka part: its /healthz (when a port is set), the broker (embedded
    when none is configured), the topic catalog, then ``main(bootstrap, health)`` to the end."""
    import asyncio

    from streams.broker import ensure_topics, kafka_bootstrap

    from ..health import start_health

    health = start_health(part, health_port)
    try:
        with kafka_bootstrap(announce=announce, embedded=embedded) as bootstrap:
            ensure_topics(bootstrap)
            if health:
                health.watch_kafka(bootstrap)
            asyncio.run(main(bootstrap, health))
    finally:
        if health:
            health.close()
