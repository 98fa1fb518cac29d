"""The sink tells its sensor what happened (store/sensor.py), through the real broker and a real SQLite
store: records in by topic, rows written, a repeat skipped, each transaction timed, the dead letter by
reason class, the lag read. tests/store/test_sink_metrics.py shows the same path into the Prometheus
registry (``/metrics``)."""

from __future__ import annotations

import asyncio

import pytest

from store.db import make_engine, upgrade
from store.sensor import RecordingSinkSensor
from store.settings import StoreSettings
from store.sink import Sink

from .factories import client_rating, session_events
from .sinkkit import RunningSink, make_topics, wait_for
from .test_sink_metrics import produce_one_by_one

pytestmark = pytest.mark.integration


async def test_the_sink_tells_its_sensor_what_it_read_wrote_skipped_and_dead_lettered(kafka_bootstrap, unique,
                                                                                         sqlite_url):
    topics = make_topics(kafka_bootstrap, f".sensor{unique}")
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sensor = RecordingSinkSensor()
    sink = Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-s-{unique}", sensor=sensor,
                settings=StoreSettings(db_url=sqlite_url, turns_retention_days=None))
    sid = f"s-{unique}"
    events = [(sid, e) for e in session_events(sid)]
    events.append((f"bad-{unique}", b'{"session_id": "broken"'))  # no contract
    repeated = [(sid, client_rating(sid))] * 2  # the second is a repeat the store absorbs
    try:
        await asyncio.to_thread(produce_one_by_one, kafka_bootstrap, topics.sessions, events)
        await asyncio.to_thread(produce_one_by_one, kafka_bootstrap, topics.ratings, repeated)
        async with RunningSink(sink):
            await wait_for(lambda: sink.stats.consumed >= len(events) + 2 and sink.stats.dead_lettered == 1,
                           what="the sink to read every record")
    finally:
        engine.dispose()

    assert sum(n for topic, n in sensor.calls("on_records") if topic == topics.sessions) == len(events)
    assert sensor.calls("on_dead_letter") == [(topics.sessions, "contract")]
    assert sum(n for topic, n in sensor.calls("on_records") if topic == topics.ratings) == 2
    assert sum(n for kind, n in sensor.calls("on_rows_written") if kind == "session") >= 1
    assert sum(n for kind, n in sensor.calls("on_rows_written") if kind == "rating") == 1
    assert sum(n for kind, n in sensor.calls("on_rows_skipped") if kind == "rating") == 1
    assert sensor.count("write") >= 1 and all(s >= 0 for (s,) in sensor.calls("write"))
    assert sensor.count("observe_lag") >= 2 and set(sensor.calls("observe_lag")) == {(f"store-s-{unique}",)}
    assert sensor.count("on_db_retry") == 0 and sensor.count("on_commit_failed") == 0
