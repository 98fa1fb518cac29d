"""Alembic environment: the URL comes from the caller or the store settings.

``store.db`` passes the URL in ``config.attributes["db_url"]``; plain
``alembic -c migrations/alembic.ini`` falls back to ``ALLIANCE_DB_URL`` / the
default SQLite file. Batch mode is on so ALTERs work on SQLite too.
"""

from __future__ import annotations

__layer__ = "shell"

from logging.config import fileConfig

from alembic import context

from store.db import make_engine
from store.models import Base
from store.settings import StoreSettings

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("db_url") or StoreSettings.from_env().db_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
