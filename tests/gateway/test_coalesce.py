"""Coalesced writes (gateway/fanout.py ``FanOut._flush`` and the writer task) over real websockets.

No broker: events are applied with ``Gateway.apply`` back to back, exactly as the Kafka feed
applies one fetch batch (gateway/feed.py). The server-side transport of a connection is
wrapped only to COUNT its writes; every byte still goes through the real socket.
"""

from __future__ import annotations

import asyncio
import socket
import time

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from gateway.client_messages import CLOSE_TOO_SLOW
from gateway.fanout import DIRECT_WRITE_LIMIT, WRITE_BATCH_BYTES
from gateway.feed import to_event
from gateway.history import StoredEvent
from gateway.policy import Policy
from gateway.server import Gateway, GatewayConfig
from streams.codec import encode
from streams.topics import CHAT_SESSIONS, SCORES, SIGNALS
from tests.gateway import events as ev
from tests.gateway.conftest import SECRET, collect_until, events_of, recv_json, supervisor_token

GROUP, COUNSELOR, SESSION = "g-burst", "c-burst", "s-burst"


class Feed:
    """Numbers records like the topics do and turns them into the events the feed applies."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}

    def event(self, topic: str, record) -> StoredEvent:
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        return to_event(topic, 0, offset, encode(record))

    def signal(self, n: int) -> StoredEvent:
        return self.event(SIGNALS.name, ev.signal(SESSION, COUNSELOR, flags=(f"n{n}",)))


class WriteCounter:
    """Counts ``transport.write`` calls of one server-side connection (the bytes still go out)."""

    def __init__(self, ws: ServerConnection) -> None:
        self.calls = 0
        self.bytes = 0
        write = ws.transport.write

        def counted(data: bytes) -> None:
            self.calls += 1
            self.bytes += len(data)
            write(data)

        ws.transport.write = counted  # type: ignore[method-assign]  # the spy: counts the socket writes


@pytest.fixture
async def gateway_with_session():
    """A gateway without Kafka (events are applied directly) that knows one session."""
    gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=None, policy=Policy(max_queue=200), heartbeat_s=3600))
    await gw.start()
    feed = Feed()
    gw.apply(feed.event(CHAT_SESSIONS.name, ev.started(SESSION, COUNSELOR, GROUP)))
    yield gw, feed
    await gw.stop()


async def joined(gw: Gateway, name: str, **kw):
    """A supervisor client that has its welcome and snapshot; and its server-side connection."""
    ws = await connect(gw.url, **kw)
    await ws.send(orjson.dumps({"type": "hello", "token": supervisor_token(GROUP, name=name)}).decode())
    if not kw.get("sock"):
        assert (await recv_json(ws))["type"] == "welcome"
        assert (await recv_json(ws))["type"] == "snapshot"
    deadline = time.monotonic() + 10
    while True:
        conns = [c for c in gw.hub.connections.values() if c.viewer.name == name]
        if conns and conns[0].id in gw.fanout.idle:  # the writer sent the backlog and parked
            return ws, gw.fanout.links[conns[0].id][0]
        assert time.monotonic() < deadline, f"{name} never joined"
        await asyncio.sleep(0.01)


async def counted_reader(gw: Gateway):
    """A joined client, a counter of its server-side writes, and the gateway's write counts before."""
    client, server_side = await joined(gw, "reader")
    return client, WriteCounter(server_side), dict(gw.writes.stats)


def flags_of(messages: list[dict]) -> list[str]:
    return [m["data"]["flags"][0] for m in events_of(messages, SESSION, "signal")]


async def test_a_burst_applied_in_one_run_reaches_the_client_in_one_write(gateway_with_session):
    gw, feed = gateway_with_session
    client, counted, before = await counted_reader(gw)
    n = 40
    for i in range(n):  # one fetch batch: no await in between
        gw.apply(feed.signal(i))
    assert counted.calls == 0  # nothing is written inside apply: the flush runs at the end of the turn
    got = await collect_until(client, lambda ms: len(flags_of(ms)) >= n)
    writes = counted.calls
    await client.send(orjson.dumps({"type": "ping", "ref": "end"}).decode())
    got += await collect_until(client, lambda ms: any(m.get("type") == "pong" for m in ms))
    assert flags_of(got) == [f"n{i}" for i in range(n)]  # complete, in order, nothing twice
    assert writes < n and 1 <= writes <= 1 + counted.bytes // WRITE_BATCH_BYTES  # here: one
    assert gw.writes.stats["writes"] - before["writes"] == writes + 1  # + the pong's
    assert gw.writes.stats["coalesced"] - before["coalesced"] == n
    assert gw.writes.stats["frames_written"] - before["frames_written"] == n + 1
    await client.close()


