"""The store's subcommands: purge, downgrade/current, one-line errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from alliance_monitor.cli import main
from store.db import make_engine
from store.models import Turn
from store.settings import StoreSettings
from store.writes import write_events
from streams.contracts import ChatTurn

pytestmark = pytest.mark.integration


def test_db_purge_deletes_old_turns_only(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    now = datetime.now(timezone.utc)
    turns = [ChatTurn(session_id="s", turn_id=i, speaker="client", text="x", sent_at=now - timedelta(days=d),
                      counselor_id="c") for i, d in enumerate((40, 31, 5))]
    engine = make_engine(url)
    with engine.begin() as conn:
        write_events(conn, turns, store_turns=True)
    capsys.readouterr()
    assert main(["db", "purge", "--older-than", "30", "--db", url]) == 0
    assert "deleted 2 chat turns" in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Turn)).scalar_one() == 1
    assert main(["db", "downgrade", "base", "--db", url]) == 0
    assert main(["db", "current", "--db", url]) == 0
    assert "none (run `alliance-monitor db upgrade`)" in capsys.readouterr().out
    engine.dispose()


def test_bad_arguments_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["db", "purge", "--older-than", "soon"])
    assert exc.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    assert main(["db", "upgrade", "--db", "nosuchdialect://x/y"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuchdialect" in err


def test_sink_without_a_broker_is_one_line(monkeypatch, tmp_path, capsys):
    import streams.broker

    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setattr(streams.broker, "running_embedded", lambda: None)
    assert main(["sink", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "no broker" in capsys.readouterr().err


def test_retention_setting(monkeypatch):
    monkeypatch.setenv("ALLIANCE_TURNS_RETENTION_DAYS", "7")
    monkeypatch.setenv("ALLIANCE_STORE_TURNS", "1")
    s = StoreSettings.from_env("sqlite://")
    assert s.turns_retention_days == 7 and s.store_turns
    monkeypatch.setenv("ALLIANCE_TURNS_RETENTION_DAYS", "off")
    assert StoreSettings.from_env("sqlite://").turns_retention_days is None
    monkeypatch.setenv("ALLIANCE_TURNS_RETENTION_DAYS", "a week")
    with pytest.raises(ValueError, match="ALLIANCE_TURNS_RETENTION_DAYS"):
        StoreSettings.from_env("sqlite://")


def test_sink_command_stores_events_and_stops_cleanly_on_sigint(tmp_path):
    """The real `alliance-monitor sink` process, on a broker of its own (so it dead-letters nobody else's records)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from streams.broker import EmbeddedBroker, ensure_topics
    from tests.kafka_helpers import produce

    from .factories import score, session_events

    url = f"sqlite:///{tmp_path / 'sink.db'}"
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        produce(broker.bootstrap, "chat.sessions", [("cli-1", e) for e in session_events("cli-1")])
        produce(broker.bootstrap, "alliance.scores", [("cli-1", score("cli-1", "late", 3.0))])
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "ALLIANCE_DB_URL": url}
        proc = subprocess.Popen([sys.executable, "-m", "alliance_monitor.cli", "sink"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            engine = make_engine(url)
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline and stored < 1:
                time.sleep(0.5)
                try:
                    with engine.connect() as conn:
                        stored = conn.execute(text("SELECT count(*) FROM predictions")).scalar_one()
                except Exception:  # noqa: BLE001 - the sink has not created the schema yet
                    pass
            assert stored == 1, "the sink did not store the score within 60 s"
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        assert "sink stopped: 3 records" in err and "Traceback" not in err
        engine.dispose()


def test_db_wait_returns_at_head_and_times_out_in_one_line(tmp_path, capsys):
    """The init container that gates a rollout on the migrate job."""
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["db", "wait", "--timeout", "0", "--db", db]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is at revision none, this release needs" in err and "migrate job" in err
    assert main(["db", "upgrade", "--db", db]) == 0
    assert main(["db", "wait", "--timeout", "0", "--db", db]) == 0
