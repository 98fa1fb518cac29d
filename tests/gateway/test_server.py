"""The gateway over real websockets, fed through the real broker (Tansu)."""

from __future__ import annotations

import asyncio
import http.client
import socket

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.client_messages import CLOSE_PROTOCOL, CLOSE_TOO_SLOW, CLOSE_UNAUTHORIZED
from gateway.policy import Policy
from tests.gateway import events as ev
from tests.gateway.conftest import (
    collect_until,
    counselor_token,
    events_of,
    open_client,
    publish,
    recv_json,
    supervisor_token,
    until_known,
)
from tests.kafka_helpers import consume_all

pytestmark = pytest.mark.integration


async def closed_with(ws) -> tuple[int, str]:
    """Drain until the server closes; return (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "connection dropped without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


# --- auth ---------------------------------------------------------------------------


async def test_missing_token_is_refused(gateway):
    ws = await open_client(gateway, None)
    assert await closed_with(ws) == (CLOSE_UNAUTHORIZED, "missing token")


async def test_bad_signature_is_refused(gateway):
    good = counselor_token("c-x")
    header, body, sig = good.split(".")
    forged = f"{header}.{body}." + ("A" if sig[0] != "A" else "B") + sig[1:]
    ws = await open_client(gateway, forged)
    assert await closed_with(ws) == (CLOSE_UNAUTHORIZED, "bad token signature")


async def test_token_signed_with_another_secret_is_refused(gateway):
    from gateway.auth import issue_token

    ws = await open_client(gateway, issue_token(b"some-other-secret-xxxxxxxx", role="supervisor", all_groups=True))
    assert await closed_with(ws) == (CLOSE_UNAUTHORIZED, "bad token signature")


@pytest.mark.parametrize("token", ["tökén.ü.ß", "\u200b\x00garbage", "a.b.c", "e30.e30.e30"])
async def test_garbage_and_non_ascii_tokens_get_the_normal_unauthorized_close(gateway, token):
    """A non-ASCII token used to crash the handler: close 1011 and a traceback in the log."""
    ws = await open_client(gateway, token)
    code, reason = await closed_with(ws)
    assert code == CLOSE_UNAUTHORIZED and reason.startswith(("malformed token", "unsupported token algorithm"))


async def test_a_revoked_token_is_refused_and_its_open_connection_closed(make_gateway, tmp_path):
    from gateway.auth import token_id

    revoked = tmp_path / "revoked.txt"
    gw = await make_gateway(revoked_file=str(revoked))
    tok = counselor_token("c-rev")
    ws = await open_client(gw, tok)
    assert (await recv_json(ws))["type"] == "welcome"
    revoked.write_text(token_id(tok) + "\n", encoding="utf-8")  # what `token revoke` writes
    assert await gw.reload_revoked() == 1  # (the housekeeping loop does this every few seconds)
    assert await closed_with(ws) == (CLOSE_UNAUTHORIZED, "token revoked")
    again = await open_client(gw, tok)
    assert await closed_with(again) == (CLOSE_UNAUTHORIZED, "token revoked")


async def test_expired_token_is_refused(gateway):
    import time

    ws = await open_client(gateway, counselor_token("c-x", ttl_s=60, now=time.time() - 120))
    assert await closed_with(ws) == (CLOSE_UNAUTHORIZED, "token expired")


async def test_first_message_must_be_hello(gateway):
    ws = await connect(gateway.url)
    await ws.send("not json")
    code, reason = await closed_with(ws)
    assert code == CLOSE_PROTOCOL and "JSON" in reason


async def test_foreign_origin_is_refused_own_origin_allowed(gateway):
    with pytest.raises(InvalidStatus) as err:
        await connect(gateway.url, origin="http://evil.example")
    assert err.value.response.status_code == 403
    ws = await connect(gateway.url, origin=gateway.http_url)
    await ws.send(orjson.dumps({"type": "hello", "token": supervisor_token("nobody")}).decode())
    assert (await recv_json(ws))["type"] == "welcome"
    await ws.close()


async def test_oversized_message_closes_with_1009(gateway):
    ws = await open_client(gateway, supervisor_token("nobody"))
    await recv_json(ws)
    await ws.send("x" * (gateway.config.max_message_bytes + 1))
    with pytest.raises(ConnectionClosed) as err:
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    assert err.value.rcvd.code == 1009


# --- visibility ------------------------------------------------------------------------


async def test_counselor_sees_only_own_sessions_supervisor_sees_scope(gateway, kafka_bootstrap, unique):
    g1, g2 = f"g1-{unique}", f"g2-{unique}"
    a, b, c = f"s-a-{unique}", f"s-b-{unique}", f"s-c-{unique}"
    ca, cb = f"c-a-{unique}", f"c-b-{unique}"
    alice = await open_client(gateway, counselor_token(ca))
    sup1 = await open_client(gateway, supervisor_token(g1))
    sup_all = await open_client(gateway, supervisor_token(all_groups=True))
    for ws in (alice, sup1, sup_all):
        assert (await recv_json(ws))["type"] == "welcome"
        assert (await recv_json(ws))["type"] == "snapshot"

    await publish(kafka_bootstrap, "chat.sessions", ev.started(a, ca, g1), ev.started(b, cb, g1), ev.started(c, cb, g2))
    await until_known(gateway, a, b, c)
    await publish(kafka_bootstrap, "alliance.scores", ev.score(a, ca, "early", 4, 4, 4), ev.score(b, cb, "early", 3, 3, 3),
                  ev.score(c, cb, "early", 2, 2, 2))
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"al-b-{unique}", b, cb))
    await publish(kafka_bootstrap, "chat.sessions", ev.ended(c, cb, g2))  # marker: last event

    mine = {a, b, c}
    all_msgs = await collect_until(sup_all, lambda ms: any(m.get("id") and m["session_id"] == c and m["data"].get("kind") == "ended"
                                                           for m in events_of(ms)))
    got_all = {m["session_id"] for m in events_of(all_msgs)} & mine
    assert got_all == {a, b, c}

    # counselor B's alert on session b is in group g1: sup1 must get it.
    sup1_msgs = await collect_until(sup1, lambda ms: bool(events_of(ms, b, "alert")))
    # Alice explicitly asks for B's session: refused, and nothing of it arrives.
    await alice.send(orjson.dumps({"type": "subscribe", "sessions": [b]}).decode())
    await alice.send(orjson.dumps({"type": "timeline", "session_id": b}).decode())
    await alice.send(orjson.dumps({"type": "ping", "ref": "end"}).decode())
    alice_msgs = await collect_until(alice, lambda ms: any(m.get("type") == "pong" for m in ms))
    errors = [m for m in alice_msgs if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["forbidden", "forbidden"]
    assert {m["session_id"] for m in events_of(alice_msgs)} & mine == {a}
    assert all(m["summary"]["counselor_id"] == ca for m in events_of(alice_msgs))

    # sup1 (group g1) never sees group g2's session c, before or after the marker.
    await sup1.send(orjson.dumps({"type": "ping", "ref": "end"}).decode())
    sup1_msgs += await collect_until(sup1, lambda ms: any(m.get("type") == "pong" for m in ms))
    assert {m["session_id"] for m in events_of(sup1_msgs)} & mine == {a, b}

    # A fresh counselor connection's snapshot: only her own session; no validation record,
    # so the gate withholds its scores (tests/gateway/test_server_gate.py has the validated case).
    alice2 = await open_client(gateway, counselor_token(ca))
    await recv_json(alice2)
    snap = await recv_json(alice2)
    assert [s["session_id"] for s in snap["sessions"] if s["session_id"] in mine] == [a]
    assert snap["sessions"][0]["current"] == {}
    assert snap["sessions"][0]["validation"]["withheld"] == ["approach", "bond", "goal"]
    for ws in (alice, alice2, sup1, sup_all):
        await ws.close()


async def test_unvalidated_alerts_reach_supervisors_only(gateway, kafka_bootstrap, unique):
    s, cid, grp = f"s-{unique}", f"c-{unique}", f"g-{unique}"
    counselor = await open_client(gateway, counselor_token(cid))
    sup = await open_client(gateway, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gateway, s)
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"u-{unique}", s, cid, validated=False),
                  ev.alert(f"v-{unique}", s, cid, validated=True))
    sup_msgs = await collect_until(sup, lambda ms: len(events_of(ms, s, "alert")) == 2)
    assert [m["data"]["validated"] for m in events_of(sup_msgs, s, "alert")] == [False, True]
    c_msgs = await collect_until(counselor, lambda ms: len(events_of(ms, s, "alert")) >= 1)
    await counselor.send(orjson.dumps({"type": "ping"}).decode())
    c_msgs += await collect_until(counselor, lambda ms: any(m.get("type") == "pong" for m in ms))
    alerts = events_of(c_msgs, s, "alert")
    assert [m["data"]["alert_id"] for m in alerts] == [f"v-{unique}"]
    assert [a["alert_id"] for a in alerts[-1]["summary"]["alerts"]] == [f"v-{unique}"]
    await counselor.close()
    await sup.close()


# --- slow clients ---------------------------------------------------------------------


async def test_slow_client_does_not_delay_fast_one_and_resumes(make_gateway, kafka_bootstrap, unique):
    gw = await make_gateway(Policy(max_queue=200))
    grp, cid, s = f"g-{unique}", f"c-{unique}", f"s-{unique}"
    fast = await open_client(gw, supervisor_token(grp))
    fast_msgs: list[dict] = []

    async def read_fast() -> None:
        while True:
            fast_msgs.append(orjson.loads(await fast.recv()))

    reader = asyncio.create_task(read_fast())
    # The slow client: a tiny receive buffer, and it reads nothing until the end.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    slow = await connect(gw.url, sock=sock, max_queue=1)
    await slow.send(orjson.dumps({"type": "hello", "token": supervisor_token(grp)}).decode())
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gw, s)

    produced = 0
    for _ in range(30):  # bounded: produce until the gateway cuts the slow client off
        batch = [ev.signal(s, cid, flags=(f"n{produced + i}",)) for i in range(100)]
        big = [ev.score(s, cid, "early", 3, 3, 3, pad=3000) for _ in range(20)]
        await publish(kafka_bootstrap, "alliance.signals", *batch)
        await publish(kafka_bootstrap, "alliance.scores", *big)
        produced += len(batch)
        for _ in range(20):
            await asyncio.sleep(0.1)
            if gw.hub.stats["cut_slow"]:
                break
        if gw.hub.stats["cut_slow"]:
            break
    assert gw.hub.stats["cut_slow"] == 1, "the slow client was never cut off"
    # The fast client receives every signal, in order, while the slow one has still read nothing.
    for _ in range(600):
        if len(events_of(fast_msgs, s, "signal")) >= produced or reader.done():
            break
        await asyncio.sleep(0.1)
    reader.cancel()
    flags = [m["data"]["flags"][0] for m in events_of(fast_msgs, s, "signal")]
    assert flags == [f"n{i}" for i in range(produced)]
    fast_conn = [c for c in gw.hub.connections.values() if not c.closing]
    assert len(fast_conn) == 1 and not fast_conn[0].outbox

    # The slow client now reads: what was already on the wire, then a clear close reason.
    seen: list[dict] = []
    try:
        while True:
            seen.append(orjson.loads(await asyncio.wait_for(slow.recv(), 30)))
    except ConnectionClosed as closed:
        assert closed.rcvd.code == CLOSE_TOO_SLOW
        assert "too slow" in closed.rcvd.reason and "resume" in closed.rcvd.reason
    cursor = dict(next(m for m in seen if m["type"] == "snapshot")["cursor"])
    for m in seen:
        if m["type"] == "event":
            stream, _, offset = m["id"].rpartition(":")
            cursor[stream] = max(cursor.get(stream, -1), int(offset))
    got_before = [m["data"]["flags"][0] for m in events_of(seen, s, "signal")]
    assert len(got_before) < produced

    # Reconnect with the cursor: exactly the signals it missed, no repeats, no holes.
    again = await open_client(gw, supervisor_token(grp), resume=cursor)
    assert (await recv_json(again))["type"] == "welcome"
    resumed = await recv_json(again)
    assert resumed["type"] == "resumed"
    rest = await collect_until(again, lambda ms: len(ms) >= resumed["missed"])
    got_after = [m["data"]["flags"][0] for m in events_of(rest, s, "signal")]
    assert got_before + got_after == [f"n{i}" for i in range(produced)]
    await fast.close()
    await again.close()


# --- resume -----------------------------------------------------------------------------


async def test_resume_after_disconnect_delivers_exactly_the_missed_events(gateway, kafka_bootstrap, unique):
    grp, cid, s = f"g-{unique}", f"c-{unique}", f"s-{unique}"
    ws = await open_client(gateway, supervisor_token(grp))
    await recv_json(ws)
    cursor = dict((await recv_json(ws))["cursor"])
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gateway, s)
    await publish(kafka_bootstrap, "alliance.scores", ev.score(s, cid, "early", 4, 4, 4))
    first = await collect_until(ws, lambda ms: len(events_of(ms, s)) == 2)
    for m in events_of(first):
        stream, _, offset = m["id"].rpartition(":")
        cursor[stream] = max(cursor.get(stream, -1), int(offset))
    await ws.close()

    await publish(kafka_bootstrap, "alliance.scores", ev.score(s, cid, "middle", 3.5, 3.8, 3.0))
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"a-{unique}", s, cid))
    await publish(kafka_bootstrap, "alliance.signals", ev.signal(s, cid, "middle"))
    # wait until this gateway has applied them (a supervisor of everything sees them arrive)
    watcher = await open_client(gateway, supervisor_token(grp))
    await recv_json(watcher)
    snap = await recv_json(watcher)
    if not any(x["session_id"] == s and x["signal"] for x in snap["sessions"]):
        await collect_until(watcher, lambda ms: bool(events_of(ms, s, "signal")))
    await watcher.close()

    again = await open_client(gateway, supervisor_token(grp), resume=cursor)
    assert (await recv_json(again))["type"] == "welcome"
    resumed = await recv_json(again)
    assert resumed == {"type": "resumed", "missed": 3}
    missed = [await recv_json(again) for _ in range(3)]
    assert sorted(m["kind"] for m in missed) == ["alert", "score", "signal"]
    assert {m["id"] for m in missed}.isdisjoint({m["id"] for m in first})
    assert missed[-1]["summary"]["change"] == {"goal": -0.5, "approach": -0.2, "bond": -1.0}
    position = await recv_json(again)
    assert position["type"] == "position"
    await again.close()


async def test_resume_from_unknown_future_position_reports_gap_then_snapshot(gateway):
    ws = await open_client(gateway, supervisor_token(all_groups=True), resume={"alliance.scores:0": 10**9})
    await recv_json(ws)
    gap = await recv_json(ws)
    assert gap["type"] == "gap" and "ahead" in gap["reason"]
    assert (await recv_json(ws))["type"] == "snapshot"
    await ws.close()


# --- acks ------------------------------------------------------------------------------


async def test_ack_reaches_every_viewer_and_the_acks_topic(make_gateway, kafka_bootstrap, unique):
    gw1 = await make_gateway()
    gw2 = await make_gateway()  # a second replica: acks travel through Kafka, not memory
    grp, cid, s, alert_id = f"g-{unique}", f"c-{unique}", f"s-{unique}", f"al-{unique}"
    counselor = await open_client(gw1, counselor_token(cid))
    sup_a = await open_client(gw1, supervisor_token(grp, name="Dr Ack"))
    sup_b = await open_client(gw2, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gw1, s)
    await until_known(gw2, s)
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(alert_id, s, cid, validated=True))
    for ws in (counselor, sup_a, sup_b):
        await collect_until(ws, lambda ms: bool(events_of(ms, s, "alert")))

    await sup_a.send(orjson.dumps({"type": "ack", "alert_id": alert_id, "note": "calling now"}).decode())
    for ws in (sup_a, sup_b, counselor):
        msgs = await collect_until(ws, lambda ms: bool(events_of(ms, s, "ack")))
        ack = events_of(msgs, s, "ack")[0]
        assert ack["data"]["alert_id"] == alert_id and ack["data"]["by"] == "Dr Ack"
        acked = [a for a in ack["summary"]["alerts"] if a["alert_id"] == alert_id][0]
        assert [x["by"] for x in acked["acks"]] == ["Dr Ack"]
    ids = {events_of(msgs, s, "ack")[0]["id"]}
    assert len(ids) == 1 and next(iter(ids)).startswith("alliance.acks:")
    recs = await consume_all(kafka_bootstrap, "alliance.acks", expect=1, where=lambda r: r.key == s.encode())
    assert orjson.loads(recs[0].value)["alert_id"] == alert_id

    # acking an alert you cannot see is refused
    other = await open_client(gw1, counselor_token(f"someone-else-{unique}"))
    await recv_json(other)
    await recv_json(other)
    await other.send(orjson.dumps({"type": "ack", "alert_id": alert_id}).decode())
    err = await recv_json(other)
    assert err["type"] == "error" and err["code"] == "forbidden"
    for ws in (counselor, sup_a, sup_b, other):
        await ws.close()


# --- HTTP --------------------------------------------------------------------------------


def _get(port: int, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), body


async def test_health_and_pages_are_served(gateway):
    status, headers, body = await asyncio.to_thread(_get, gateway.port, "/healthz")
    health = orjson.loads(body)
    assert status == 200 and health["status"] == "ok" and health["kafka"] is True
    for path in ("/", "/board", "/counselor", "/session", "/static/board.js", "/static/session.js", "/static/app.css"):
        status, headers, body = await asyncio.to_thread(_get, gateway.port, path)
        assert status == 200, path
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    for path in ("/static/../server.py", "/static/", "/nope"):
        status, _, _ = await asyncio.to_thread(_get, gateway.port, path)
        assert status == 404, path


async def test_health_turns_unhealthy_within_10_s_of_a_kafka_outage_and_recovers():
    """Issue 21: /healthz stayed "200 ok, feed running" through a 50 s Kafka outage (aiokafka retries inside
    the feed's reads). The outage here: the gateway's own broker is stopped (SIGSTOP) for a few seconds."""
    import os
    import signal
    import time

    from gateway.server import Gateway, GatewayConfig
    from streams.broker import EmbeddedBroker, ensure_topics
    from tests.gateway.conftest import SECRET

    async def health_until(want: int, within: float) -> tuple[float, dict]:
        start = time.monotonic()
        while True:
            status, _, body = await asyncio.to_thread(_get, gw.port, "/healthz")
            if status == want:
                return time.monotonic() - start, orjson.loads(body)
            assert time.monotonic() - start < within, f"/healthz still {status} after {within} s: {body[:200]!r}"
            await asyncio.sleep(0.2)

    with EmbeddedBroker() as broker:  # a broker of this test's own: the outage must not reach other tests
        await asyncio.to_thread(ensure_topics, broker.bootstrap)
        gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=broker.bootstrap, heartbeat_s=3600))
        await gw.start()
        try:
            await asyncio.wait_for(gw.ready.wait(), 60)
            await health_until(200, 10)
            os.kill(broker.process.pid, signal.SIGSTOP)  # fault injection: the broker stops answering
            try:
                _, body = await health_until(503, 10)
                assert body["status"] == "kafka unreachable" and body["feed"].startswith("stalled"), body
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
            await health_until(200, 30)  # the broker answers again: healthy, nothing to restart
        finally:
            await gw.stop()


async def test_health_is_not_ok_once_the_kafka_feed_has_died(make_gateway):
    """A gateway whose feed task died serves a frozen board: its health must say so."""
    gw = await make_gateway()
    assert (await asyncio.to_thread(_get, gw.port, "/healthz"))[0] == 200
    await gw.feed._consumer.stop()  # fault injection: the consumer goes away under the feed task
    feed_task = next(t for t in gw._tasks if t.get_name() == "gateway-feed")
    await asyncio.wait([feed_task], timeout=30)
    assert feed_task.done()
    status, _, body = await asyncio.to_thread(_get, gw.port, "/healthz")
    health = orjson.loads(body)
    assert status == 503 and health["status"] == "feed stopped" and health["feed"] != "running"


def _own_non_loopback_address() -> str | None:
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


async def test_health_gives_counts_to_local_callers_only(make_gateway):
    addr = _own_non_loopback_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback address to call from")
    gw = await make_gateway(host="0.0.0.0")
    local = orjson.loads((await asyncio.to_thread(_get, gw.port, "/healthz"))[2])
    assert "sessions" in local and "connections" in local

    def get_remote() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(addr, gw.port, timeout=10)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        return resp.status, resp.read()

    status, body = await asyncio.to_thread(get_remote)
    assert status == 200 and orjson.loads(body) == {"status": "ok", "ready": True}


async def test_restarted_gateway_resumes_clients_without_missing_an_alert(make_gateway, kafka_bootstrap, unique):
    """Ids are Kafka positions: a new gateway process hands out the same ids."""
    grp, cid, s = f"g-{unique}", f"c-{unique}", f"s-{unique}"
    first = await make_gateway()
    ws = await open_client(first, supervisor_token(grp))
    await recv_json(ws)
    cursor = dict((await recv_json(ws))["cursor"])
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(first, s)
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"a1-{unique}", s, cid))
    seen = await collect_until(ws, lambda ms: bool(events_of(ms, s, "alert")))
    for m in events_of(seen):
        stream, _, offset = m["id"].rpartition(":")
        cursor[stream] = max(cursor.get(stream, -1), int(offset))
    await first.stop()  # the client is disconnected (1001) ...
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 30)

    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"a2-{unique}", s, cid))  # ... while this arrives
    second = await make_gateway()  # a fresh process state: re-reads the topics
    again = await open_client(second, supervisor_token(grp), resume=cursor)
    assert (await recv_json(again))["type"] == "welcome"
    resumed = await recv_json(again)
    assert resumed == {"type": "resumed", "missed": 1}
    missed = await recv_json(again)
    assert missed["data"]["alert_id"] == f"a2-{unique}"
    assert [a["alert_id"] for a in missed["summary"]["alerts"]] == [f"a1-{unique}", f"a2-{unique}"]
    await again.close()


async def test_a_client_resumes_on_the_other_replica_without_missing_an_alert(make_gateway, kafka_bootstrap, unique):
    """Two replicas behind one address (a load balancer may send a reconnect anywhere): the cursor a
    client got from one is exact on the other, because ids are Kafka positions both read."""
    grp, cid, s = f"g-{unique}", f"c-{unique}", f"s-{unique}"
    one, two = await make_gateway(), await make_gateway()
    ws = await open_client(one, supervisor_token(grp))
    await recv_json(ws)
    cursor = dict((await recv_json(ws))["cursor"])
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(one, s)
    await until_known(two, s)
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"a1-{unique}", s, cid))
    seen = await collect_until(ws, lambda ms: bool(events_of(ms, s, "alert")))
    for m in events_of(seen):
        stream, _, offset = m["id"].rpartition(":")
        cursor[stream] = max(cursor.get(stream, -1), int(offset))
    await ws.close()  # the client drops off replica one ...

    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"a2-{unique}", s, cid), ev.alert(f"a3-{unique}", s, cid))
    watcher = await open_client(two, supervisor_token(grp))  # ... replica two has applied both meanwhile
    await collect_until(watcher, lambda ms: any(m.get("type") == "snapshot" and any(
        x["session_id"] == s and len(x["alerts"]) == 3 for x in m["sessions"]) for m in ms)
        or len(events_of(ms, s, "alert")) == 2)
    await watcher.close()
    again = await open_client(two, supervisor_token(grp), resume=cursor)
    assert (await recv_json(again))["type"] == "welcome"
    assert await recv_json(again) == {"type": "resumed", "missed": 2}
    missed = [await recv_json(again) for _ in range(2)]
    assert [m["data"]["alert_id"] for m in missed] == [f"a2-{unique}", f"a3-{unique}"]  # nothing missed, no repeat

    # an ack made on replica two reaches a viewer on replica one
    other = await open_client(one, supervisor_token(grp))
    await collect_until(other, lambda ms: any(m.get("type") == "snapshot" for m in ms))
    await again.send(orjson.dumps({"type": "ack", "alert_id": f"a2-{unique}"}).decode())
    got = await collect_until(other, lambda ms: bool(events_of(ms, s, "ack")))
    assert events_of(got, s, "ack")[0]["data"]["alert_id"] == f"a2-{unique}"
    for w in (again, other):
        await w.close()
