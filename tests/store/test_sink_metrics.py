"""The sink's /metrics through the real broker and a real SQLite store: the figures move with traffic,
and its consumer lag rises while records wait and falls once they are written."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from alliance_monitor.health import HealthServer
from alliance_monitor.status import parse_samples, total
from store.db import make_engine, upgrade
from store.settings import StoreSettings
from store.sink import Sink
from streams.group_lag import group_lag

from .factories import session_events
from .sinkkit import RunningSink, make_topics, wait_for

pytestmark = pytest.mark.integration


def produce_one_by_one(bootstrap: str, topic: str, records: list[tuple[str, object]]) -> None:
    """One record per batch: the embedded broker's end offsets are exact only then (docs/findings.md)."""
    from kafka import KafkaProducer

    from streams.codec import encode

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_in_flight_requests_per_connection=1)
    try:
        for key, value in records:
            p.send(topic, key=key.encode(), value=value if isinstance(value, bytes) else encode(value))
            p.flush()
    finally:
        p.close()


async def scrape(port: int) -> dict:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            return resp.read().decode()

    return parse_samples(await asyncio.to_thread(get))  # the client library's own parser


def sink_lag(samples: dict, group: str) -> float | None:
    return total(samples, "alliance_consumer_lag_records", part="sink", group=group)


async def test_sink_metrics_parse_and_move_when_records_flow(kafka_bootstrap, unique, sqlite_url):
    topics = make_topics(kafka_bootstrap, f".metrics{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    settings = StoreSettings(db_url=sqlite_url, turns_retention_days=None)
    health = HealthServer("sink", 0, host="127.0.0.1")
    try:
        before = await scrape(health.port)
        sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}", settings=settings)
        events = [(f"m{i}-{unique}", e) for i in range(3) for e in session_events(f"m{i}-{unique}")]
        events.append((f"bad-{unique}", b'{"session_id": "broken"'))
        await asyncio.to_thread(produce_one_by_one, kafka_bootstrap, topics.sessions, events)
        async with RunningSink(sink):
            await wait_for(lambda: sink.stats.consumed >= len(events) and sink.stats.dead_lettered == 1,
                           what="the sink to read every record")
            after = await scrape(health.port)
    finally:
        health.close()
        engine.dispose()
    read = total(after, "alliance_sink_records_total", topic=topics.sessions)
    assert read == len(events) and not total(before, "alliance_sink_records_total", topic=topics.sessions)
    rows = total(after, "alliance_sink_rows_written_total") - (total(before, "alliance_sink_rows_written_total") or 0)
    assert rows >= 3  # one row per session at least (starts and ends update the same row)
    writes = total(after, "alliance_sink_write_seconds_count") - (total(before, "alliance_sink_write_seconds_count") or 0)
    assert writes >= 1
    assert total(after, "alliance_dead_letters_total", part="sink", topic=topics.sessions, reason="contract") == 1
    # labels never carry the reason's text
    assert all(set(labels) == {"part", "topic", "reason"} for labels, _ in after["alliance_dead_letters_total"])
    assert sink_lag(after, f"store-{unique}") == 0


async def test_sink_lag_rises_while_records_wait_and_falls_after(kafka_bootstrap, unique, sqlite_url):
    """The in-process gauge (fetched vs end) and the broker's view (committed vs end) agree on the story."""
    topics = make_topics(kafka_bootstrap, f".lag{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    group = f"store-lag-{unique}"
    settings = StoreSettings(db_url=sqlite_url, turns_retention_days=None)
    first = [(f"a-{unique}", e) for e in session_events(f"a-{unique}")]
    await asyncio.to_thread(produce_one_by_one, kafka_bootstrap, topics.sessions, first)
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=group, settings=settings)
    async with RunningSink(sink):  # the group commits once: it exists on the broker from now on
        await wait_for(lambda: sink.stats.consumed >= len(first) and sink.stats.commits >= 1, what="first drain")
    assert sum(p.lag for p in group_lag(kafka_bootstrap, [group])[group]) == 0

    # the sink is down: records wait, and only the broker can tell
    waiting = [(f"b{i}-{unique}", e) for i in range(4) for e in session_events(f"b{i}-{unique}")]
    await asyncio.to_thread(produce_one_by_one, kafka_bootstrap, topics.sessions, waiting)
    lag = group_lag(kafka_bootstrap, [group])[group]
    assert sum(p.lag for p in lag if p.topic == topics.sessions) == len(waiting)

    # back up, reading two records at a time: its own gauge shows what is still waiting
    slow = Sink(kafka_bootstrap, engine, topics=topics, group_id=group, settings=settings, batch_max=2)
    health = HealthServer("sink", 0, host="127.0.0.1")
    try:
        await slow.start()
        seen = []
        while slow.stats.consumed < len(waiting):
            if await slow.step(timeout_ms=2000):
                seen.append(sink_lag(await scrape(health.port), group))
        await slow.stop()
    finally:
        health.close()
        engine.dispose()
    assert seen[0] is not None and seen[0] > 0, seen  # rose: records were waiting behind the first batch
    assert seen == sorted(seen, reverse=True), seen  # fell as batches were written
    assert seen[-1] == 0, seen
    assert sum(p.lag for p in group_lag(kafka_bootstrap, [group])[group]) == 0


async def test_the_sink_is_ready_only_once_the_group_gave_it_partitions(kafka_bootstrap, unique, sqlite_url):
    """Its health answered 200 ~5 s before it had joined its group (issue 22)."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    topics = make_topics(kafka_bootstrap, f".ready-{unique}")
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"ready-{unique}",
                settings=StoreSettings.from_env(sqlite_url))
    seen: list[set] = []
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop, on_ready=lambda: seen.append(set(sink._consumer.assignment()))))
    try:
        await wait_for(lambda: seen, timeout=60, what="the sink ready")
        assert len(seen) == 1 and seen[0], "ready before the group assigned partitions"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        engine.dispose()
