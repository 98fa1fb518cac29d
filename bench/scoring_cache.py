"""Benchmark: how much prefix caching saves when a 50-minute session is scored at three phases.

One command: ``python bench/scoring_cache.py`` (``--quick``: one repeat). It scores a
recorded 50-minute sample session (samples/*.jsonl, split at 1/3, 2/3 and 3/3 of
planned time, cumulative transcript) at early/middle/late with the real vLLM
engine, twice in the same run: with automatic prefix caching (the system) and
without (the baseline). It prints per phase the prompt tokens computed vs served
from the cache and the wall time, then the cost of the expected-score read-out
against the published 3-sample protocol. Medians over ``--repeats``; each repeat
uses a distinct session tag so no repeat is helped by an earlier one's cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = ("early", "middle", "late")


def load_session(path: Path):
    """Cumulative transcripts at the three phase boundaries (docs/streams.md#phases-and-the-clock), by event time."""
    from scoring.prompts import Line
    from streams.contracts import ChatTurn, SessionEvent
    from streams.replay import read_file

    events, bad = read_file(path)
    if bad:
        raise SystemExit(f"{path}: {bad[0]}")
    start = next(e.event for e in events if isinstance(e.event, SessionEvent) and e.event.kind == "started")
    turns = sorted((e.event for e in events if isinstance(e.event, ChatTurn)), key=lambda t: t.turn_id)
    minutes = start.planned_minutes
    out = {}
    for k, phase in enumerate(PHASES, start=1):
        end = start.at + timedelta(minutes=minutes * k / 3)
        upto = [Line(t.speaker, t.text) for t in turns if t.sent_at <= end] if k < 3 else \
            [Line(t.speaker, t.text) for t in turns]
        out[phase] = upto
    return start.session_id, turns[0].lang, minutes, out


def tagged(turns, tag: str):
    from scoring.prompts import Line

    return [Line(turns[0].speaker, f"[{tag}] {turns[0].text}"), *turns[1:]]


async def score_session(scorer, phases, lang: str, tag: str):
    rows = []
    for phase in PHASES:
        t0 = time.perf_counter()
        s = await scorer.score(session_id=f"bench-{tag}", phase=phase, turns=tagged(phases[phase], tag), lang=lang)
        rows.append({"phase": phase, "prompt": s.prompt_tokens, "cached": s.cached_tokens,
                     "computed": s.prompt_tokens - s.cached_tokens, "seconds": time.perf_counter() - t0})
    return rows


def med(values):
    return statistics.median(values) if values else float("nan")


async def run_engine(model, settings, phases, lang, repeats, label, extra=None):
    from scoring.engines import load_engine
    from scoring.scorer import Scorer, ScoringConfig

    t0 = time.perf_counter()
    engine = load_engine("vllm", model, settings)
    load_s = time.perf_counter() - t0
    print(f"[{label}] engine loaded in {load_s:.1f} s", file=sys.stderr)
    try:
        # warm-up (kernels, allocator) on an unrelated tag, not measured
        await Scorer(engine).score(session_id="warm", phase="early", turns=tagged(phases["early"][:4], "warm"),
                                   lang=lang)
        results = []
        for r in range(repeats):
            results.append(await score_session(Scorer(engine, ScoringConfig()), phases, lang, f"{label}-{r}"))
            print(f"[{label}] repeat {r + 1}/{repeats} done", file=sys.stderr)
        modes = {}
        if extra:
            for name, cfg in extra.items():
                times = []
                for r in range(repeats):
                    t = time.perf_counter()
                    await Scorer(engine, cfg).score(session_id=f"m-{name}-{r}", phase="late",
                                                    turns=tagged(phases["late"], f"{name}-{r}"), lang=lang)
                    times.append(time.perf_counter() - t)
                modes[name] = times
                print(f"[{label}] mode {name} done", file=sys.stderr)
        return results, modes, load_s
    finally:
        await engine.aclose()


def summarise(results):
    out = {}
    for i, phase in enumerate(PHASES):
        rows = [rep[i] for rep in results]
        out[phase] = {k: med([r[k] for r in rows]) for k in ("prompt", "cached", "computed", "seconds")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--session", type=Path, default=None, help="replay .jsonl (default: samples/s01_*.jsonl)")
    ap.add_argument("--model", default=None, help="model directory (default: the demo model)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat of everything")
    ap.add_argument("--max-model-len", type=int, default=8192)
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats

    from scoring.engines.base import EngineSettings
    from scoring.errors import ModelError
    from scoring.models import resolve
    from scoring.scorer import ScoringConfig

    try:
        model = resolve(args.model)
    except ModelError as err:
        print(f"scoring_cache: {err}", file=sys.stderr)
        return 2
    path = args.session or sorted((ROOT / "samples").glob("s01_*.jsonl"))[0]
    _session_id, lang, minutes, phases = load_session(path)
    print(f"session {path.name}: {minutes:g} planned minutes, turns per phase "
          f"{', '.join(f'{p} {len(phases[p])}' for p in PHASES)}; model {model.name}; repeats {repeats}")

    on = EngineSettings(max_model_len=args.max_model_len, enable_prefix_caching=True)
    off = EngineSettings(max_model_len=args.max_model_len, enable_prefix_caching=False)
    extra = {
        "expected": ScoringConfig(readout="expected", rationale="none"),
        "expected+rationales(all)": ScoringConfig(readout="expected", rationale="all", rationale_tokens=48),
        "sampled x3 (published)": ScoringConfig(readout="sampled", rationale="all", rationale_tokens=48),
    }
    t_all = time.perf_counter()
    res_on, modes, load_on = asyncio.run(run_engine(model, on, phases, lang, repeats, "cache-on", extra))
    res_off, _, load_off = asyncio.run(run_engine(model, off, phases, lang, repeats, "cache-off"))
    s_on, s_off = summarise(res_on), summarise(res_off)

    print("\nper phase (medians; 12 items, expected-score read-out, no rationales)")
    print(f"{'phase':<7} {'prompt tok':>10} | {'cached':>7} {'computed':>8} {'time s':>7} | "
          f"{'computed':>8} {'time s':>7} | {'computed ratio':>14} {'speed-up':>8}")
    print(f"{'':<7} {'':>10} | {'--- prefix cache on ---':>24} | {'--- off (baseline) ---':>16} |")
    for p in PHASES:
        a, b = s_on[p], s_off[p]
        print(f"{p:<7} {a['prompt']:>10.0f} | {a['cached']:>7.0f} {a['computed']:>8.0f} {a['seconds']:>7.2f} | "
              f"{b['computed']:>8.0f} {b['seconds']:>7.2f} | {a['computed'] / b['computed']:>14.3f} "
              f"{b['seconds'] / a['seconds']:>7.2f}x")
    tot_on = sum(s_on[p]["seconds"] for p in PHASES)
    tot_off = sum(s_off[p]["seconds"] for p in PHASES)
    comp_on = sum(s_on[p]["computed"] for p in PHASES)
    comp_off = sum(s_off[p]["computed"] for p in PHASES)
    print(f"{'session':<7} {sum(s_on[p]['prompt'] for p in PHASES):>10.0f} | "
          f"{sum(s_on[p]['cached'] for p in PHASES):>7.0f} {comp_on:>8.0f} {tot_on:>7.2f} | {comp_off:>8.0f} "
          f"{tot_off:>7.2f} | {comp_on / comp_off:>14.3f} {tot_off / tot_on:>7.2f}x")
    print(f"engine load: {load_on:.1f} s (cache on), {load_off:.1f} s (cache off)")
    if modes:
        base = med(modes["expected"])
        print("\nread-out cost, late phase, prefix cache on (median s per 12 items; ratio vs expected)")
        for name, times in modes.items():
            print(f"  {name:<26} {med(times):7.2f} s  p50 {med(times):.2f}  max {max(times):.2f}  "
                  f"{med(times) / base:6.2f}x")
    print(f"\ntotal bench time {time.perf_counter() - t_all:.0f} s")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    sys.exit(main())
