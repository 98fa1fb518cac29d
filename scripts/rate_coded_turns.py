"""Rate the counselor turns of a coded file with the scorer's engine: feedback records for ``eval-turns``.

Why: the live worker rates only the last few counselor turns of each scored
phase (``--feedback-turns``), so most turns a site codes have no feedback record.
This script rates exactly the coded turns, each with its session's transcript up
to and including that turn (the context the live worker would have had), and
writes one ``CounselorFeedback`` JSON line per turn — the same contract as
``alliance.feedback``.

    python scripts/rate_coded_turns.py --codes samples/labels/turn-codes.jsonl \
        --sessions samples/ --out samples/labels/turn-feedback-demo.jsonl [--engine transformers]

Recorded sessions are replay files (docs/replay-format.md). Prints counts only, never text.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_sessions(folder: Path) -> dict[str, tuple[list, str, str | None]]:
    """session_id -> (transcript lines, language, counselor id) from every replay file in ``folder``."""
    from streams.contracts import ChatTurn, SessionEvent, TranscriptLine
    from streams.replay import read_file

    out = {}
    for path in sorted(folder.glob("*.jsonl")):
        events, bad = read_file(path)
        if bad or not events:
            continue
        turns = [e.event for e in events if isinstance(e.event, ChatTurn)]
        start = next((e.event for e in events if isinstance(e.event, SessionEvent)), None)
        if not turns:
            continue
        lines = [TranscriptLine(turn_id=t.turn_id, speaker=t.speaker, text=t.text) for t in turns]
        out[turns[0].session_id] = (lines, turns[0].lang, start.counselor_id if start else None)
    return out


async def rate(args) -> int:
    import orjson

    from scoring.engines import load_engine
    from scoring.engines.base import EngineSettings
    from scoring.feedback import FeedbackScorer
    from scoring.models import resolve
    from store.turn_eval import read_turn_codes

    codes = read_turn_codes(args.codes)
    sessions = load_sessions(args.sessions)
    wanted = sorted({(c.session_id, c.turn_id) for c in codes})
    missing = [k for k in wanted if k[0] not in sessions]
    if missing:
        raise SystemExit(f"{len(missing)} coded turn(s) belong to sessions not in {args.sessions}")
    engine = load_engine(args.engine, resolve(args.model), EngineSettings(max_model_len=args.max_model_len))
    scorer = FeedbackScorer(engine)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        with args.out.open("wb") as f:
            for i, (sid, tid) in enumerate(wanted, 1):
                lines, lang, counselor = sessions[sid]
                upto = [t for t in lines if t.turn_id <= tid]
                turn = next(t for t in upto if t.turn_id == tid)
                rec = await scorer.rate_turn(session_id=sid, phase="late", turns=upto, turn_id=tid,
                                             turn_text=turn.text, lang=lang, counselor_id=counselor)
                f.write(orjson.dumps(rec.model_dump(mode="json")) + b"\n")
                print(f"{i}/{len(wanted)} {sid} turn {tid}: {rec.latency_ms / 1000:.1f} s", flush=True)
    finally:
        await engine.aclose()  # the vLLM engine runs a process of its own
    print(f"rated {len(wanted)} turns in {time.perf_counter() - start:.0f} s -> {args.out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes", type=Path, required=True)
    ap.add_argument("--sessions", type=Path, required=True, help="folder of replay files")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--engine", choices=("transformers", "vllm"), default="transformers")
    ap.add_argument("--model", help="local model directory (default: the demo model)")
    ap.add_argument("--max-model-len", type=int, default=8192)
    return asyncio.run(rate(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
