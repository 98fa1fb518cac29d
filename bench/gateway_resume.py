"""Gateway resume: what one ``{"resume": {}}`` costs the server, against a plain connect.

    python bench/gateway_resume.py              # 6,000 history events, 5 rounds; counselor part over 50,000
    python bench/gateway_resume.py --events 20000 --rounds 3 --counselor-events 50000
    python bench/gateway_resume.py --quick      # what `make bench` runs

The real :class:`gateway.server.Gateway` (no Kafka: events are injected into the
hub, as bench/gateway_fanout.py does) holds a history of N events over 100
sessions (scores with rationales and quotes, alerts with evidence, signals). Then,
per round, a real websocket client with an all-groups supervisor token connects

* baseline — with a plain ``hello`` (welcome + snapshot), and
* resume   — with ``hello`` + ``resume: {}`` (everything since the beginning),
* behind   — with a cursor ~900 events behind (within the resume budget),

and reads until the gateway has sent everything it queued at connect time. Measured
in the server's event loop:

* ``open`` — how long ``Hub.open`` (synchronous: nothing else runs) took;
* ``queued`` — bytes of encoded frames queued for the connection when ``open`` returned;
* ``stall`` — the longest the event loop did not run a 1 ms ticker while the
  connection was served (what every other client felt);
* ``done`` — time until the client had the last connect-time frame.

Prints medians per kind and the ratios to the baseline.

Second part (issue 21: one counselor token reconnecting with an empty cursor held
the loop 100+ ms): a counselor token over a history of ``--counselor-events``
(default 50,000) events of 100 sessions, 10 counselors, connects with

* current — the gateway's position (nothing missed),
* empty   — ``resume: {}`` (nothing seen: answered with a snapshot),
* forged  — offset -1 on every stream (everything missed: the scope index counts the
  counselor's own events, and past ``--max-resume`` it is a gap and a snapshot),

and prints the medians and the ratios empty/current and forged/current, measured in
the same run. The reconnect rate limit is off here (we measure the resume itself).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

SECRET = b"bench-secret-0123456789abcdef"
SESSIONS = 100


def _payloads(n: int):
    """N feed events over SESSIONS sessions: a start each, then scores, alerts and signals."""
    from tests.gateway import events as ev

    out = []
    for s in range(SESSIONS):
        out.append(("chat.sessions", "session", ev.started(f"s{s}", f"c{s % 10}", f"g{s % 5}")))
    i = 0
    while len(out) < n:
        sid, cid = f"s{i % SESSIONS}", f"c{(i % SESSIONS) % 10}"
        k = i % 10
        if k < 5:
            out.append(("alliance.signals", "signal", ev.signal(sid, cid, flags=("question_streak",))))
        elif k < 8:
            out.append(("alliance.scores", "score", ev.score(sid, cid, ("early", "middle", "late")[k - 5], 3, 3, 2)))
        else:
            out.append(("alliance.alerts", "alert", ev.alert(f"{sid}:a{i}", sid, cid)))
        i += 1
    return out[:n]


async def _serve_round(gw, url: str, token: str, resume: dict | None) -> dict:
    import websockets

    stats = {"open_ms": 0.0, "queued": 0}
    original = gw.hub.open

    def timed_open(hello, server_time):
        t0 = time.perf_counter()
        conn = original(hello, server_time)
        stats["open_ms"] = (time.perf_counter() - t0) * 1000
        stats["queued"] = sum(len(f) for f in conn.backlog if isinstance(f, str))
        stats["frames"] = len(conn.backlog)
        return conn

    gw.hub.open = timed_open
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(stall, now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    hello = {"type": "hello", "token": token}
    if resume is not None:
        hello["resume"] = resume
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send(orjson.dumps(hello).decode())
        received = 0
        while True:
            msg = orjson.loads(await ws.recv())
            received += 1
            if msg["type"] in ("snapshot", "position"):  # the last frame queued at connect time
                break
    stats["done_ms"] = (time.perf_counter() - t0) * 1000
    running = False
    await tick
    gw.hub.open = original
    stats["stall_ms"] = stall * 1000
    stats["received"] = received
    return stats


async def _loaded_gateway(n: int):
    from gateway.history import EventId, StoredEvent
    from gateway.policy import Policy
    from gateway.server import Gateway, GatewayConfig

    # the reconnect limit off (we measure the resume); a code base without the limit runs this bench too
    policy = Policy(**({"reconnect_rate": 0} if "reconnect_rate" in Policy.__dataclass_fields__ else {}))
    gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=None, policy=policy,
                               heartbeat_s=3600, history_events=max(n, 50_000)))
    await gw.start()
    offsets: dict[str, int] = {}
    for topic, kind, contract in _payloads(n):
        offsets[topic] = offsets.get(topic, -1) + 1
        gw.apply(StoredEvent(EventId.of(topic, 0, offsets[topic]), kind, contract.session_id,
                             contract.model_dump(mode="json")))
    return gw


def _print_medians(results: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    print(f"  {'':9s} {'open ms':>9s} {'queued MB':>10s} {'stall ms':>9s} {'done ms':>9s} {'frames':>7s}")
    med = {}
    for kind, rows in results.items():
        med[kind] = {k: statistics.median(r[k] for r in rows) for k in ("open_ms", "queued", "stall_ms", "done_ms",
                                                                         "received")}
        m = med[kind]
        print(f"  {kind:9s} {m['open_ms']:9.2f} {m['queued'] / 1e6:10.3f} {m['stall_ms']:9.1f} {m['done_ms']:9.2f} "
              f"{m['received']:7.0f}")
    return med


async def counselor_part(n: int, rounds: int) -> dict[str, float]:
    """Empty and forged cursors against a current one, for one counselor token."""
    from gateway.auth import issue_token

    gw = await _loaded_gateway(n)
    token = issue_token(SECRET, role="counselor", counselor_id="c0")
    current = dict(gw.hub.position)
    forged = {stream: -1 for stream in current}
    cursors = {"current": current, "empty": {}, "forged": forged}
    results: dict[str, list[dict]] = {k: [] for k in cursors}
    try:
        for _ in range(rounds):
            for kind, cursor in cursors.items():
                results[kind].append(await _serve_round(gw, gw.url, token, cursor))
    finally:
        await gw.stop()
    print(f"counselor resume (token c0, 10 of {SESSIONS} sessions), {n} history events, {rounds} rounds (medians)")
    med = _print_medians(results)
    c = med["current"]
    ratios = {}
    for kind in ("empty", "forged"):
        r = med[kind]
        ratios[kind] = r["open_ms"] / max(c["open_ms"], 1e-3)
        print(f"  ratio {kind}/current: open {ratios[kind]:.2f}x, done {r['done_ms'] / max(c['done_ms'], 1e-3):.2f}x, "
              f"stall {r['stall_ms'] / max(c['stall_ms'], 1e-3):.2f}x")
    return ratios


async def main_async(n: int, rounds: int) -> None:
    from gateway.auth import issue_token

    gw = await _loaded_gateway(n)
    token = issue_token(SECRET, role="supervisor", all_groups=True)
    # "behind": a client that missed the last ~900 events (300 per busy stream): within the budget
    behind = {stream: max(-1, off - (300 if not stream.startswith("chat.") else 0))
              for stream, off in gw.hub.position.items()}
    cursors = {"baseline": None, "resume": {}, "behind": behind}
    results: dict[str, list[dict]] = {k: [] for k in cursors}
    try:
        for _ in range(rounds):
            for kind, cursor in cursors.items():
                results[kind].append(await _serve_round(gw, gw.url, token, cursor))
    finally:
        await gw.stop()
    print(f"gateway resume, {n} history events over {SESSIONS} sessions, {rounds} rounds (medians)")
    med = _print_medians(results)
    b = med["baseline"]
    for kind in ("resume", "behind"):
        r = med[kind]
        print(f"  ratio {kind}/baseline: open {r['open_ms'] / max(b['open_ms'], 1e-3):.1f}x, "
              f"queued {r['queued'] / max(b['queued'], 1):.1f}x, "
              f"stall {r['stall_ms'] / max(b['stall_ms'], 1e-3):.1f}x, done {r['done_ms'] / max(b['done_ms'], 1e-3):.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=6000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--counselor-events", type=int, default=50_000)
    p.add_argument("--quick", action="store_true", help="small and short: 2,000 / 10,000 events, 3 rounds")
    args = p.parse_args()
    if args.quick:
        args.events, args.rounds, args.counselor_events = 2000, 3, 10_000
    asyncio.run(main_async(args.events, args.rounds))
    asyncio.run(counselor_part(args.counselor_events, max(args.rounds, 5)))


if __name__ == "__main__":
    main()
