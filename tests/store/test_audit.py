"""The audit trail in the store: the sink writes it once, retention has its own setting, `audit` reads it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from sqlalchemy import func, select

from alliance_monitor.cli import main
from store import db
from store.audit import query_access
from store.db import make_engine, upgrade
from store.models import AccessEventRow, AccessEventSession
from store.retention import purge_audit
from store.settings import StoreSettings
from store.sink import Sink
from store.writes import write_events
from streams.contracts import AccessEvent
from tests.kafka_helpers import consume_all, produce

from .sinkkit import RunningSink, make_topics, wait_for

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc)


def view(event_id: str, action: str, viewer: str, sessions=(), *, ago_days: float = 0, shown: int = 0) -> AccessEvent:
    return AccessEvent(event_id=event_id, action=action, viewer=viewer, role="supervisor", scope="ward",
                       key_id="k1", token_id=f"jti-{viewer}", session_ids=list(sessions),
                       sessions_shown=shown or len(sessions), replica="gw-x", at=NOW - timedelta(days=ago_days))


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


async def test_the_sink_stores_each_view_once_and_dead_letters_a_bad_one(kafka_bootstrap, unique, db_url):
    topics = make_topics(kafka_bootstrap, f".aud{unique}")
    upgrade(db_url)
    engine = make_engine(db_url)
    views = [view(f"gw-x:1:{unique}:1", "board", "Dr A", shown=7),
             view(f"gw-x:1:{unique}:2", "timeline", "Dr A", ["s-1"]),
             view(f"gw-x:2:{unique}:3", "subscribe", "Dr B", ["s-1", "s-2"])]
    for _ in range(2):  # a producer retry or a replayed topic: same ids again
        produce(kafka_bootstrap, topics.access, [(v.viewer, v) for v in views])
    produce(kafka_bootstrap, topics.access, [("Dr C", b'{"event_id": "x", "action": "peek"}')])
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"aud-{unique}",
                settings=StoreSettings(db_url=db_url, turns_retention_days=None, audit_retention_days=None))
    async with RunningSink(sink):
        await wait_for(lambda: count(engine, AccessEventRow) == 3 and sink.stats.dead_lettered == 1,
                       what="three views stored and one dead letter")
        await asyncio.sleep(1.0)  # the repeats are consumed too, and add nothing
    assert count(engine, AccessEventRow) == 3 and count(engine, AccessEventSession) == 3
    assert sink.stats.written.written.get("access") == 3 and sink.stats.written.skipped.get("access") == 3
    (dl,) = await consume_all(kafka_bootstrap, topics.access + ".dlq", expect=1)
    assert "AccessEvent.action" in orjson.loads(dl.value)["reason"]

    rows = query_access(engine, session="s-1")
    assert [(r.action, r.viewer, r.session_ids) for r in rows] == [("timeline", "Dr A", ("s-1",)),
                                                                   ("subscribe", "Dr B", ("s-1", "s-2"))]
    assert rows[0].viewed_at == views[1].at and rows[0].key_id == "k1" and rows[0].token_id == "jti-Dr A"
    engine.dispose()


def _seed(engine) -> None:
    with engine.begin() as conn:
        write_events(conn, [view("old", "timeline", "Dr Old", ["s-1"], ago_days=400),
                            view("mid", "subscribe", "Dr A", ["s-1", "s-9"], ago_days=10),
                            view("new", "timeline", "Dr A", ["s-2"], ago_days=1),
                            view("brd", "board", "Dr B", shown=40)])


def test_queries_filter_by_session_viewer_time_and_action(engine):
    _seed(engine)
    ids = lambda **kw: [v.event_id for v in query_access(engine, **kw)]  # noqa: E731
    assert ids() == ["old", "mid", "new", "brd"]  # oldest first
    assert ids(session="s-1") == ["old", "mid"] and ids(session="nobody") == []
    assert ids(viewer="Dr A") == ["mid", "new"]
    assert ids(since=NOW - timedelta(days=30)) == ["mid", "new", "brd"]
    assert ids(viewer="Dr A", since=NOW - timedelta(days=5)) == ["new"]
    assert ids(action="board") == ["brd"] and ids(limit=2) == ["new", "brd"]  # the newest two


def test_purge_follows_the_audit_retention_and_leaves_text_retention_alone(engine, monkeypatch, capsys):
    _seed(engine)
    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("ALLIANCE_AUDIT_RETENTION_DAYS", "365")
    assert main(["db", "purge", "--db", url]) == 0
    assert "audit records older than 365 days: deleted 1" in capsys.readouterr().out
    assert [v.event_id for v in query_access(engine)] == ["mid", "new", "brd"]
    assert count(engine, AccessEventSession) == 3  # the old view's session rows went with it
    assert main(["db", "purge", "--audit-older-than", "5", "--db", url]) == 0
    assert [v.event_id for v in query_access(engine)] == ["new", "brd"]
    monkeypatch.setenv("ALLIANCE_AUDIT_RETENTION_DAYS", "off")
    monkeypatch.setenv("ALLIANCE_TURNS_RETENTION_DAYS", "off")
    assert main(["db", "purge", "--older-than", "0", "--db", url]) == 0  # text: everything; audit: kept
    assert "audit records: kept" in capsys.readouterr().out and count(engine, AccessEventRow) == 2


async def test_the_sink_purges_audit_rows_on_its_own_schedule(sqlite_url):
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    _seed(engine)
    settings = StoreSettings(db_url=sqlite_url, turns_retention_days=None, audit_retention_days=30)
    sink = Sink("127.0.0.1:1", engine, settings=settings, purge_every_s=3600)
    await sink._maybe_purge()
    assert sink.stats.purged_access == 1 and count(engine, AccessEventRow) == 3
    with engine.begin() as conn:
        assert purge_audit(conn, 30) == 0  # nothing left past the retention
    engine.dispose()


def test_audit_settings_are_read_and_checked(monkeypatch):
    monkeypatch.setenv("ALLIANCE_AUDIT_RETENTION_DAYS", "730")
    assert StoreSettings.from_env("sqlite://").audit_retention_days == 730
    monkeypatch.delenv("ALLIANCE_AUDIT_RETENTION_DAYS")
    assert StoreSettings.from_env("sqlite://").audit_retention_days == 365
    monkeypatch.setenv("ALLIANCE_AUDIT_RETENTION_DAYS", "a year")
    with pytest.raises(ValueError, match="ALLIANCE_AUDIT_RETENTION_DAYS"):
        StoreSettings.from_env("sqlite://")


def test_audit_command_prints_a_table_or_json_lines(engine, capsys):
    _seed(engine)
    url = engine.url.render_as_string(hide_password=False)
    assert main(["audit", "--session", "s-1", "--db", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Dr Old" in out[1] and "timeline" in out[1] and "s-1" in out[1]
    assert "Dr A" in out[2] and "s-1 s-9" in out[2] and out[-1] == "2 view(s)"
    assert main(["audit", "--viewer", "Dr B", "--json", "--db", url]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert orjson.loads(line)["action"] == "board" and orjson.loads(line)["sessions_shown"] == 40
    assert main(["audit", "--since", "2d", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "Dr Old" not in out and "(40 sessions in scope)" in out and out.strip().endswith("2 view(s)")
    assert main(["audit", "--viewer", "nobody", "--db", url]) == 0
    assert "no views recorded" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [(["--since", "last week"], "--since must be a date"),
                                         (["--limit", "0"], "--limit"), (["--action", "peek"], "--action")])
def test_audit_bad_arguments_are_one_line_and_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and needle in err


def test_audit_on_a_store_without_the_schema_is_one_line(tmp_path, capsys):
    assert main(["audit", "--db", f"sqlite:///{tmp_path / 'empty.db'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "db upgrade" in err


def test_migration_0005_adds_the_tables_and_downgrades(db_url):
    db.upgrade(db_url, "0004_rupture_episodes")
    engine = db.make_engine(db_url)
    try:
        assert "access_events" not in db.table_names(engine)
        db.upgrade(db_url, "0005_access_events")
        assert {"access_events", "access_event_sessions"} <= db.table_names(engine)
        db.downgrade(db_url, "0004_rupture_episodes")
        assert db.current_revision(engine) == "0004_rupture_episodes"
        assert not {"access_events", "access_event_sessions"} & db.table_names(engine)
        assert "rupture_episodes" in db.table_names(engine)
    finally:
        engine.dispose()
