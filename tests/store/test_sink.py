"""The sink through the real broker: idempotence, dead letters, and no loss while the DB is down."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import create_engine, func, select, text

from store.db import make_engine, upgrade
from store.models import Alert, AlertAck, ChatSession, CounselorFeedbackRow, Prediction, PredictionItem
from store.settings import StoreSettings
from store.sink import Sink
from tests.kafka_helpers import consume_all, produce

from .factories import ack, alert, feedback, score, session_events
from .sinkkit import RunningSink, make_topics, wait_for
from .test_writes import snapshot

pytestmark = pytest.mark.integration


def events_for(sid: str) -> dict[str, list]:
    a = alert(sid)
    return {
        "sessions": session_events(sid),
        "scores": [score(sid, "early", 4.0), score(sid, "middle", 3.5), score(sid, "late", 3.0)],
        "alerts": [a],
        "acks": [ack(a)],
        "feedback": [feedback(sid, 4), feedback(sid, 6, phase="late", minutes=40)],
    }


def publish(bootstrap: str, topics, sids: list[str]) -> int:
    n = 0
    for sid in sids:
        for kind, evs in events_for(sid).items():
            produce(bootstrap, getattr(topics, kind), [(sid, e) for e in evs])
            n += len(evs)
    return n


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def full(engine, n_sessions: int) -> bool:
    return (count(engine, ChatSession) == n_sessions and count(engine, Prediction) == 3 * n_sessions
            and count(engine, PredictionItem) == 36 * n_sessions and count(engine, Alert) == n_sessions
            and count(engine, AlertAck) == n_sessions and count(engine, CounselorFeedbackRow) == 2 * n_sessions)


async def test_same_events_twice_through_the_broker_give_the_same_rows(kafka_bootstrap, unique, sqlite_url):
    topics = make_topics(kafka_bootstrap, f".sink{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sids = [f"s1-{unique}", f"s2-{unique}"]
    n = publish(kafka_bootstrap, topics, sids)
    produce(kafka_bootstrap, topics.scores, [(sids[0], b'{"session_id": "broken"')])  # malformed
    # the events are dated months ago: without this the retention purge would (rightly) blank their quotes
    no_retention = StoreSettings(db_url=sqlite_url, turns_retention_days=None)
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}", settings=no_retention)
    async with RunningSink(sink):
        await wait_for(lambda: full(engine, 2), what="first delivery to be stored")
        first = snapshot(engine)
        publish(kafka_bootstrap, topics, sids)  # the very same events, produced again
        await wait_for(lambda: sink.stats.consumed >= 2 * n + 1 and sink.stats.commits >= 1,
                       what="the duplicates to be consumed")
        await asyncio.sleep(0.5)
    second = snapshot(engine)
    assert second["sink_streams"] != first["sink_streams"]  # the sink really read further...
    second["sink_streams"] = first["sink_streams"]
    assert second == first  # ...and every other row is exactly the same
    assert sink.stats.dead_lettered == 1
    dlq = await consume_all(kafka_bootstrap, topics.scores + ".dlq", expect=1, timeout=30)
    dead = orjson.loads(dlq[0].value)
    assert dead["source_topic"] == topics.scores and "not valid JSON" in dead["reason"]
    assert dead["raw"] == '{"session_id": "broken"'
    engine.dispose()


async def test_no_loss_while_the_database_is_down(kafka_bootstrap, unique, pg_url, postgres_url):
    """A real outage: the sink's PostgreSQL database refuses connections, then comes back.

    While it is down the sink retries and commits nothing; it is even crashed and
    replaced by a new instance. Once the database is back, every event is stored.
    """
    topics = make_topics(kafka_bootstrap, f".out{unique}")
    upgrade(pg_url)
    engine = make_engine(pg_url)
    dbname = engine.url.database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def db_down() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})

    def db_up() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true'))

    group = f"store-{unique}"
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=group, retry_initial_s=0.1, retry_max_s=0.5)
    running = RunningSink(sink)
    try:
        async with running:
            n_first = publish(kafka_bootstrap, topics, [f"a-{unique}"])
            await wait_for(lambda: full(engine, 1) and sink.stats.consumed >= n_first
                           and sink.stats.commits == sink.stats.batches, what="the first session stored and committed")
            commits_before = sink.stats.commits
            await asyncio.to_thread(db_down)
            publish(kafka_bootstrap, topics, [f"b-{unique}", f"c-{unique}"])
            await wait_for(lambda: sink.stats.db_retries >= 3, what="the sink to notice the outage")
            assert sink.stats.commits == commits_before  # nothing committed while the DB is down
            await running.crash()  # and the sink dies mid-outage
        await asyncio.to_thread(db_up)
        replacement = Sink(kafka_bootstrap, make_engine(pg_url), topics=topics, group_id=group)
        async with RunningSink(replacement):
            await wait_for(lambda: full(engine, 3), timeout=90, what="all events after the outage")
        assert replacement.stats.consumed >= 14  # it re-read the 2 × 7 events the crashed sink never committed
    finally:
        await asyncio.to_thread(db_up)
        engine.dispose()
        admin.dispose()


async def test_a_record_the_database_refuses_is_dead_lettered_and_the_rest_stored(pg_url):
    """Not an outage: PostgreSQL rejects one value (a 200-character model revision does not fit
    VARCHAR(128)). The batch is retried record by record; only that record goes to the DLQ."""
    from store.sink import Decoded
    from store.writes import Origin
    from streams.contracts import ModelIdentity

    upgrade(pg_url)
    engine = make_engine(pg_url)
    good = score("ok-1", "late", 3.0)
    bad = score("bad-1", "late", 3.0).model_copy(update={"model": ModelIdentity(name="m", revision="r" * 200)})
    sink = Sink("127.0.0.1:1", engine)  # never started: only the write path runs here
    sent = []

    async def collect(origin, reason, key, value):
        sent.append((origin, reason, value))

    sink._dead_letter = collect  # type: ignore[method-assign]  # the spy: collects the dead letters
    decoded = Decoded(events=[good, bad], origins=[Origin("alliance.scores", 0, 7), Origin("alliance.scores", 0, 8)])
    await sink._write_with_retry(decoded)
    for origin, reason, key, value, _ in decoded.rejected:
        await sink._dead_letter(origin, reason, key, value)
    assert [o.offset for o, _, _ in sent] == [8]
    assert "store refused the record" in sent[0][1] and b'"bad-1"' in sent[0][2]
    with engine.connect() as conn:
        assert conn.execute(select(Prediction.session_id)).scalars().all() == ["ok-1"]
    assert sink.stats.db_retries == 0
    engine.dispose()


async def test_the_sink_applies_turn_retention_periodically(sqlite_url):
    from datetime import datetime, timedelta, timezone

    from store.models import Turn
    from store.settings import StoreSettings
    from store.writes import write_events
    from streams.contracts import ChatTurn

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        write_events(conn, [ChatTurn(session_id="r", turn_id=i, speaker="client", text="x", counselor_id="c",
                                     sent_at=now - timedelta(days=d)) for i, d in enumerate((3, 0))],
                     store_turns=True)
    settings = StoreSettings(db_url=sqlite_url, store_turns=True, turns_retention_days=1)
    sink = Sink("127.0.0.1:1", engine, settings=settings, purge_every_s=3600)
    assert sink.topics.turns == "chat.turns"  # turns are read only when enabled
    await sink._maybe_purge()
    await sink._maybe_purge()  # not due again for an hour
    assert sink.stats.purged_turns == 1
    with engine.connect() as conn:
        assert conn.execute(select(Turn.turn_id)).scalars().all() == [1]
    assert Sink("127.0.0.1:1", engine, settings=StoreSettings(db_url=sqlite_url)).topics.turns is None
    engine.dispose()


@pytest.mark.parametrize("fault", ["read_only", "permission", "missing_column", "missing_table"])
async def test_a_read_only_or_forbidden_database_pauses_the_sink_and_loses_nothing(kafka_bootstrap, unique, pg_url,
                                                                                    postgres_url, fault):
    """Not a bad record: after a failover PostgreSQL answers "read-only transaction"; a revoked
    grant answers "permission denied"; a deploy that skipped a migration answers "column/relation
    does not exist" (SQLSTATE 42703 / 42P01). Every record would fail the same way, so
    dead-lettering them (and committing) would empty the stream into the DLQ. The sink must wait instead."""
    from sqlalchemy.engine import make_url

    topics = make_topics(kafka_bootstrap, f".{fault[:4]}{unique}")
    upgrade(pg_url)
    dbname = make_url(pg_url).database
    role = f"sink_{unique}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    owner = create_engine(pg_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with owner.connect() as conn:  # an unprivileged role for the sink (a superuser ignores grants)
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    sink_url = make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    engine = make_engine(sink_url)

    def break_db() -> None:
        if fault == "read_only":
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})
        elif fault == "permission":
            with owner.connect() as conn:
                conn.execute(text(f'REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA public FROM "{role}"'))
        elif fault == "missing_column":  # the schema of the release before the column came
            with owner.connect() as conn:
                conn.execute(text("ALTER TABLE sessions DROP COLUMN planned_minutes"))
        else:
            with owner.connect() as conn:
                conn.execute(text("ALTER TABLE alert_acks RENAME TO alert_acks_not_yet"))

    def repair_db() -> None:
        if fault == "read_only":
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = off'))
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})
        elif fault == "permission":
            with owner.connect() as conn:
                conn.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        elif fault == "missing_column":  # the migration is run
            with owner.connect() as conn:
                conn.execute(text("ALTER TABLE sessions ADD COLUMN IF NOT EXISTS planned_minutes double precision"))
        else:
            with owner.connect() as conn:
                if conn.execute(text("SELECT to_regclass('alert_acks_not_yet')")).scalar() is not None:
                    conn.execute(text("ALTER TABLE alert_acks_not_yet RENAME TO alert_acks"))

    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}", retry_initial_s=0.1,
                retry_max_s=0.5)
    try:
        async with RunningSink(sink):
            n_first = publish(kafka_bootstrap, topics, [f"a-{unique}"])
            # every record of the first session read and every batch that carried them committed, so no commit of
            # that delivery lands after commits_before is read (a fixed one-second sleep did not hold under load)
            await wait_for(lambda: full(engine, 1) and sink.stats.consumed >= n_first
                           and sink.stats.commits == sink.stats.batches, what="the first session stored and committed")
            commits_before = sink.stats.commits
            await asyncio.to_thread(break_db)
            publish(kafka_bootstrap, topics, [f"b-{unique}"])
            await wait_for(lambda: sink.stats.db_retries >= 3, what="the sink to retry the refused writes")
            assert sink.stats.dead_lettered == 0 and sink.stats.commits == commits_before
            await asyncio.to_thread(repair_db)
            await wait_for(lambda: full(engine, 2), timeout=60, what="everything after the repair")
        assert sink.stats.dead_lettered == 0
    finally:
        await asyncio.to_thread(repair_db)
        engine.dispose()
        with owner.connect() as conn:
            conn.execute(text(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER'))
            conn.execute(text(f'DROP OWNED BY "{role}"'))
        owner.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


async def test_the_sink_reads_each_session_records_source_and_keeps_its_owner(kafka_bootstrap, unique, sqlite_url):
    """Through the real broker: a forged ``started`` (dated before the real one) and ``ended`` stamped by another
    source change no row; with ``trusted_sources`` an untrusted source claims nothing either."""
    from datetime import timedelta

    from kafka import KafkaProducer

    from streams.codec import encode
    from streams.topics import SOURCE_HEADER

    topics = make_topics(kafka_bootstrap, f".own{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    owned, strict = f"own-{unique}", f"strict-{unique}"
    real = session_events(owned)[0]
    forged = [real.model_copy(update={"at": real.at - timedelta(minutes=30), "counselor_id": "c-evil",
                                      "group": "g-evil"}),
              real.model_copy(update={"kind": "ended", "counselor_id": "c-evil", "group": "g-evil"})]
    records = [(owned, real, b"platform-a"), *((owned, f, b"platform-b") for f in forged),
               (strict, session_events(strict, counselor="c-evil")[0], b"platform-c")]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_in_flight_requests_per_connection=1)
    try:
        for key, ev, source in records:
            producer.send(topics.sessions, key=key.encode(), value=encode(ev), headers=[(SOURCE_HEADER, source)])
        producer.flush()
    finally:
        producer.close()
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}",
                trusted_sources=frozenset({"platform-a", "platform-b"}))
    try:
        async with RunningSink(sink):
            await wait_for(lambda: sink.stats.consumed >= 4 and sink.stats.commits >= 1, what="the four records")
        with engine.connect() as conn:
            rows = conn.execute(select(ChatSession.session_id, ChatSession.counselor_id, ChatSession.group_id,
                                       ChatSession.ended_at, ChatSession.owner_source)).all()
        assert [tuple(r) for r in rows] == [(owned, "c-1", "g-1", None, "platform-a")]
        assert sink.stats.written.skipped == {"session": 3} and sink.stats.dead_lettered == 0
    finally:
        engine.dispose()


async def test_the_sinks_health_waits_for_its_group_and_says_when_its_store_is_down(kafka_bootstrap, unique, pg_url,
                                                                                   postgres_url):
    """Issue 21: the sink's /healthz said ok ~5 s before it had joined its group, and through a store outage.
    Real broker, real PostgreSQL (a scratch database that stops taking connections), the real probe."""
    from alliance_monitor.health import HealthServer
    from tests.alliance_monitor.test_health import _health, _until

    topics = make_topics(kafka_bootstrap, f".health{unique}")
    upgrade(pg_url)
    engine = make_engine(pg_url)
    dbname = engine.url.database
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")

    def allow(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {"true" if on else "false"}'))
            if not on:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": dbname})

    group = f"store-{unique}"
    health = HealthServer("sink", 0, host="127.0.0.1")
    health.watch_store(engine, every_s=0.3, stale_s=2)
    seen: list[tuple[int, int]] = []  # (status, partitions held) at each probe while joining
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=group,
                on_group=health.watch_group(group).update)
    health.set_ready()  # as `alliance-monitor sink` does, before the consumer starts
    try:
        status, body = await asyncio.to_thread(_health, health.port)
        assert (status, body["status"]) == (503, f"consumer group {group}: not joined yet")
        async with RunningSink(sink):
            while True:
                status, body = await asyncio.to_thread(_health, health.port)
                held = len(sink._consumer.assignment()) if sink._consumer is not None else 0
                seen.append((status, held))
                if status == 200:
                    break
                assert "not joined yet" in body["status"], body
                assert len(seen) < 300, f"never healthy: {body}"
                await asyncio.sleep(0.1)
            assert held > 0, "healthy before the member held any partition"
            await asyncio.to_thread(allow, False)  # the store goes away
            body = await asyncio.to_thread(_until, health.port, 503, 15)
            assert body["status"].startswith("store: no answer for"), body
            await asyncio.to_thread(allow, True)
            await asyncio.to_thread(_until, health.port, 200, 15)
    finally:
        health.close()
        await asyncio.to_thread(allow, True)
        engine.dispose()
        admin.dispose()
