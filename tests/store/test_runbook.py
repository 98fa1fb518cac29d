"""The runbook's backup and restore block, run as written against the local PostgreSQL.

The block is read from docs/runbook.md (so the doc cannot drift from what runs) and given the URL
form operators have: ``postgresql+psycopg2://`` (pg_dump refuses it; the block strips the driver).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("pg_dump") is None, reason="no pg_dump on this machine")]


def backup_block() -> str:
    text = (ROOT / "docs" / "runbook.md").read_text()
    section = text.split("## Backup and restore", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def two_databases(postgres_url):
    import sqlalchemy as sa

    names = [f"rb_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    base = postgres_url.rsplit("/", 1)[0]
    yield [f"{base}/{name}" for name in names]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_backup_and_restore_as_the_runbook_says(two_databases, tmp_path):
    import sqlalchemy as sa

    source, target = two_databases
    assert source.startswith("postgresql+psycopg2://")
    cli = [sys.executable, "-m", "alliance_monitor.cli"]
    env = {**os.environ, "ALLIANCE_DB_URL": source, "NEW_DB_URL": target}
    assert subprocess.run([*cli, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    engine = sa.create_engine(source)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE restore_marker (x int)"))
        conn.execute(sa.text("INSERT INTO restore_marker VALUES (42)"))
    engine.dispose()
    bin_dir = tmp_path / "bin"  # `alliance-monitor` as the runbook calls it: this checkout's CLI
    bin_dir.mkdir()
    (bin_dir / "alliance-monitor").write_text(f'#!/bin/sh\nexec {sys.executable} -m alliance_monitor.cli "$@"\n')
    (bin_dir / "alliance-monitor").chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", backup_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("alliance-*.dump"))
    engine = sa.create_engine(target)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM restore_marker")).scalar() == 42
    engine.dispose()
    current = subprocess.run([*cli, "db", "current"], env={**env, "ALLIANCE_DB_URL": target}, capture_output=True,
                             text=True, timeout=120)
    assert current.returncode == 0 and "revision: none" not in current.stdout, current
