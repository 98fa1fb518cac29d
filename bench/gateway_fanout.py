"""Gateway fan-out: connections held and broadcast latency at 100 / 1,000 / 5,000 clients.

    python bench/gateway_fanout.py            # 100, 1000, 5000 clients, 20 broadcasts each
    python bench/gateway_fanout.py --quick    # 100, 1000 clients, 8 broadcasts each
    python bench/gateway_fanout.py --clients 1000,5000 --repeat 3   # medians of 3 runs
    python bench/gateway_fanout.py --clients 1000 --events-per-broadcast 10   # bursts of 10 events

Two servers run in a child process each (one core for the server, one for the
clients, loopback only):

* gateway  — the real :class:`gateway.server.Gateway` (auth, visibility, per-connection
  queues and writer tasks, summaries); events are injected straight into the hub
  (no Kafka: this measures the fan-out, not the broker).
* baseline — a bare ``websockets`` server that sends the same frame to the same
  clients with ``websockets.asyncio.server.broadcast`` (no auth, no queues, no
  visibility): the floor the framework itself sets on this machine.

A broadcast is ``--events-per-broadcast K`` events (default 1) injected in one synchronous
run, as one Kafka fetch batch delivers them to the gateway's feed: K ``Gateway.apply`` calls
back to back (the gateway coalesces them into one socket write per connection), or K
``websockets.broadcast`` calls back to back (the baseline: one write per frame).

Latency of one delivery (one frame) = the client's receive time minus the server's inject
time of that event (CLOCK_MONOTONIC is system-wide on Linux, so two processes can compare
it). Reported: p50 / p99 over all (client, broadcast, event) deliveries, the p50 over
broadcasts of the time from the broadcast's start until the LAST client had its LAST frame,
and the ratios gateway / baseline of p50 and p99 (both servers measured in the same run,
alternating). With ``--repeat N`` each row is the median of N runs.

Whose figure is it? The clients (this process, one event loop parsing every frame)
can be the bottleneck instead of the server. For the broadcast phase of each run the
table shows the CPU time of the client process (``getrusage``) and of the server
child (``/proc/<pid>/stat``), as a share of one core over the phase's wall time and
as milliseconds per broadcast. A client at ~100 % of a core, or with client ms per
broadcast near the latency, means the latency is (partly) the load generator's.
Bounded: every wait has a deadline; a run that misses one reports what it got.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

SECRET = b"bench-secret-0123456789abcdef"
GROUP = "bench"
SESSION = "bench-session"


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- servers (child process) --------------------------------------------------------


def signal_payload(seq: int, index: int, start_ns: int) -> dict:
    """Event ``index`` of broadcast ``seq``: stamped with its own inject time and the broadcast's start."""
    return {"session_id": SESSION, "counselor_id": "bench-counselor", "at": "2026-01-01T00:00:00Z",
            "upto_turn_id": seq, "phase": "middle", "elapsed_s": 600.0, "client_length_ratio": 0.8,
            "client_latency_s": 12.0, "client_idle_s": 3.0, "question_streak": 1, "directive_density": 0.1,
            "minimal_response_rate": 0.0, "flags": [], "seq": seq, "index": index,
            "sent_ns": time.monotonic_ns(), "start_ns": start_ns}


async def serve_gateway(max_queue: int, per_broadcast: int) -> None:
    from gateway.history import EventId, StoredEvent
    from gateway.policy import Policy
    from gateway.server import Gateway, GatewayConfig

    # every client comes from 127.0.0.1 and up to 100 connect at once: let them all wait for their
    # hello (the default, 20 per address, would refuse most of the fleet and shrink the run)
    gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=None, policy=Policy(max_queue=max_queue),
                               heartbeat_s=3600, max_unauthenticated_per_address=200))
    await gw.start()
    gw.apply(StoredEvent(EventId.of("chat.sessions", 0, 0), "session", SESSION,
                         {"session_id": SESSION, "kind": "started", "at": "2026-01-01T00:00:00Z",
                          "counselor_id": "bench-counselor", "group": GROUP, "planned_minutes": 50}))
    offset = 0

    def inject(seq: int) -> None:
        nonlocal offset
        start_ns = time.monotonic_ns()
        for index in range(per_broadcast):  # back to back, as the feed applies one fetch batch
            offset += 1
            gw.apply(StoredEvent(EventId.of("alliance.signals", 0, offset), "signal", SESSION,
                                 signal_payload(seq, index, start_ns)))

    await control_loop(gw.port, inject, lambda: len(gw.hub.connections))
    await gw.stop()


