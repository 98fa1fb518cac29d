"""Store fixtures: a fresh SQLite file, and a per-test PostgreSQL DATABASE.

Why a whole database per test on PostgreSQL: other suites share the server's
``test`` database, and Alembic owns the schema it migrates. ``CREATE DATABASE``
from the ``test`` connection gives every test an empty database of its own,
dropped (WITH (FORCE)) at the end, so nothing here touches anyone else's tables.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def pg_url(postgres_url) -> str:
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"alliance_store_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # noqa: BLE001
        admin.dispose()
        pytest.fail(f"cannot create a test database on {make_url(postgres_url).render_as_string()}: {err}")
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    """Each test using this runs on a fresh SQLite file and on a fresh PostgreSQL database."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def engine(db_url):
    """A migrated store engine (SQLite and PostgreSQL)."""
    from store.db import make_engine, upgrade

    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
