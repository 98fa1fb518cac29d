"""Benchmark: the cost of turn-level counselor feedback per counselor turn, with and without prefix reuse.

One command: ``python bench/feedback_cost.py`` (``--quick``: fewer turns). For a
recorded 50-minute session (default samples/s02_*.jsonl, transcript up to the
middle-phase boundary) it scores the phase (12 items; this fills the prefix
cache, as the scoring worker does) and then rates the phase's last ``--turns``
counselor turns on the nine questions (7 principles + 2 patterns), with the real
vLLM engine, twice in the same run: with automatic prefix caching (the system)
and without (the baseline). It prints medians per counselor turn — seconds,
prompt tokens computed vs served from the cache — the ratio, and how many
concurrent 50-minute sessions one CPU worker keeps up with at that cost.
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

SESSION_S = 50 * 60


def load(path: Path):
    """Turns (with ids) up to the middle boundary (2/3 of planned time), the language."""
    from streams.contracts import ChatTurn, SessionEvent, TranscriptLine
    from streams.replay import read_file

    events, bad = read_file(path)
    if bad:
        raise SystemExit(f"{path}: {bad[0]}")
    start = next(e.event for e in events if isinstance(e.event, SessionEvent) and e.event.kind == "started")
    cut = start.at.timestamp() + start.planned_minutes * 60 * 2 / 3
    turns = [e.event for e in events if isinstance(e.event, ChatTurn) and e.event.sent_at.timestamp() < cut]
    lines = [TranscriptLine(turn_id=t.turn_id, speaker=t.speaker, text=t.text) for t in turns]
    all_counselor = sum(1 for e in events if isinstance(e.event, ChatTurn) and e.event.speaker == "counselor")
    return lines, turns[0].lang, all_counselor


def tagged(lines, tag: str):
    first = lines[0].model_copy(update={"text": f"{lines[0].text} ({tag})"})
    return [first, *lines[1:]]


async def run(model, settings, lines, lang, k, repeats, label):
    from scoring.engines import load_engine
    from scoring.feedback import FeedbackScorer
    from scoring.scorer import Scorer

    engine = load_engine("vllm", model, settings)
    try:
        await Scorer(engine).score(session_id="warm", phase="early", turns=tagged(lines[:4], "warm"), lang=lang)
        score_s, per_turn = [], []
        for r in range(repeats):
            turns = tagged(lines, f"{label}-{r}")
            t0 = time.perf_counter()
            await Scorer(engine).score(session_id=f"b-{label}-{r}", phase="middle", turns=turns, lang=lang)
            score_s.append(time.perf_counter() - t0)
            fs = FeedbackScorer(engine)
            from scoring.feedback import pick_turns

            for t in pick_turns(turns, k):
                t1 = time.perf_counter()
                fb = await fs.rate_turn(session_id=f"b-{label}-{r}", phase="middle", turns=turns, turn_id=t.turn_id,
                                        turn_text=t.text, lang=lang)
                per_turn.append((time.perf_counter() - t1, fb.prompt_tokens, fb.cached_tokens,
                                 [*fb.principles.values(), *fb.patterns.values()]))
            print(f"[{label}] repeat {r + 1}/{repeats} done", file=sys.stderr)
        return score_s, per_turn
    finally:
        await engine.aclose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--session", type=Path, default=None)
    ap.add_argument("--turns", type=int, default=4, help="counselor turns rated per repeat")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="2 turns, 1 repeat")
    ap.add_argument("--max-model-len", type=int, default=8192)
    args = ap.parse_args()
    k, repeats = (2, 1) if args.quick else (args.turns, args.repeats)

    from scoring.engines.base import EngineSettings
    from scoring.models import resolve

    model = resolve(None)
    path = args.session or sorted((ROOT / "samples").glob("s02_*.jsonl"))[0]
    lines, lang, all_counselor = load(path)
    print(f"session {path.name}: {len(lines)} turns to the middle boundary; rating the last {k} counselor turns; "
          f"repeats {repeats}; model {model.name}")
    on = asyncio.run(run(model, EngineSettings(max_model_len=args.max_model_len, enable_prefix_caching=True),
                         lines, lang, k, repeats, "cache-on"))
    off = asyncio.run(run(model, EngineSettings(max_model_len=args.max_model_len, enable_prefix_caching=False),
                          lines, lang, k, repeats, "cache-off"))

    def med(xs):
        return statistics.median(xs) if xs else float("nan")

    rows = {}
    for label, (score_s, per) in (("prefix reuse (system)", on), ("no prefix cache (baseline)", off)):
        rows[label] = (med(score_s), med([p[0] for p in per]), med([p[1] for p in per]), med([p[2] for p in per]))
    print(f"\n{'':28} {'phase score s':>13} {'per turn s':>10} {'prompt tok':>10} {'cached tok':>10}")
    for label, (sc, pt, tok, cached) in rows.items():
        print(f"{label:28} {sc:13.1f} {pt:10.2f} {tok:10.0f} {cached:10.0f}")
    (sc_on, pt_on, *_), (sc_off, pt_off, *_) = rows.values()
    print(f"ratio per turn, baseline / prefix reuse: {pt_off / pt_on:.2f}x")
    ratings = [v for p in on[1] for v in p[3]]
    print(f"the model's ratings over {len(on[1])} rated turns x 9 questions: min {min(ratings):.2f}, "
          f"median {med(ratings):.2f}, max {max(ratings):.2f}")
    print("\nconcurrent 50-minute sessions one CPU worker keeps up with (3 scored phases each, serial):")
    for name, n_turns in ((f"{k} turns per phase", 3 * k), (f"every counselor turn ({all_counselor})", all_counselor)):
        for label, sc, pt in (("prefix reuse", sc_on, pt_on), ("no cache", sc_off, pt_off)):
            busy = 3 * sc + n_turns * pt
            print(f"  {name:<32} {label:<13} {SESSION_S / busy:6.1f} sessions  ({busy:6.0f} s of work per session)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
