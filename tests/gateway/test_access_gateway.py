"""The audit trail end to end in the gateway: real websocket clients, the real broker topic."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
import pytest

from streams.codec import decode
from streams.contracts import AccessEvent
from streams.topics import ACCESS
from tests.gateway import events as ev
from tests.gateway.conftest import counselor_token, open_client, publish, recv_json, supervisor_token, until_known
from tests.kafka_helpers import consume_all

pytestmark = pytest.mark.integration


async def _until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_timeline_drill_down_lands_on_the_access_topic(gateway, kafka_bootstrap, unique):
    grp, cid, s = f"g-{unique}", f"c-{unique}", f"s-{unique}"
    name = f"Dr Audit {unique}"
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gateway, s)
    sup = await open_client(gateway, supervisor_token(grp, name=name))
    assert [(await recv_json(sup))["type"] for _ in range(2)] == ["welcome", "snapshot"]
    await sup.send(orjson.dumps({"type": "timeline", "session_id": s}).decode())
    reply = await recv_json(sup)
    assert reply["type"] == "timeline" and reply["session_id"] == s

    recs = await consume_all(kafka_bootstrap, ACCESS.name, expect=2, where=lambda r: r.key == name.encode())
    events = [decode(AccessEvent, r.value) for r in recs]
    board, timeline = sorted(events, key=lambda e: e.action)
    assert (board.action, board.sessions_shown, board.session_ids) == ("board", 1, [s])
    assert (timeline.action, timeline.session_ids, timeline.role, timeline.scope) == ("timeline", [s], "supervisor", grp)
    assert timeline.key_id == "default" and timeline.token_id and timeline.replica == gateway.replica
    assert timeline.event_id.startswith(gateway.replica + ":") and board.event_id != timeline.event_id
    assert abs(timeline.at.timestamp() - time.time()) < 60
    assert gateway.audit.stats["published"] >= 2 and gateway.audit.stats["lost"] == 0

    # a counselor who asks for another counselor's session: refused, and nothing recorded for them
    other = f"Other {unique}"
    ws = await open_client(gateway, counselor_token(f"c2-{unique}", name=other))
    await recv_json(ws)
    await recv_json(ws)
    await ws.send(orjson.dumps({"type": "timeline", "session_id": s}).decode())
    assert (await recv_json(ws))["code"] == "forbidden"
    recs = await consume_all(kafka_bootstrap, ACCESS.name, idle=1.5, where=lambda r: r.key == other.encode())
    assert [decode(AccessEvent, r.value).action for r in recs] == ["board"]
    for w in (sup, ws):
        await w.close()


async def test_an_audit_record_the_broker_refuses_is_counted_and_logged(make_gateway, kafka_bootstrap, unique,
                                                                       caplog):
    from aiokafka.errors import KafkaTimeoutError

    gw = await make_gateway(access_attempts=2, serve_unaudited=True)  # the mode that gives records up
    calls = []

    async def refuse(event, topic):  # fault injection: the broker does not take the record
        calls.append(event.action)
        raise KafkaTimeoutError()

    gw.feed.publish_access = refuse
    caplog.set_level(logging.ERROR, logger="gateway.audit_publisher")
    ws = await open_client(gw, supervisor_token(f"g-{unique}"))
    await recv_json(ws)
    await recv_json(ws)
    await _until(lambda: gw.audit.stats["lost"] == 1)
    assert calls == ["board", "board"] and gw.audit.stats["published"] == 0  # retried, then counted
    assert any("1 audit records lost" in r.getMessage() for r in caplog.records)
    await ws.close()


async def _health(gw) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    def get() -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(gw.http_url + "/healthz", timeout=10) as resp:
                return resp.status, orjson.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, orjson.loads(err.read())

    return await asyncio.to_thread(get)


async def _close_code(ws, timeout: float = 15.0) -> tuple[int, str]:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason


async def test_an_audit_outage_shows_in_health_and_stops_content_until_the_trail_is_back(make_gateway, unique):
    """Issue 21: during a Kafka outage audit records were queued silently, counted lost minutes later, while
    /healthz stayed green and every view was served unaudited."""
    from gateway.client_messages import CLOSE_TRY_AGAIN

    gw = await make_gateway(audit_bound_s=0.5)
    real = gw.feed.publish_access
    back = asyncio.Event()

    async def unanswered(event, topic):  # fault injection: the broker takes no audit record until `back`
        await back.wait()
        await real(event, topic)

    gw.feed.publish_access = unanswered
    ws = await open_client(gw, supervisor_token(f"g-{unique}"))
    assert [(await recv_json(ws))["type"] for _ in range(2)] == ["welcome", "snapshot"]  # its record now waits
    deadline = time.monotonic() + 10
    while (await _health(gw))[0] != 503:
        assert time.monotonic() < deadline, "health stayed green through the audit outage"
        await asyncio.sleep(0.1)
    _, body = await _health(gw)
    assert body["status"] == "audit unavailable" and body["audit"]["pending"] >= 1
    code, reason = await _close_code(ws)  # content stops rather than going unaudited
    assert code == CLOSE_TRY_AGAIN and "audit" in reason
    code, reason = await _close_code(await open_client(gw, supervisor_token(f"g-{unique}")))
    assert code == CLOSE_TRY_AGAIN and "audit" in reason

    back.set()  # the trail is back: what waited is published, content is served again
    await _until(lambda: gw.audit.pending == 0 and not gw.audit_blocked)
    assert (await _health(gw))[0] == 200
    ws = await open_client(gw, supervisor_token(f"g-{unique}"))
    assert (await recv_json(ws))["type"] == "welcome"
    await ws.close()
    assert gw.audit.stats["lost"] == 0


async def test_serve_unaudited_keeps_content_flowing_but_health_says_so(make_gateway, unique):
    gw = await make_gateway(audit_bound_s=0.5, serve_unaudited=True)
    back = asyncio.Event()
    real = gw.feed.publish_access

    async def unanswered(event, topic):
        await back.wait()
        await real(event, topic)

    gw.feed.publish_access = unanswered
    ws = await open_client(gw, supervisor_token(f"g-{unique}"))
    await recv_json(ws)
    await recv_json(ws)
    await _until(lambda: gw.audit_overdue())
    assert (await _health(gw))[0] == 503
    again = await open_client(gw, supervisor_token(f"g-{unique}"))
    assert (await recv_json(again))["type"] == "welcome"
    back.set()
    for w in (ws, again):
        await w.close()


async def test_failing_closed_a_refused_audit_record_is_retried_until_published_and_content_waits(make_gateway,
                                                                                                 unique, caplog):
    """A broker that refuses at once (an ACL, a missing topic) must not let views through unaudited: with the
    record given up after a few attempts nothing would be pending and nothing would ever block."""
    from aiokafka.errors import TopicAuthorizationFailedError

    from gateway.client_messages import CLOSE_TRY_AGAIN

    gw = await make_gateway(access_attempts=2, audit_bound_s=0.5)
    real = gw.feed.publish_access
    refusing = {"on": True}

    async def refuse(event, topic):  # fault injection: the broker refuses the audit record at once
        if refusing["on"]:
            raise TopicAuthorizationFailedError()
        await real(event, topic)

    gw.feed.publish_access = refuse
    caplog.set_level(logging.ERROR, logger="gateway.audit_publisher")
    ws = await open_client(gw, supervisor_token(f"g-{unique}"))
    await recv_json(ws)
    await recv_json(ws)
    code, reason = await _close_code(ws)
    assert code == CLOSE_TRY_AGAIN and "audit" in reason and gw.audit.stats["lost"] == 0
    assert any("retrying until it is" in r.getMessage() for r in caplog.records)
    refusing["on"] = False
    await _until(lambda: gw.audit.stats["published"] == 1 and not gw.audit_blocked)
    assert gw.audit.stats["lost"] == 0 and gw.audit.stats["retried"] == 1
