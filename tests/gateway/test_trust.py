"""Only a session's owner may change it: ingest stamps the platform, the gateway checks it (streams/ownership.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import orjson
import pytest

from gateway.auth import Viewer
from gateway.client_messages import Hello
from gateway.history import EventId, MemoryHistory, StoredEvent
from gateway.http_pages import health
from gateway.hub import Hub
from gateway.policy import Policy
from gateway.server import Gateway, GatewayConfig
from ingest.server import IngestConfig, serve
from streams.ownership import record_source, source_trusted
from streams.topics import SOURCE_HEADER
from tests.gateway import events as ev
from tests.gateway.conftest import SECRET, publish, until_known

TOKENS = {"platform-a-token-0123456789": "platform-a", "platform-b-token-9876543210": "platform-b"}


def test_the_decision():
    a = [(SOURCE_HEADER, b"platform-a")]
    assert source_trusted(frozenset(), None) and source_trusted(frozenset(), record_source(a))  # the demo
    trusted = frozenset({"platform-a"})
    assert source_trusted(trusted, record_source(a)) and record_source(a) == "platform-a"
    assert not source_trusted(trusted, record_source([(SOURCE_HEADER, b"platform-b")]))
    assert not source_trusted(trusted, record_source(None)) and not source_trusted(trusted, record_source([]))
    assert not source_trusted(trusted, record_source([("x-other", b"platform-a")]))
    assert not source_trusted(trusted, record_source([(SOURCE_HEADER, b"\xffplatform-a")]))


def test_forged_session_records_change_nothing_in_the_live_view():
    """The attack: another producer's ``started`` (a new counselor and group) and ``ended`` for a live session."""
    evil_sup = Viewer("supervisor", "evil sup", groups=frozenset({"g-evil"}))
    evil = Viewer("counselor", "evil", counselor_id="c-evil")
    for trusted in (frozenset(), frozenset({"platform-a", "platform-b"})):
        hub = Hub(MemoryHistory(), Policy(max_queue=50), trusted_sources=trusted)
        watchers = [hub.open(Hello(v, None), 0.0) for v in (evil_sup, evil)]
        offsets = iter(range(100))

        def feed(contract, source, kind="session", topic="chat.sessions", hub=hub, offsets=offsets):
            event = StoredEvent(EventId.of(topic, 0, next(offsets)), kind, contract.session_id,
                                contract.model_dump(mode="json"), source)
            return hub.apply(event, now=0.0)

        feed(ev.started("s-a", "c-a", "g-a"), "platform-a")
        feed(ev.score("s-a", "c-a", "early", 4, 4, 4), None, "score", "alliance.scores")
        assert feed(ev.started("s-a", "c-evil", "g-evil", minutes_ago=60), "platform-b") == []
        assert feed(ev.ended("s-a", "c-evil", "g-evil"), "platform-b") == []
        state = hub.sessions["s-a"]
        assert (state.counselor_id, state.group, state.ended_at) == ("c-a", "g-a", None)
        assert hub.stats["refused_sessions"] == 2
        assert [e.source for e in hub.history.session_timeline("s-a") if e.kind == "session"] == ["platform-a"]
        for conn in watchers:
            sent = [orjson.loads(f) for f in list(conn.backlog) + list(conn.outbox)]
            assert all(m.get("type") != "event" for m in sent), sent
            assert not hub.can_see_session(conn.viewer, "s-a")
        # the owner's hand-over is obeyed: the new counselor sees the session
        feed(ev.started("s-a", "c-a", "g-a").model_copy(update={"kind": "reassigned", "counselor_id": "c-evil"}),
             "platform-a")
        assert hub.can_see_session(evil, "s-a") and hub.sessions["s-a"].group == "g-a"


async def _post(url: str, token: str, *records: dict) -> list[str]:
    import aiohttp
    import orjson

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/records", data=orjson.dumps(list(records)),
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()
            return [r["status"] for r in (await resp.json())["results"]]


def _session(sid: str, kind: str, counselor: str) -> dict:
    return {"session_id": sid, "kind": kind, "at": datetime.now(timezone.utc).isoformat(), "counselor_id": counselor,
            "group": "ward-trust", "planned_minutes": 50}


@pytest.mark.integration
async def test_a_gateway_with_trusted_sources_ignores_other_producers(private_kafka, unique):
    ok, other, bare = f"a-{unique}", f"b-{unique}", f"none-{unique}"
    stop, ready = asyncio.Event(), asyncio.Event()
    where: list[str] = []

    def on_ready(addresses):
        where.append(f"http://{addresses[0][0]}:{addresses[0][1]}")
        ready.set()

    task = asyncio.create_task(serve(IngestConfig(bootstrap=private_kafka, tokens=TOKENS, port=0), stop,
                                     on_ready=on_ready))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        await _post(where[0], "platform-a-token-0123456789", _session(ok, "started", "c-a"))
        # platform b may not end a's session either: ingest refuses it (the session is a's) ...
        assert await _post(where[0], "platform-b-token-9876543210", _session(other, "started", "c-evil"),
                           _session(ok, "ended", "c-a")) == ["accepted", "rejected"]
    finally:
        stop.set()
        await task
    await publish(private_kafka, "chat.sessions", ev.started(bare, "c-evil", "ward-trust"))  # no source header
    # ... and a producer that writes chat.sessions itself, stamped as b, is refused by the gateway
    from kafka import KafkaProducer

    from streams.codec import encode

    producer = KafkaProducer(bootstrap_servers=private_kafka, acks="all")
    try:
        producer.send("chat.sessions", key=ok.encode(), value=encode(ev.ended(ok, "c-a", "ward-trust")),
                      headers=[(SOURCE_HEADER, b"platform-b")])
        producer.flush()
    finally:
        producer.close()

    async with Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=private_kafka, heartbeat_s=3600,
                                     trusted_sources=("platform-a",))) as strict, \
            Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=private_kafka, heartbeat_s=3600)) as demo:
        await until_known(strict, ok)
        await until_known(demo, ok, other, bare)  # the default trusts every record
        deadline = time.monotonic() + 30
        while ((strict.hub.stats["refused_sessions"] < 3 or demo.hub.stats["refused_sessions"] < 1)  # noqa: ASYNC110 - polls two gateways' counters, with a deadline
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
        assert strict.hub.stats["refused_sessions"] == 3
        assert other not in strict.hub.sessions and bare not in strict.hub.sessions
        assert strict.hub.sessions[ok].counselor_id == "c-a" and strict.hub.sessions[ok].ended_at is None
        # the demo trusts every source, but a's session is still a's: b's ended changes nothing there either
        assert demo.hub.sessions[ok].ended_at is None and demo.hub.stats["refused_sessions"] == 1
        assert health(strict).body and b'"refused_session_records":3' in health(strict).body
