"""The gateway's /metrics: parsed by the client library's own parser, moving with real traffic
(broker → feed → websocket), and shown to local callers only."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import pytest

from alliance_monitor.status import parse_samples, total
from streams.topics import ALERTS, CHAT_SESSIONS

from .conftest import collect_until, counselor_token, events_of, open_client, publish, supervisor_token, until_known
from .events import alert, started

pytestmark = pytest.mark.integration


async def metrics_of(url: str) -> dict:
    def get() -> str:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            return resp.read().decode()

    return parse_samples(await asyncio.to_thread(get))


async def test_gateway_metrics_move_when_events_reach_connections(gateway, kafka_bootstrap, unique):
    sid, cid = f"met-{unique}", f"c-{unique}"
    before = await metrics_of(gateway.http_url)
    sup = await open_client(gateway, supervisor_token(all_groups=True))
    couns = await open_client(gateway, counselor_token(cid))
    await publish(kafka_bootstrap, CHAT_SESSIONS.name, started(sid, cid, group="g"))
    await until_known(gateway, sid)
    await publish(kafka_bootstrap, ALERTS.name, alert(f"{sid}:middle:bond:drop", sid, cid))
    await collect_until(sup, lambda ms: events_of(ms, sid, "alert"))
    await collect_until(couns, lambda ms: events_of(ms, sid, "alert"))
    during = await metrics_of(gateway.http_url)
    await sup.close()
    await couns.close()
    await asyncio.sleep(0.3)
    after = await metrics_of(gateway.http_url)

    assert total(during, "alliance_gateway_connections", role="supervisor") == 1
    assert total(during, "alliance_gateway_connections", role="counselor") == 1
    assert total(after, "alliance_gateway_connections") == 0
    assert total(during, "alliance_gateway_frames_total") >= total(before, "alliance_gateway_frames_total") + 4
    assert total(during, "alliance_gateway_events_total") >= total(before, "alliance_gateway_events_total") + 2
    # every frame went out in some socket write (welcome + snapshot of each client share one)
    assert total(during, "alliance_gateway_socket_writes_total") >= \
        total(before, "alliance_gateway_socket_writes_total") + 2
    assert total(during, "alliance_gateway_frames_coalesced_total") >= \
        total(before, "alliance_gateway_frames_coalesced_total") + 4
    assert total(during, "alliance_gateway_feed_records_total", outcome="applied") >= \
        (total(before, "alliance_gateway_feed_records_total", outcome="applied") or 0) + 2
    assert total(during, "alliance_consumer_lag_records", part="gateway") is not None
    # the alert was made just now: its delivery latency is counted once (not per connection), and small
    delivered = total(during, "alliance_gateway_delivery_seconds_count", kind="alert") - \
        (total(before, "alliance_gateway_delivery_seconds_count", kind="alert") or 0)
    seconds = total(during, "alliance_gateway_delivery_seconds_sum", kind="alert") - \
        (total(before, "alliance_gateway_delivery_seconds_sum", kind="alert") or 0)
    assert delivered == 1 and 0 <= seconds < 30


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: it only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


async def test_gateway_metrics_are_refused_to_other_hosts(make_gateway):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to call from")
    gw = await make_gateway(host="0.0.0.0")
    assert "alliance_gateway_frames_total" in await metrics_of(gw.http_url)  # 127.0.0.1: served
    with pytest.raises(urllib.error.HTTPError) as refused:
        await metrics_of(f"http://{address}:{gw.port}")
    assert refused.value.code == 403


def test_hub_counters_never_go_down_when_a_hub_is_gone():
    """Several hubs in one process (tests, a restarted gateway object): the totals keep what a gone hub counted."""
    import gc

    from gateway.history import MemoryHistory
    from gateway.hub import Hub
    from gateway.metrics import HubCollector

    collector = HubCollector()
    first, second = Hub(MemoryHistory()), Hub(MemoryHistory())
    for hub, n in ((first, 5), (second, 3)):
        collector.watch(hub)
        hub.stats["frames"] += n

    def frames() -> float:
        family = next(f for f in collector.collect() if f.name == "alliance_gateway_frames")
        return family.samples[0].value

    assert frames() == 8
    del first
    gc.collect()
    assert frames() == 8  # the gone hub's count stays in the total
    second.stats["frames"] += 1
    assert frames() == 9


def test_write_counts_say_how_many_frames_shared_a_write_and_survive_their_gateway():
    import gc

    from gateway.history import MemoryHistory
    from gateway.hub import Hub
    from gateway.metrics import HubCollector, WriteCounts

    collector = HubCollector()
    hub, writes = Hub(MemoryHistory()), WriteCounts()
    collector.watch(hub, writes)
    writes.count(1)  # a frame alone in its write
    writes.count(3)  # three frames in one write

    def value(name: str) -> float:
        return next(f for f in collector.collect() if f.name == name).samples[0].value

    assert value("alliance_gateway_socket_writes") == 2
    assert value("alliance_gateway_frames_coalesced") == 3
    del writes
    gc.collect()
    assert value("alliance_gateway_socket_writes") == 2  # a counter never goes down
    assert value("alliance_gateway_frames") == 0  # "frames_written" is not mistaken for the hub's "frames"
