"""Only a configured producer may assign sessions: ingest stamps the platform, the gateway checks it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest

from gateway.http_pages import health
from gateway.server import Gateway, GatewayConfig
from gateway.trust import record_source, source_trusted
from ingest.server import IngestConfig, serve
from streams.topics import SOURCE_HEADER
from tests.gateway import events as ev
from tests.gateway.conftest import SECRET, publish, until_known

TOKENS = {"platform-a-token-0123456789": "platform-a", "platform-b-token-9876543210": "platform-b"}


def test_the_decision():
    a = [(SOURCE_HEADER, b"platform-a")]
    assert source_trusted(frozenset(), None) and source_trusted(frozenset(), a)  # not configured: the demo
    trusted = frozenset({"platform-a"})
    assert source_trusted(trusted, a) and record_source(a) == "platform-a"
    assert not source_trusted(trusted, [(SOURCE_HEADER, b"platform-b")])
    assert not source_trusted(trusted, None) and not source_trusted(trusted, [])
    assert not source_trusted(trusted, [("x-other", b"platform-a")])
    assert not source_trusted(trusted, [(SOURCE_HEADER, b"\xffplatform-a")])


async def _post(url: str, token: str, *records: dict) -> None:
    import aiohttp
    import orjson

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/records", data=orjson.dumps(list(records)),
                             headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()


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
        await _post(where[0], "platform-b-token-9876543210", _session(other, "started", "c-evil"),
                    _session(ok, "ended", "c-a"))  # platform b may not end a's session either
    finally:
        stop.set()
        await task
    await publish(private_kafka, "chat.sessions", ev.started(bare, "c-evil", "ward-trust"))  # no source header

    async with Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=private_kafka, heartbeat_s=3600,
                                     trusted_sources=("platform-a",))) as strict, \
            Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=private_kafka, heartbeat_s=3600)) as demo:
        await until_known(strict, ok)
        await until_known(demo, ok, other, bare)  # the default trusts every record
        deadline = time.monotonic() + 30
        while (strict.feed.untrusted < 3 or demo.hub.sessions[ok].ended_at is None) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls two gateways' counters, with a deadline
            await asyncio.sleep(0.05)
        assert strict.feed.untrusted == 3
        assert other not in strict.hub.sessions and bare not in strict.hub.sessions
        assert strict.hub.sessions[ok].counselor_id == "c-a" and strict.hub.sessions[ok].ended_at is None
        assert demo.hub.sessions[ok].ended_at is not None and demo.feed.untrusted == 0
        assert health(strict).body and b'"untrusted_session_records":3' in health(strict).body
