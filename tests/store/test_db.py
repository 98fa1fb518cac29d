"""Migrations on a fresh SQLite file and a fresh PostgreSQL database; CLI from any cwd."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from store import db
from store.models import ALL_TABLES, Base

pytestmark = pytest.mark.integration


def test_upgrade_creates_every_table_and_matches_the_models(db_url):
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    try:
        assert db.table_names(engine) == set(ALL_TABLES) | {"alembic_version"}
        assert db.current_revision(engine) == db.head_revision()
        db.require_schema(engine)
        with engine.connect() as conn:  # the hand-written migration and the models agree
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_round_trip(db_url):
    db.upgrade(db_url)
    db.downgrade(db_url, "base")
    engine = db.make_engine(db_url)
    try:
        assert db.table_names(engine) <= {"alembic_version"}
        assert db.current_revision(engine) is None
        with pytest.raises(db.StoreError, match="db upgrade"):
            db.require_schema(engine)
        db.upgrade(db_url)
        assert db.table_names(engine) == set(ALL_TABLES) | {"alembic_version"}
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_migrations_dir_is_found_from_the_package():
    path = db.migrations_dir()
    assert (path / "env.py").is_file() and any((path / "versions").glob("0001_*.py"))


def test_cli_db_upgrade_from_another_directory(tmp_path):
    """`alliance-monitor db upgrade` finds its migrations wherever it is run from."""
    url = f"sqlite:///{tmp_path / 'nested' / 'x.db'}"
    env = {**os.environ, "ALLIANCE_DB_URL": url}
    cli = [sys.executable, "-m", "alliance_monitor.cli"]
    up = subprocess.run([*cli, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert f"at revision {db.head_revision()}" in up.stdout
    cur = subprocess.run([*cli, "db", "current"], cwd="/", env=env, capture_output=True, text=True, timeout=120)
    assert cur.returncode == 0 and f"revision: {db.head_revision()}" in cur.stdout and "predictions" in cur.stdout


def test_default_db_is_a_sqlite_file_in_the_user_data_dir(monkeypatch, tmp_path):
    from store.settings import StoreSettings

    monkeypatch.delenv("ALLIANCE_DB_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert StoreSettings.from_env().db_url == f"sqlite:///{tmp_path}/alliance-monitor/alliance.db"
    monkeypatch.setenv("ALLIANCE_DB_URL", "postgresql+psycopg2://u@h/db")
    assert StoreSettings.from_env().db_url == "postgresql+psycopg2://u@h/db"


def test_report_on_an_unmigrated_store_is_one_line(tmp_path, capsys):
    from alliance_monitor.cli import main

    rc = main(["report", "--out", str(tmp_path / "r"), "--db", f"sqlite:///{tmp_path / 'empty.db'}"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "db upgrade" in err
