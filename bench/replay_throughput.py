"""Replay throughput into the embedded broker, and consume-back latency.

    python bench/replay_throughput.py            # full run (~1 min)
    python bench/replay_throughput.py --quick    # smaller

Figures:
* replay turns/s at ``--speed max`` (validated contracts, keyed, one in-flight
  request per connection for per-session ordering) — median of ``--repeat`` runs;
* baseline: a bare kafka-python producer sending the same pre-encoded bytes with
  default settings, measured in the same run; the ratio replay/baseline says
  what the replay's guarantees cost;
* consume-back latency p50/p99 (producer CreateTime → aiokafka consumer receipt)
  while replaying at a paced, realistic rate.

Uses ``KAFKA_BOOTSTRAP`` when set, else starts an embedded Tansu broker.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.broker import ensure_topics, kafka_bootstrap
from streams.codec import encode
from streams.contracts import ChatTurn
from streams.replay import ReplayEvent, publish

TEXTS = [
    "I have been sleeping badly since the exams started.",
    "What would you like to be different by the end of today?",
    "ok",
    "It sounds like the pressure comes mostly from home.",
    "我最近工作压力很大，晚上总是睡不着。",
]


def synthetic_events(sessions: int, turns_per_session: int, tag: str) -> list[ReplayEvent]:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    events = []
    for n in range(turns_per_session):
        for s in range(sessions):
            at = t0 + timedelta(seconds=n * 30 + s * 0.01)
            turn = ChatTurn(session_id=f"bench-{tag}-{s}", turn_id=n, speaker="client" if n % 2 else "counselor",
                            text=TEXTS[(n + s) % len(TEXTS)], sent_at=at, counselor_id=f"c-{s % 10}")
            events.append(ReplayEvent("chat.turns", turn, at, "bench", n))
    events.sort(key=lambda e: e.at)
    return events


def baseline_produce(bootstrap: str, events: list[ReplayEvent]) -> float:
    from kafka import KafkaProducer

    payloads = [(e.session_id.encode(), encode(e.event)) for e in events]
    p = KafkaProducer(bootstrap_servers=bootstrap)
    start = time.perf_counter()
    for key, value in payloads:
        p.send("chat.turns", key=key, value=value)
    p.flush()
    elapsed = time.perf_counter() - start
    p.close()
    return len(payloads) / elapsed


def replay_rate(bootstrap: str, events: list[ReplayEvent]) -> float:
    stats = publish(events, bootstrap, speed=float("inf"), progress=False)
    return stats.published / stats.elapsed_s


def consume_latencies(bootstrap: str, tag: str, expect: int, ready: threading.Event, out: list[float],
                      fetch_wait_ms: int) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                              fetch_max_wait_ms=fetch_wait_ms)
        await c.start()
        tps = [TopicPartition("chat.turns", p) for p in sorted(c.partitions_for_topic("chat.turns"))]
        c.assign(tps)
        await c.seek_to_end(*tps)
        for tp in tps:
            await c.position(tp)
        ready.set()
        prefix = f"bench-{tag}-".encode()
        deadline = time.monotonic() + 120
        while len(out) < expect and time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=100)
            now_ms = time.time() * 1000
            for recs in batch.values():
                for r in recs:
                    if r.key.startswith(prefix):
                        out.append(now_ms - r.timestamp)
        await c.stop()

    asyncio.run(run())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sessions, turns = (50, 40) if args.quick else (200, 60)
    paced_rate = 200 if args.quick else 500  # turns/s while measuring latency

    with kafka_bootstrap(announce=lambda m: print(m, file=sys.stderr)) as bootstrap:
        ensure_topics(bootstrap)
        replay, base = [], []
        for i in range(args.repeat):
            events = synthetic_events(sessions, turns, f"t{i}-{uuid.uuid4().hex[:6]}")
            base.append(baseline_produce(bootstrap, events))
            replay.append(replay_rate(bootstrap, events))
        n = sessions * turns

        latencies: dict[int, list[float]] = {}
        for fetch_wait_ms in (500, 20):  # aiokafka's default, and a latency-tuned consumer
            tag = f"lat-{uuid.uuid4().hex[:6]}"
            events = synthetic_events(sessions, min(turns, 20), tag)
            span = (events[-1].at - events[0].at).total_seconds()
            speed = span / (len(events) / paced_rate)
            ready = threading.Event()
            lat: list[float] = []
            t = threading.Thread(target=consume_latencies,
                                 args=(bootstrap, tag, len(events), ready, lat, fetch_wait_ms), daemon=True)
            t.start()
            ready.wait(30)
            publish(events, bootstrap, speed=speed, progress=False)
            t.join(150)
            latencies[fetch_wait_ms] = lat

    r_med, b_med = statistics.median(replay), statistics.median(base)
    print(f"command: python bench/replay_throughput.py{' --quick' if args.quick else ''}")
    print(f"events per run: {n} turns of {sessions} sessions; runs: {args.repeat}")
    print(f"replay (validated, keyed, ordered)  median {r_med:10.0f} turns/s  runs {[round(x) for x in replay]}")
    print(f"baseline (bare kafka-python)        median {b_med:10.0f} turns/s  runs {[round(x) for x in base]}")
    print(f"ratio replay/baseline               {r_med / b_med:10.2f}")
    for fetch_wait_ms, lat in latencies.items():
        if lat:
            print(f"consume-back latency at ~{paced_rate} turns/s, fetch_max_wait_ms={fetch_wait_ms}: "
                  f"p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms over {len(lat)} turns")
        else:
            print(f"consume-back latency, fetch_max_wait_ms={fetch_wait_ms}: no records received")
    return 0


if __name__ == "__main__":
    sys.exit(main())
