"""Benchmark: the sink's idempotent write path vs plain INSERTs, per batch of scores.

    python bench/store_writes.py [--quick] [--db URL] [--batches N] [--batch-size N]

What it measures: wall time to write one batch of AllianceScore events (12 items
each) in one transaction, (a) with the store's upserts + journal
(`store.writes.write_events`, what the sink does), (b) the same batches again
(replay: every write is a conflict), and (c) the baseline — plain INSERTs of the
same rows with no conflict handling and no journal — into a second fresh
database of the same kind, measured in the same run. Prints p50/p90/p99 per
batch, events/s and the ratio to the baseline. Default database: a temporary
SQLite file; `--db` takes a PostgreSQL URL *of a scratch database* (its tables are
dropped and recreated).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from tqdm import tqdm

from store.db import downgrade, make_engine, upgrade
from store.models import Prediction, PredictionItem
from store.writes import write_events
from tests.store.factories import T0, score


def make_batches(n_batches: int, size: int):
    batches = []
    for b in range(n_batches):
        batch = []
        for i in range(size):
            sid = f"bench-{b}-{i}"
            batch.append(score(sid, ("early", "middle", "late")[i % 3], 1.0 + (i % 9) / 2,
                               start=T0 + timedelta(seconds=b)))
        batches.append(batch)
    return batches


def baseline_write(conn, batch) -> None:
    for ev in batch:
        pid = conn.execute(insert(Prediction).values(
            request_id=ev.request_id, session_id=ev.session_id, counselor_id=ev.counselor_id, phase=ev.phase,
            upto_turn_id=ev.upto_turn_id, model_name=ev.model.name, model_revision=ev.model.revision,
            prompt_version=ev.model.prompt_version, readout=ev.model.readout,
            goal=ev.dimensions["goal"].score, approach=ev.dimensions["approach"].score,
            bond=ev.dimensions["bond"].score, prompt_tokens=ev.prompt_tokens, cached_tokens=ev.cached_tokens,
            latency_ms=ev.latency_ms, scored_at=ev.scored_at, stored_at=ev.scored_at,
        ).returning(Prediction.id)).scalar_one()
        conn.execute(insert(PredictionItem), [dict(  # executemany, as the store does
            prediction_id=pid, item_id=it.item_id, item_no=int(it.item_id[1:]), dimension=it.dimension,
            expected=it.expected, p1=it.probs[0], p2=it.probs[1], p3=it.probs[2], p4=it.probs[3],
            p5=it.probs[4], rationale=it.rationale, quotes=[q.model_dump() for q in it.quotes], samples=None)
            for it in ev.items])


def run(engine, batches, fn, label: str) -> list[float]:
    times = []
    for batch in tqdm(batches, desc=label, leave=False):
        t = time.perf_counter()
        with engine.begin() as conn:
            fn(conn, batch)
        times.append(time.perf_counter() - t)
    return times


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 batches of 20 (a few seconds)")
    ap.add_argument("--db", help="scratch PostgreSQL URL (default: temporary SQLite files)")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=50)
    args = ap.parse_args()
    n, size = (20, 20) if args.quick else (args.batches, args.batch_size)
    batches = make_batches(n, size)
    with tempfile.TemporaryDirectory() as tmp:
        urls = ([args.db, args.db] if args.db else
                [f"sqlite:///{tmp}/store.db", f"sqlite:///{tmp}/baseline.db"])
        results = {}
        for which, url in zip(("store", "baseline"), urls, strict=True):
            if args.db:
                downgrade(url, "base")
            upgrade(url)
            engine = make_engine(url)
            if which == "store":
                results["upsert (new rows)"] = run(engine, batches, lambda c, b: write_events(c, b), "upsert")
                results["upsert (replay)"] = run(engine, batches, lambda c, b: write_events(c, b), "replay")
            else:
                results["baseline INSERT"] = run(engine, batches, baseline_write, "baseline")
            engine.dispose()
    base = statistics.median(results["baseline INSERT"])
    kind = "postgresql" if args.db else "sqlite"
    print(f"{kind}: {n} batches × {size} scores (12 items each), one transaction per batch")
    print(f"{'path':<20} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'scores/s':>9} {'ratio':>6}")
    for name, xs in results.items():
        med = statistics.median(xs)
        print(f"{name:<20} {1000 * med:8.2f} {1000 * pct(xs, .9):8.2f} {1000 * pct(xs, .99):8.2f} "
              f"{size / med:9.0f} {med / base:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
