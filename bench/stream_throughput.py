"""Stream processor throughput and turn -> signal latency, against a raw-Kafka baseline in the same run.

    python bench/stream_throughput.py            # N = 100, 1,000, 10,000 concurrent sessions
    python bench/stream_throughput.py --quick    # N = 100, 1,000, shorter phases
    python bench/stream_throughput.py --sessions 10000 --workers 1 2   # one vs two processor workers
    python bench/stream_throughput.py --sessions 10000 --cpus 0         # everything on one core: what a core buys

For each N: every session sends a ``started`` event, then turns at a realistic
pace (one message every ``--turn-every`` seconds per session, both speakers,
with jitter), for ``--seconds`` seconds, through ONE ``alliance-monitor process``
worker (a real subprocess), or ``--workers K`` of them in one group (the partitions
of chat.turns split between them; the run waits until every partition is assigned). Latency = wall time from producing a turn until
its ProcessSignal is read back (``--signal-interval 0``: a signal per turn).
Every session's ``started`` and first turns arrive at once, so the p50/p99 are
also given for the *steady* part alone: turns sent ``--warmup`` seconds or more
after the paced phase began.
Then a burst of ``--burst`` turns measures the sustained drain rate.

The baseline is the same records, same pace, same broker, produced to a plain
topic and read straight back (no processor): the ratio says what the processor
costs on top of Kafka itself. Everything runs on this machine's cores (broker,
worker and load generator share them), so absolute numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.broker import EmbeddedBroker, ensure_topics  # noqa: E402
from streams.codec import encode  # noqa: E402
from streams.contracts import ChatTurn, SessionEvent  # noqa: E402
from streams.topics import CHAT_SESSIONS, CHAT_TURNS, SIGNALS, TopicSpec  # noqa: E402
from tests.streams.worker_process import WorkerProcess  # noqa: E402

RAW = TopicSpec("bench.raw", ChatTurn, 3600 * 1000, True, "benchmark baseline", partitions=CHAT_TURNS.partition_count())
TEXTS = [
    "I have been feeling stuck at work and cannot sleep.",
    "It sounds like that has been exhausting. What helps?",
    "ok",
    "Talking to my sister sometimes, and walks.",
    "What would you like to be different this week?",
    "嗯，我最近压力很大",
]


@dataclass
class Result:
    label: str
    n_sessions: int
    offered: float
    sent: int
    received: int
    rate: float
    p50_ms: float
    p99_ms: float
    burst_rate: float
    steady_p50_ms: float
    steady_p99_ms: float
    steady_n: int


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Collector:
    """Reads a topic from its end; latency = now - the turn's sent_at carried in the record."""

    def __init__(self, bootstrap: str, topic: str, prefix: str, signal: bool):
        self.bootstrap, self.topic, self.prefix, self.signal = bootstrap, topic, prefix.encode(), signal
        self.latencies: list[tuple[float, float]] = []  # (sent at, latency), both seconds
        self.count = 0
        self.last_at = 0.0

    async def start(self):
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self.c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await self.c.start()
        parts = self.c.partitions_for_topic(self.topic)
        while not parts:
            await self.c._client.force_metadata_update()
            parts = self.c.partitions_for_topic(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self.c.assign(tps)
        await self.c.seek_to_end(*tps)
        for tp in tps:
            await self.c.position(tp)
        self.task = asyncio.create_task(self._run())

    async def _run(self):
        while True:
            batch = await self.c.getmany(timeout_ms=100)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    if not (r.key or b"").startswith(self.prefix):
                        continue
                    data = orjson.loads(r.value)
                    at = data["at"] if self.signal else data["sent_at"]
                    sent = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
                    self.latencies.append((sent, now - sent))
                    self.count += 1
                    self.last_at = now

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        await self.c.stop()


async def drive(bootstrap: str, topic: str, sessions_topic: str | None, n: int, seconds: float, turn_every: float,
                burst: int, signal: bool, label: str, warmup: float) -> Result:
    from aiokafka import AIOKafkaProducer
    from tqdm import tqdm

    prefix = f"b{uuid.uuid4().hex[:6]}-"
    sids = [f"{prefix}{i}" for i in range(n)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    collector = Collector(bootstrap, SIGNALS.name if signal else topic, prefix, signal)
    await collector.start()
    turn_ids = dict.fromkeys(sids, 0)
    rng = random.Random(7)

    def turn(sid: str) -> ChatTurn:
        tid = turn_ids[sid]
        turn_ids[sid] = tid + 1
        return ChatTurn(session_id=sid, turn_id=tid, speaker="counselor" if tid % 2 == 0 else "client",
                        text=TEXTS[tid % len(TEXTS)], sent_at=datetime.now(timezone.utc), counselor_id="c-bench")

    try:
        if sessions_topic:
            now = datetime.now(timezone.utc)
            for sid in sids:
                await producer.send(sessions_topic, key=sid.encode(), value=encode(SessionEvent(
                    session_id=sid, kind="started", at=now, counselor_id="c-bench", planned_minutes=50)))
            await producer.flush()
        # paced phase: each session's next turn after turn_every seconds (+-50% jitter)
        due = sorted((rng.uniform(0, turn_every), sid) for sid in sids)
        heapq.heapify(due)
        offered = n / turn_every
        start = time.monotonic()
        steady_from = time.time() + warmup  # turns sent after this are past the start-up burst
        sent = 0
        with tqdm(total=int(offered * seconds), desc=f"{label} N={n}", unit="turn", leave=False) as bar:
            while True:
                t, sid = due[0]
                if t > seconds:
                    break
                wait = start + t - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                heapq.heapreplace(due, (t + turn_every * rng.uniform(0.5, 1.5), sid))
                await producer.send(topic, key=sid.encode(), value=encode(turn(sid)))
                sent += 1
                bar.update(1)
        await producer.flush()
        deadline = time.monotonic() + 30
        while collector.count < sent and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the collector's counter, with a deadline
            await asyncio.sleep(0.1)
        paced_latencies = list(collector.latencies)
        received = collector.count
        # burst: as fast as we can produce, then wait for the last output
        before = collector.count
        t0 = time.time()
        for i in range(burst):
            sid = sids[i % n]
            await producer.send(topic, key=sid.encode(), value=encode(turn(sid)))
        await producer.flush()
        deadline = time.monotonic() + 120
        while collector.count - before < burst and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the collector's counter, with a deadline
            await asyncio.sleep(0.05)
        got = collector.count - before
        burst_rate = got / max(1e-9, collector.last_at - t0) if got else 0.0
        lat_ms = [x * 1000 for _, x in paced_latencies]
        steady_ms = [x * 1000 for at, x in paced_latencies if at >= steady_from]
        return Result(label, n, offered, sent, received, received / seconds, pct(lat_ms, 0.5), pct(lat_ms, 0.99),
                      burst_rate, pct(steady_ms, 0.5), pct(steady_ms, 0.99), len(steady_ms))
    finally:
        await collector.stop()
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 100 and 1,000, 8-second phases")
    ap.add_argument("--sessions", type=int, nargs="+", help="override the N values")
    ap.add_argument("--seconds", type=float, help="length of each paced phase (default 30; quick 8)")
    ap.add_argument("--turn-every", type=float, default=20.0,
                    help="mean seconds between two messages of one session (default 20)")
    ap.add_argument("--burst", type=int, default=None, help="turns in the drain burst (default 3000; quick 1000)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds at the start of the paced phase left out of the steady p50/p99: every session's "
                         "`started` and first turns arrive at once there (default 10; quick 3)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1],
                    help="processor workers in one group, one run per value (default 1)")
    ap.add_argument("--standby-replicas", type=int, default=1,
                    help="the workers' table standbys (default 1, the worker's default; with two workers each "
                         "also follows the other's changelog)")
    ap.add_argument("--cpus", help="run everything (broker, workers, load generator) on these CPUs only, e.g. 0 or "
                                   "0,1: the same bench on one core and on two says what a core buys")
    ap.add_argument("--max-batch-bytes", type=int, default=16384,
                    help="the worker's producer batch size (default 16384, the worker's default; 1 = one record per "
                         "batch, the former workaround for Tansu's end offsets)")
    args = ap.parse_args(argv)
    if args.cpus:
        try:
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})  # children (broker, workers) inherit it
        except (ValueError, OSError) as err:
            ap.error(f"--cpus {args.cpus!r}: {err}")
    ns = args.sessions or ([100, 1000] if args.quick else [100, 1000, 10000])
    seconds = args.seconds or (8.0 if args.quick else 30.0)
    args.warmup = args.warmup if args.warmup is not None else (3.0 if args.quick else 10.0)
    if args.warmup >= seconds:
        ap.error(f"--warmup ({args.warmup:g}s) must be shorter than the paced phase ({seconds:g}s)")
    burst = args.burst or (1000 if args.quick else 3000)

    results: list[tuple[int, Result, Result]] = []
    t_start = time.monotonic()
    code = 0
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        ensure_topics(broker.bootstrap, [RAW])
        for k in args.workers:
            app_id = f"bench-{uuid.uuid4().hex[:6]}"
            workers = [WorkerProcess(broker.bootstrap, app_id, "--signal-interval", "0", "--no-process-alerts",
                                     "--max-batch-bytes", str(args.max_batch_bytes),
                                     "--standby-replicas", str(args.standby_replicas)).start(timeout=120)
                       for _ in range(k)]
            try:
                _wait_split(workers)
                for n in ns:
                    base = asyncio.run(drive(broker.bootstrap, RAW.name, None, n, seconds, args.turn_every, burst,
                                             False, "baseline", args.warmup))
                    proc = asyncio.run(drive(broker.bootstrap, CHAT_TURNS.name, CHAT_SESSIONS.name, n, seconds,
                                             args.turn_every, burst, True, f"{k} worker{'s' if k > 1 else ''}",
                                             args.warmup))
                    results.append((k, base, proc))
            finally:
                code = max(code, *(abs(w.stop()) for w in workers))
    print()
    print(f"stream processor benchmark: CPUs {sorted(os.sched_getaffinity(0))}, workers {args.workers} "
          f"(standby replicas {args.standby_replicas}), turn every {args.turn_every:g}s per session, "
          f"{seconds:g}s paced + {burst}-turn burst per N (total {time.monotonic() - t_start:.0f}s)")
    print(f"{'N':>6} {'path':10} {'offered/s':>9} {'sent':>6} {'recv':>6} {'turns/s':>8} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'steady p50':>10} {'steady p99':>10} {'burst/s':>8}")
    for _k, base, proc in results:
        for r in (base, proc):
            print(f"{r.n_sessions:>6} {r.label:10} {r.offered:>9.1f} {r.sent:>6} {r.received:>6} {r.rate:>8.1f} "
                  f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.steady_p50_ms:>10.1f} {r.steady_p99_ms:>10.1f} "
                  f"{r.burst_rate:>8.0f}")
        print(f"{'':>6} {'ratio':10} {'':>9} {'':>6} {'':>6} {_ratio(proc.rate, base.rate):>8.2f} "
              f"{_ratio(proc.p50_ms, base.p50_ms):>8.1f} {_ratio(proc.p99_ms, base.p99_ms):>8.1f} "
              f"{_ratio(proc.steady_p50_ms, base.steady_p50_ms):>10.1f} "
              f"{_ratio(proc.steady_p99_ms, base.steady_p99_ms):>10.1f} "
              f"{_ratio(proc.burst_rate, base.burst_rate):>8.2f}")
    print("ratio = processor / baseline (latency: how many times slower; rates: fraction of raw Kafka)")
    us_started, us_turn = core_cost(max(ns), 3 * max(ns))
    burst_rates = [proc.burst_rate for k, _, proc in results if k == 1 and proc.burst_rate]
    worker_us = 1e6 / statistics.median(burst_rates) if burst_rates else float("nan")
    print(f"pure core in this process (no Faust, no Kafka): {us_started:.0f} us per started, {us_turn:.0f} us per turn"
          f" (decode, state copy, on_turn, signal encode, table values as JSON); one worker's drain: "
          f"{worker_us:.0f} us per turn -> the core is {us_turn / worker_us:.0%} of it" if burst_rates else "")
    print(f"steady = turns sent {args.warmup:g}s or more after the paced phase began (every session's `started` and "
          "first turns arrive at once before that)")
    if code != 0:
        print(f"a worker exited with {code}", file=sys.stderr)
    return 0


