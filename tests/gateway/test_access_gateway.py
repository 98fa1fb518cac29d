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
    assert (board.action, board.sessions_shown, board.session_ids) == ("board", 1, [])
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

    gw = await make_gateway(access_attempts=2)
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
