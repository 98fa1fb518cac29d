"""Fixtures for gateway tests: a real gateway on loopback fed by the real broker."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from websockets.asyncio.client import connect

from gateway.auth import issue_token
from gateway.policy import Policy
from gateway.server import Gateway, GatewayConfig
from tests.kafka_helpers import produce

SECRET = b"test-secret-0123456789abcdef"


def token(**claims) -> str:
    return issue_token(SECRET, **claims)


def counselor_token(cid: str, **kw) -> str:
    return token(role="counselor", counselor_id=cid, **kw)


def supervisor_token(*groups: str, all_groups: bool = False, **kw) -> str:
    return token(role="supervisor", groups=list(groups), all_groups=all_groups, **kw)


@pytest.fixture
async def make_gateway(kafka_bootstrap):
    """Start gateways (with a Policy) against the real broker; all are stopped at teardown."""
    started: list[Gateway] = []

    async def _make(policy: Policy | None = None, **config) -> Gateway:
        gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=kafka_bootstrap, policy=policy or Policy(),
                                   heartbeat_s=3600, **config))
        await gw.start()
        started.append(gw)
        await asyncio.wait_for(gw.ready.wait(), 60)
        return gw

    yield _make
    for gw in started:
        await gw.stop()


@pytest.fixture
async def gateway(make_gateway):
    return await make_gateway()


async def publish(bootstrap: str, topic: str, *events) -> None:
    """Produce contracts keyed by session id, like the real producers do."""
    await asyncio.to_thread(produce, bootstrap, topic, [(e.session_id, e) for e in events])


async def until_known(gw: Gateway, *session_ids: str, timeout: float = 30.0) -> None:
    """Wait until the gateway has applied these sessions' ``started`` events.

    Topics are separate partitions with no common order, so a test that must
    not race a score against its session's start waits for the start first.
    """
    deadline = time.monotonic() + timeout
    while not all(sid in gw.hub.sessions and gw.hub.sessions[sid].started_at for sid in session_ids):
        if time.monotonic() > deadline:
            raise AssertionError(f"gateway never saw the start of {session_ids}")
        await asyncio.sleep(0.05)


async def open_client(gw: Gateway, tok: str | None, resume: dict | None = None, **kw):
    ws = await connect(gw.url, **kw)
    hello = {"type": "hello", "token": tok}
    if resume is not None:
        hello["resume"] = resume
    await ws.send(orjson.dumps(hello).decode())
    return ws


async def recv_json(ws, timeout: float = 30.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect_until(ws, done, timeout: float = 30.0) -> list[dict]:
    """Read messages until ``done(messages)`` is true; fail with what arrived if it never is."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(out):
        left = deadline - time.monotonic()
        if left <= 0:
            kinds = [(m.get("type"), m.get("kind"), m.get("session_id")) for m in out]
            raise AssertionError(f"condition not met; received {len(out)} messages: {kinds[-20:]}")
        try:
            out.append(await recv_json(ws, left))
        except asyncio.TimeoutError:
            continue
    return out


def events_of(messages: list[dict], session_id: str | None = None, kind: str | None = None) -> list[dict]:
    return [m for m in messages if m.get("type") == "event"
            and (session_id is None or m["session_id"] == session_id) and (kind is None or m["kind"] == kind)]