def core_cost(n_sessions: int, turns: int) -> tuple[float, float]:
    """The pure core's CPU per event, in this process: decode, ``on_session_event``/``on_turn``, state copy, encode.

    The same steps the worker's agent takes for a record, minus Faust, aiokafka and the
    broker; beside the worker's drain rate it says which side a faster worker must come
    from. Returns (microseconds per ``started``, microseconds per turn).
    """
    from streams import session_state as core
    from streams.codec import decode
    from streams.processor import _copy

    s = core.ProcessorSettings(signal_min_interval_s=0.0)
    now = datetime.now(timezone.utc)
    sids = [f"core-{i}" for i in range(n_sessions)]
    states: dict[str, dict] = {}
    started = [encode(SessionEvent(session_id=sid, kind="started", at=now, counselor_id="c-bench",
                                   planned_minutes=50)) for sid in sids]
    t0 = time.process_time()
    for sid, raw in zip(sids, started, strict=True):
        out = core.on_session_event(_copy(states.get(sid)), decode(SessionEvent, raw), time.time(), s)
        states[sid] = orjson.loads(orjson.dumps(out.state))  # what the table's JSON codec does
    per_started = (time.process_time() - t0) / n_sessions
    records = [encode(ChatTurn(session_id=sids[i % n_sessions], turn_id=i // n_sessions,
                               speaker="counselor" if (i // n_sessions) % 2 == 0 else "client",
                               text=TEXTS[i % len(TEXTS)], sent_at=datetime.now(timezone.utc),
                               counselor_id="c-bench")) for i in range(turns)]
    t0 = time.process_time()
    for raw in records:
        turn = decode(ChatTurn, raw)
        out = core.on_turn(_copy(states.get(turn.session_id)), turn, time.time(), s)
        if out.signal is not None:
            encode(out.signal)
        states[turn.session_id] = orjson.loads(orjson.dumps(out.state))
        orjson.dumps([turn.speaker, core.text_for_model(turn, s)])  # the texts table value
    per_turn = (time.process_time() - t0) / turns
    return per_started * 1e6, per_turn * 1e6


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _wait_split(workers: list, timeout: float = 120.0) -> None:
    """Until the workers' last assignments cover every partition of chat.turns (no rebalance left)."""
    want = list(range(CHAT_TURNS.partition_count()))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = [p for w in workers for p in (w.partitions() or [])]
        if sorted(held) == want:
            return
        time.sleep(0.2)
    raise TimeoutError(f"partitions not split between {len(workers)} workers within {timeout:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