async def serve_baseline(per_broadcast: int) -> None:
    from websockets.asyncio.server import broadcast, serve

    conns: set = set()

    async def handler(ws) -> None:
        await ws.recv()  # the hello (not checked: this is the floor, not a gateway)
        await ws.send(orjson.dumps({"type": "welcome"}).decode())
        await ws.send(orjson.dumps({"type": "snapshot", "sessions": []}).decode())
        conns.add(ws)
        try:
            await ws.wait_closed()
        finally:
            conns.discard(ws)

    server = await serve(handler, "127.0.0.1", 0, compression=None, max_queue=16, ping_interval=20)
    port = server.sockets[0].getsockname()[1]
    summary = {"session_id": SESSION, "risk": 0, "alerts": [], "scores": {}}  # similar frame size

    def inject(seq: int) -> None:
        start_ns = time.monotonic_ns()
        for index in range(per_broadcast):  # back to back: one write per frame and connection
            frame = orjson.dumps({"type": "event", "id": f"alliance.signals:0:{seq}:{index}", "kind": "signal",
                                  "session_id": SESSION, "data": signal_payload(seq, index, start_ns),
                                  "summary": summary}).decode()
            broadcast(conns, frame)

    await control_loop(port, inject, lambda: len(conns))
    server.close()
    await server.wait_closed()


async def control_loop(port: int, inject, count) -> None:
    """Line protocol on stdin/stdout: 'count' | 'broadcast K INTERVAL' | 'quit'."""
    print(f"port {port}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        cmd, *args = line.split()
        if cmd == "count":
            print(f"count {count()}", flush=True)
        elif cmd == "broadcast":
            k, interval = int(args[0]), float(args[1])
            for seq in range(k):
                inject(seq)
                await asyncio.sleep(interval)
            print("done", flush=True)


# --- clients (this process) ---------------------------------------------------------


class Fleet:
    def __init__(self, url: str, token: Callable[[], str]):
        self.url = url
        self.token = token  # one token per client: the gateway caps connections per token
        self.conns: list = []
        #: per client: (seq, index) -> (ns from that event's inject, ns from its broadcast's start)
        self.recv: list[dict[tuple[int, int], tuple[int, int]]] = []
        self.tasks: list[asyncio.Task] = []
        self.failed = 0

    async def connect(self, n: int, concurrency: int = 100, deadline_s: float = 120) -> None:
        from websockets.asyncio.client import connect

        sem = asyncio.Semaphore(concurrency)
        deadline = time.monotonic() + deadline_s

        async def one() -> None:
            async with sem:
                if time.monotonic() > deadline:
                    self.failed += 1
                    return
                try:
                    ws = await connect(self.url, compression=None, open_timeout=30, ping_interval=None,
                                       max_queue=256)
                    await ws.send(orjson.dumps({"type": "hello", "token": self.token()}).decode())
                    for _ in range(2):  # welcome + snapshot
                        await asyncio.wait_for(ws.recv(), 30)
                except Exception:  # noqa: BLE001 - any failure to connect counts as a failed client
                    self.failed += 1
                    return
                got: dict[tuple[int, int], tuple[int, int]] = {}
                self.conns.append(ws)
                self.recv.append(got)
                self.tasks.append(asyncio.create_task(self._read(ws, got)))

        await asyncio.gather(*(one() for _ in range(n)))

    @staticmethod
    async def _read(ws, got: dict[tuple[int, int], tuple[int, int]]) -> None:
        try:
            async for raw in ws:
                now = time.monotonic_ns()
                msg = orjson.loads(raw)
                if msg.get("type") == "event":
                    data = msg["data"]
                    got[(data["seq"], data["index"])] = (now - data["sent_ns"], now - data["start_ns"])
        except Exception:  # noqa: BLE001 - a dropped client stops counting; the report shows what arrived
            return

    def open_count(self) -> int:
        from websockets.protocol import State

        return sum(1 for ws in self.conns if ws.state is State.OPEN)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*(ws.close() for ws in self.conns), return_exceptions=True)


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


