"""Helpers several command modules share: the ``--db`` option, the store engine, the broker announcement."""

from __future__ import annotations

import argparse
import sys

from ..errors import CliError


def announce(message: str) -> None:
    """Where the embedded broker's start-up line goes: stderr, so stdout stays the command's output."""
    print(message, file=sys.stderr)


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
