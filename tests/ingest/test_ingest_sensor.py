"""The ingest endpoint tells its sensor what happened (ingest/sensor.py), through real HTTP (aiohttp) and
the real broker: records by platform and outcome, a 429, the in-flight count back at zero, each accepted
post timed. tests/ingest/test_ingest.py::test_metrics_count_outcomes_and_429s shows the same path into the
Prometheus registry (``/metrics``)."""

from __future__ import annotations

import uuid

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer

from ingest.sensor import RecordingIngestSensor
from ingest.server import Ingest, IngestConfig

from .test_ingest import TOKEN, TOKENS, _turn

pytestmark = pytest.mark.integration


async def test_the_endpoint_tells_its_sensor_what_each_post_became(kafka_bootstrap):
    sensor = RecordingIngestSensor()
    ingest = Ingest(IngestConfig(bootstrap=kafka_bootstrap, tokens=TOKENS, max_pending=3), sensor=sensor)
    await ingest.start()
    server = TestServer(ingest.app(), host="127.0.0.1")
    await server.start_server()
    sid = f"sen-{uuid.uuid4().hex[:6]}"

    async def post(body) -> int:
        async with aiohttp.ClientSession() as http:
            async with http.post(server.make_url("/v1/records"), data=orjson.dumps(body),
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                return resp.status

    try:
        assert await post([_turn(sid, 0), _turn(sid, 1), {"turn_id": 2}]) == 200
        assert await post([_turn(sid, 1)]) == 200  # a retry: duplicate
        assert await post([_turn(sid, i) for i in range(4)]) == 429
    finally:
        await server.close()
        await ingest.stop()

    records = [args for name, args in sensor.events if name == "on_records"]
    assert ("platform-a", "accepted", 2) in records and ("platform-a", "rejected", 1) in records
    assert ("platform-a", "duplicate", 1) in records
    assert sensor.calls("on_throttled") == [(429,)]
    pending = [n for (n,) in sensor.calls("on_pending")]
    assert pending and max(pending) == 2 and pending[-1] == 0  # the two accepted turns in flight, then none
    assert sensor.count("on_post_acknowledged") == 2  # the 429 was never sent to Kafka