async def run_one(kind: str, n: int, broadcasts: int, interval: float, max_queue: int, per_broadcast: int) -> dict:
    cmd = [sys.executable, __file__, "--serve", kind, "--max-queue", str(max_queue),
           "--events-per-broadcast", str(per_broadcast)]
    # Popen returns once the child is started; its output is read off the loop (run_in_executor below)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)  # noqa: ASYNC220
    loop = asyncio.get_running_loop()

    async def ask(line: str | None, timeout: float = 300) -> str:
        if line is not None:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        return (await asyncio.wait_for(loop.run_in_executor(None, proc.stdout.readline), timeout)).strip()

    try:
        port = int((await ask(None, 60)).split()[1])
        from gateway.auth import issue_token

        # a token per client, as browsers have (one shared token would hit max_connections_per_token)
        fleet = Fleet(f"ws://127.0.0.1:{port}/ws", lambda: issue_token(SECRET, role="supervisor", groups=[GROUP]))
        t0 = time.monotonic()
        await fleet.connect(n)
        connect_s = time.monotonic() - t0
        await asyncio.sleep(2.0)  # hold
        server_count = int((await ask("count")).split()[1])
        held = min(fleet.open_count(), server_count)
        wall0, client0, server0 = time.monotonic(), self_cpu_s(), proc_cpu_s(proc.pid)
        await ask(f"broadcast {broadcasts} {interval}", timeout=broadcasts * interval + 120)
        frames = broadcasts * per_broadcast
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(len(g) < frames for g in fleet.recv):  # noqa: ASYNC110 - polls the clients' counters, with a deadline
            await asyncio.sleep(0.05)
        wall = time.monotonic() - wall0
        client_cpu, server_cpu = self_cpu_s() - client0, proc_cpu_s(proc.pid) - server0
        lat_ms = [v[0] / 1e6 for g in fleet.recv for v in g.values()]
        last_ms = []
        for seq in range(broadcasts):  # until the last client had the broadcast's last frame
            per = [g[(seq, per_broadcast - 1)][1] for g in fleet.recv if (seq, per_broadcast - 1) in g]
            if per:
                last_ms.append(max(per) / 1e6)
        delivered = len(lat_ms)
        await fleet.close()
        return {"kind": kind, "clients": n, "held": held, "failed": fleet.failed, "connect_s": connect_s,
                "delivered": delivered, "expected": n * frames, "p50": pct(lat_ms, 0.5), "p99": pct(lat_ms, 0.99),
                "last_p50": statistics.median(last_ms) if last_ms else float("nan"),
                "client_cpu": client_cpu / wall, "server_cpu": server_cpu / wall,
                "client_ms": 1000 * client_cpu / broadcasts, "server_ms": 1000 * server_cpu / broadcasts}
    finally:
        try:
            proc.stdin.write("quit\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def bench(args) -> None:
    from tqdm import tqdm

    sizes = tuple(int(x) for x in args.clients.split(",")) if args.clients else \
        (100, 1000) if args.quick else (100, 1000, 5000)
    broadcasts = args.broadcasts or (8 if args.quick else 20)
    runs: dict[tuple[int, str], list[dict]] = {}
    steps = [(n, kind) for n in sizes for _ in range(args.repeat) for kind in ("baseline", "gateway")]
    for n, kind in tqdm(steps, desc="fan-out runs", unit="run"):
        interval = 0.1 if n <= 100 else 0.25 if n <= 1000 else 1.0
        runs.setdefault((n, kind), []).append(
            await run_one(kind, n, broadcasts, interval, args.max_queue, args.events_per_broadcast))
    print()
    print(f"fd limit {raise_fd_limit()}, {broadcasts} broadcasts per run of {args.events_per_broadcast} event(s) "
          f"each (K, applied back to back), {args.repeat} run(s) per row (medians), frames ~1 KB, loopback, "
          f"server and clients in separate processes on {os.cpu_count()} cores")
    print("p50/p99 per frame; last p50 = broadcast start to the last client's last frame; cpu = share of one "
          "core during the broadcast phase (client = this load generator), ms/bc = CPU ms per broadcast")
    print(f"{'clients':>7} {'server':>8} {'held':>6} {'deliv.':>11} {'connect s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'last p50':>9} {'p50 x':>6} {'p99 x':>6} {'cli cpu':>7} {'cli ms/bc':>9} {'srv cpu':>7} "
          f"{'srv ms/bc':>9}")
    med = {}
    for key, rs in runs.items():
        med[key] = {k: (statistics.median(r[k] for r in rs) if isinstance(rs[0][k], (int, float)) else rs[0][k])
                    for k in rs[0]}
    for n in sizes:
        base = med[(n, "baseline")]
        for kind in ("baseline", "gateway"):
            r = med[(n, kind)]
            r50 = f"{r['p50'] / base['p50']:.2f}" if kind == "gateway" and base["p50"] else ""
            r99 = f"{r['p99'] / base['p99']:.2f}" if kind == "gateway" and base["p99"] else ""
            print(f"{n:>7} {kind:>8} {r['held']:>6.0f} {r['delivered']:>6.0f}/{r['expected']:<6.0f}"
                  f"{r['connect_s']:>7.1f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['last_p50']:>9.1f} "
                  f"{r50:>6} {r99:>6} {r['client_cpu']:>7.0%} {r['client_ms']:>9.1f} {r['server_cpu']:>7.0%} "
                  f"{r['server_ms']:>9.1f}")
            if r["held"] < n:
                print(f"        ^ only {r['held']:.0f} of {n} connections held: this row does not measure {n} clients")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="100 and 1,000 clients only, fewer broadcasts")
    p.add_argument("--clients", help="comma-separated client counts (default 100,1000,5000; --quick 100,1000)")
    p.add_argument("--broadcasts", type=int, help="broadcasts per run (default 20; --quick 8)")
    p.add_argument("--repeat", type=int, default=1, help="runs per (clients, server); rows show the medians")
    p.add_argument("--max-queue", type=int, default=1000, help="gateway per-connection queue bound")
    p.add_argument("--events-per-broadcast", type=int, default=1, metavar="K",
                   help="events injected back to back per broadcast, as one Kafka fetch batch (default 1)")
    p.add_argument("--serve", choices=("gateway", "baseline"), help=argparse.SUPPRESS)
    args = p.parse_args()
    raise_fd_limit()
    if not 1 <= args.events_per_broadcast < args.max_queue:
        p.error("--events-per-broadcast must be at least 1 and below --max-queue")
    if args.serve == "gateway":
        asyncio.run(serve_gateway(args.max_queue, args.events_per_broadcast))
    elif args.serve == "baseline":
        asyncio.run(serve_baseline(args.events_per_broadcast))
    else:
        asyncio.run(bench(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