async def test_events_applied_one_per_loop_turn_each_leave_in_that_turn(gateway_with_session):
    gw, feed = gateway_with_session
    client, counted, before = await counted_reader(gw)
    n = 30
    for i in range(n):
        gw.apply(feed.signal(i))
        await asyncio.sleep(0)  # one loop turn: the flush has run, nothing waits for a next event
        assert counted.calls == i + 1
    got = await collect_until(client, lambda ms: len(flags_of(ms)) >= n)
    assert flags_of(got) == [f"n{i}" for i in range(n)]
    assert gw.writes.stats["writes"] - before["writes"] == n
    assert gw.writes.stats["coalesced"] == before["coalesced"]  # alone in its write, every one
    await client.close()


async def test_a_busy_writer_sends_what_piled_up_in_one_write(gateway_with_session):
    """The writer task's path: a client that stopped reading for a moment gets the frames that
    queued meanwhile in one write once its socket drains, not one write per frame."""
    gw, feed = gateway_with_session
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    client, server_side = await joined(gw, "pausing", sock=sock, max_queue=1)
    server_side.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    counted = WriteCounter(server_side)
    conn = next(c for c in gw.hub.connections.values() if c.viewer.name == "pausing")
    for _ in range(20):  # big frames until the socket is full and the writer waits for it to drain
        gw.apply(feed.event(SCORES.name, ev.score(SESSION, COUNSELOR, "early", 3, 3, 3, pad=1000)))
        await asyncio.sleep(0.01)
        if server_side.transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT and conn.id not in gw.fanout.idle:
            break
    assert conn.id not in gw.fanout.idle, "the socket never filled up"
    n = 30
    for i in range(n):
        gw.apply(feed.signal(i))
    await asyncio.sleep(0.05)
    assert len(conn.outbox) == n  # queued behind the full socket (the writer owns them now)
    calls_before = counted.calls
    got = await collect_until(client, lambda ms: len(flags_of(ms)) >= n)  # reading again drains the socket
    assert flags_of(got) == [f"n{i}" for i in range(n)]
    assert counted.calls - calls_before <= 2  # the 30 small frames in one write (two if a score was left)
    assert not conn.closing and gw.hub.stats["cut_slow"] == 0
    await client.close()


async def test_a_slow_client_is_still_cut_while_a_normal_one_gets_every_burst(gateway_with_session):
    gw, feed = gateway_with_session
    normal, normal_side = await joined(gw, "normal")
    counted = WriteCounter(normal_side)
    got: list[dict] = []

    async def read_normal() -> None:
        while True:
            got.append(orjson.loads(await normal.recv()))

    reader = asyncio.create_task(read_normal())
    sock = socket.socket()  # the slow client: a tiny receive buffer, and it reads nothing
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    slow, slow_side = await joined(gw, "slow", sock=sock, max_queue=1)
    slow_side.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    slow_transport = slow_side.transport
    produced = biggest = buffered = 0
    for _ in range(200):  # bounded: bursts until the gateway cuts the slow client off
        burst = [feed.signal(produced + i) for i in range(20)]
        burst.append(feed.event(SCORES.name, ev.score(SESSION, COUNSELOR, "early", 3, 3, 3, pad=300)))
        for event in burst:  # one fetch batch
            gw.apply(event)
        produced += 20
        biggest = max(biggest, max((len(f.encode()) for c in gw.hub.connections.values() for f in c.outbox),
                                   default=0))
        await asyncio.sleep(0.02)
        buffered = max(buffered, slow_transport.get_write_buffer_size())
        if gw.hub.stats["cut_slow"]:
            break
    assert gw.hub.stats["cut_slow"] == 1, "the slow client was never cut off"
    # what a slow client holds in the gateway's memory beyond its outbox stays bounded
    assert buffered <= slow_side.write_limit_high + WRITE_BATCH_BYTES + biggest
    for _ in range(300):
        if len(flags_of(got)) >= produced or reader.done():
            break
        await asyncio.sleep(0.05)
    reader.cancel()
    assert flags_of(got) == [f"n{i}" for i in range(produced)]  # every burst, in order, nothing twice
    assert counted.calls < len(events_of(got))  # ... in fewer writes than frames
    normal_conn = [c for c in gw.hub.connections.values() if c.viewer.name == "normal"]
    assert len(normal_conn) == 1 and not normal_conn[0].closing
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(slow.recv(), 30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_SLOW
    await normal.close()
