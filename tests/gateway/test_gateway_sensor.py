"""The gateway tells its sensor what happened (gateway/sensor.py), through the real broker and feed:
records applied, a record that is no contract refused, a live alert's delivery timed once (not per
connection), the feed's lag read. tests/gateway/test_gateway_metrics.py shows the same path into the
Prometheus registry (``/metrics``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.sensor import RecordingGatewaySensor
from streams.topics import ALERTS, CHAT_SESSIONS
from tests.kafka_helpers import produce

from .conftest import publish, until_known
from .events import alert, started

pytestmark = pytest.mark.integration


async def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_gateway_tells_its_sensor_what_the_feed_applied_refused_and_delivered(make_gateway,
                                                                                        kafka_bootstrap, unique):
    sensor = RecordingGatewaySensor()
    gateway = await make_gateway(sensor=sensor)
    assert gateway.feed is not None and gateway.feed.sensor is sensor
    sid, cid = f"sen-{unique}", f"c-{unique}"
    seen = len(sensor.events)  # what the start-up re-read of the topics told it
    assert all(name != "on_delivered" for name, _ in sensor.events[:seen])  # history is not a delivery

    await publish(kafka_bootstrap, CHAT_SESSIONS.name, started(sid, cid, group="g"))
    await until_known(gateway, sid)
    await publish(kafka_bootstrap, ALERTS.name, alert(f"{sid}:middle:bond:drop", sid, cid))
    await wait_until(lambda: any(name == "on_delivered" for name, _ in sensor.events[seen:]))
    await asyncio.to_thread(produce, kafka_bootstrap, ALERTS.name, [(sid, b"{not an alert")])
    await wait_until(lambda: ("on_feed_records", ("rejected", 1)) in sensor.events[seen:])

    live = sensor.events[seen:]
    delivered = [args for name, args in live if name == "on_delivered"]
    assert len(delivered) == 1 and delivered[0][0] == "alert" and 0 <= delivered[0][1] < 30
    applied = sum(args[1] for name, args in live if name == "on_feed_records" and args[0] == "applied")
    assert applied >= 2  # the start and the alert (other tests' records may arrive too)
    assert sensor.calls("observe_lag") and set(sensor.calls("observe_lag")) == {("alliance-gateway",)}
