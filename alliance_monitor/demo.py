"""``alliance-monitor demo``: the sample sessions through the pipeline, on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="replay the sample sessions through the pipeline and print what happens")
    p.add_argument("--speed", type=float, default=60.0, help="replay speed (default 60: 50 min in 50 s)")
    p.add_argument("--samples", default=str(SAMPLES), help="folder or file of sessions to replay")
    p.set_defaults(func=cmd_demo)


def _print_turns(bootstrap: str, stop: threading.Event, counts: dict) -> None:
    from streams.cli import describe
    from streams.codec import ContractError, decode
    from streams.contracts import ChatTurn

    async def run() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await c.start()
        try:
            tps = [TopicPartition("chat.turns", p) for p in sorted(c.partitions_for_topic("chat.turns") or [])]
            c.assign(tps)
            await c.seek_to_end(*tps)
            for tp in tps:
                await c.position(tp)
            counts["ready"] = True
            while not stop.is_set():
                batch = await c.getmany(timeout_ms=200)
                for recs in batch.values():
                    for r in recs:
                        try:
                            turn = decode(ChatTurn, r.value)
                        except ContractError:
                            continue
                        counts["turns"] = counts.get("turns", 0) + 1
                        print(f"consumed {describe(turn)}", flush=True)
        finally:
            await c.stop()

    asyncio.run(run())


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.broker import ensure_topics, kafka_bootstrap
    from streams.replay import iter_files, merge, publish, read_file

    files = list(iter_files([args.samples]))
    per_file, bad = [], 0
    for f in files:
        events, errors = read_file(f)
        per_file.append(events)
        bad += len(errors)
    events = merge(per_file)
    with kafka_bootstrap(announce=lambda m: print(m, file=sys.stderr)) as bootstrap:
        ensure_topics(bootstrap)
        stop = threading.Event()
        counts: dict = {}
        reader = threading.Thread(target=_print_turns, args=(bootstrap, stop, counts), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while not counts.get("ready") and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"replaying {len(files)} sample sessions at {args.speed:g}x", file=sys.stderr)
        try:
            stats = publish(events, bootstrap, speed=args.speed, progress=False)
            deadline = time.monotonic() + 10
            while counts.get("turns", 0) < stats.turns and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            reader.join(5)
    print(f"published {stats.turns} turns of {stats.sessions} sessions; consumed {counts.get('turns', 0)}")
    return 0 if counts.get("turns", 0) == stats.turns and not bad else 1
