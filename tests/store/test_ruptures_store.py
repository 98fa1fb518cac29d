"""Rupture episodes in the store: idempotent upsert by version (SQLite + PostgreSQL), the sink, the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import make_engine, upgrade
from store.models import Event, RuptureEpisodeRow
from store.rupture_report import write_rupture_report
from store.rupture_stats import summarise
from store.sink import Sink
from store.writes import write_events
from streams.rupture_replay import final_episodes, replay_ruptures
from tests.kafka_helpers import produce

from .factories import session_events
from .sinkkit import RunningSink, make_topics, wait_for

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample_records(name: str) -> list:
    return replay_ruptures(SAMPLES / name)


@pytest.mark.integration
def test_newest_version_wins_in_any_order_and_twice(engine):
    records = sample_records("s04_confrontation_repaired_en.jsonl")  # v1 open, v2 repair_attempted, v3 repaired
    assert [r.version for r in records] == [1, 2, 3]
    with engine.begin() as conn:
        res = write_events(conn, [records[2], records[0], records[1]])
    assert res.written == {"rupture": 1} and res.skipped == {"rupture": 2}
    with engine.begin() as conn:
        write_events(conn, records)  # a replay changes nothing
    with Session(engine) as s:
        (row,) = s.scalars(select(RuptureEpisodeRow)).all()
        assert (row.version, row.kind, row.status, row.closed) == (3, "confrontation", "repaired", True)
        assert [m["turn_id"] for m in row.markers] == [17, 18] and row.reengaged_turn_id == 20
        assert row.opened_at.tzinfo is not None and row.sources == ["markers"]
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "rupture")) == 3


@pytest.mark.integration
def test_migration_0004_adds_the_table_and_downgrades(db_url):
    from store import db

    db.upgrade(db_url, "0003")
    engine = db.make_engine(db_url)
    try:
        assert "rupture_episodes" not in db.table_names(engine)
        db.upgrade(db_url, "0004_rupture_episodes")
        assert db.current_revision(engine) == "0004_rupture_episodes" and "rupture_episodes" in db.table_names(engine)
        db.downgrade(db_url, "0003")
        assert db.current_revision(engine) == "0003"
        assert "rupture_episodes" not in db.table_names(engine) and "ratings" in db.table_names(engine)
    finally:
        engine.dispose()


def test_summaries_count_sessions_without_episodes_and_rate_only_closed_ones():
    eps = final_episodes(sample_records("s04_confrontation_repaired_en.jsonl")
                         + sample_records("s02_bond_rupture_middle_en.jsonl"))
    open_one = eps[0].model_copy(update={"episode_id": "x:rupture:9", "status": "open", "closed": False,
                                         "session_id": "x", "counselor_id": "c-ben"})
    sessions = {"sample-04-confrontation-repair-en": "c-maya", "sample-02-bond-rupture-en": "c-ben",
                "quiet": "c-maya"}
    per_session, per_counselor, total = summarise([*eps, open_one], sessions,
                                                  attempted=[e.episode_id for e in eps if e.repair_moves])
    assert (total.sessions, total.episodes, total.closed, total.repaired) == (4, 3, 2, 1)
    assert total.repair_rate == 0.5 and total.repair_attempted == 1
    by = {c.key: c for c in per_counselor}
    assert (by["c-maya"].sessions, by["c-maya"].episodes, by["c-maya"].repair_rate) == (2, 1, 1.0)
    assert (by["c-ben"].sessions, by["c-ben"].episodes, by["c-ben"].repair_rate) == (2, 2, 0.0)
    assert {s.key: s.episodes for s in per_session}["quiet"] == 0


@pytest.mark.integration
def test_the_report_section_from_the_store(engine, tmp_path):
    records = [r for n in ("s02_bond_rupture_middle_en.jsonl", "s04_confrontation_repaired_en.jsonl",
                           "s06_over_directing_zh.jsonl") for r in sample_records(n)]
    with engine.begin() as conn:
        write_events(conn, [*session_events("sample-04-confrontation-repair-en", counselor="c-maya"),
                            *session_events("steady", counselor="c-maya"), *records])
    files, text = write_rupture_report(engine, tmp_path)
    assert [f.name for f in files] == ["ruptures_sessions.csv", "ruptures_counselors.csv"]
    assert "3 episode(s) in 4 session(s)" in text and "repaired 1/3 (33%)" in text
    rows = (tmp_path / "ruptures_counselors.csv").read_text().splitlines()
    assert rows[0].startswith("counselor_id,sessions,episodes,per_session,withdrawal,confrontation,mixed")
    assert any(r.startswith("c-maya,2,1,0.50,0,1,0,0,1,1,1.0000") for r in rows), rows


@pytest.mark.integration
async def test_the_sink_stores_episodes_from_the_broker(kafka_bootstrap, unique, sqlite_url):
    topics = make_topics(kafka_bootstrap, f".rupt{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    records = sample_records("s05_client_goes_silent_zh.jsonl")
    sid = records[0].session_id
    produce(kafka_bootstrap, topics.ruptures, [(sid, r) for r in records] + [(sid, b'{"episode_id": 1}')])

    def stored() -> bool:
        with Session(engine) as s:
            row = s.get(RuptureEpisodeRow, records[-1].episode_id)
            return row is not None and row.version == records[-1].version

    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}")
    async with RunningSink(sink):
        await wait_for(stored, what="the newest episode version in SQLite")
        await wait_for(lambda: sink.stats.dead_lettered == 1, what="the malformed episode dead-lettered")
    with Session(engine) as s:
        row = s.get(RuptureEpisodeRow, records[-1].episode_id)
        assert (row.kind, row.status, row.lang) == ("withdrawal", "unrepaired", "zh")
    engine.dispose()
