"""Cost per rated counselor turn of a served trained detector (``score --turn-detector``) vs the word rules alone.

    python bench/served_detector_cost.py            # 400 turns, 7 rounds
    python bench/served_detector_cost.py --quick    # 200 turns, 3 rounds (what `make bench` runs)

A detector for the four counselor codes of the synthetic coded corpus (``validation/synthetic_turns.py``)
is trained and written as ``train-turns`` writes it, read back as the scorer reads it, and both paths
(:func:`scoring.live_detector.word_codes` with and without it) answer the same counselor turns in the
same run, alternating; reported: the median over rounds of the time per turn, and the ratio. For scale:
the model's nine questions per rated turn take seconds (docs/counselor-feedback.md#cost).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scoring.live_detector import LiveDetector, serve, word_codes  # noqa: E402
from training.turn_detector import data_hash, fit, labelled_turns  # noqa: E402
from training.turn_detector_files import load, save  # noqa: E402
from validation.synthetic_turns import COUNSELOR_CODES, coded_corpus  # noqa: E402


def _served(where: Path) -> LiveDetector:
    corpus = coded_corpus(n_sessions=12, missed_share=0.5)
    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    turns = labelled_turns(texts, coded)
    models = fit(COUNSELOR_CODES, turns)
    _detector, path = save(models, "counselor-words", COUNSELOR_CODES, out=where / "det", data_source="synthetic",
                           data_fingerprint=data_hash(turns), train_sessions=frozenset(t.session_id for t in turns),
                           n_held_out=0, params={}, root=where / "trained")
    detector, loaded, _trained_on = load(path)
    return serve(detector, loaded)


def _per_turn(texts: list[str], live: LiveDetector | None) -> float:
    start = time.perf_counter()
    for i, text in enumerate(texts):
        word_codes(text, texts[i - 1] if i else "", live)
    return (time.perf_counter() - start) / len(texts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer turns and rounds (make bench)")
    args = ap.parse_args(argv)
    n_turns, rounds = (200, 3) if args.quick else (400, 7)
    with tempfile.TemporaryDirectory(prefix="am-served-detector-") as tmp:
        live = _served(Path(tmp))
    texts = [t.text for t in coded_corpus(n_sessions=40, seed=3) if t.speaker == "counselor"][:n_turns]
    rules, served = [], []
    for _ in range(rounds):
        rules.append(_per_turn(texts, None))
        served.append(_per_turn(texts, live))
    r, s = statistics.median(rules), statistics.median(served)
    print(f"{len(texts)} counselor turns, {rounds} rounds; served {live.detector.key} ({len(live.codes)} codes)")
    print(f"  word rules alone      {r * 1e3:8.3f} ms/turn")
    print(f"  rules + served codes  {s * 1e3:8.3f} ms/turn   ({s / r:.0f}x the rules; "
          f"{s / len(live.codes) * 1e3:.2f} ms per served code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
