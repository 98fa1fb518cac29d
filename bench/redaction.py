"""What PII redaction costs per turn, and how much it finds on a labelled sample.

    python bench/redaction.py            # 7 repeats
    python bench/redaction.py --quick    # 3 repeats, fewer rounds (a few seconds)

Runs every chat turn of samples/ (English and Chinese sessions) through
``privacy.redact`` and, in the same run, through two baselines: a no-op copy of
the text and a single regex pass for e-mail addresses (the cheapest real
detector). Prints the median microseconds per turn of each, by language, and the
ratio of redaction to the e-mail pass. Then the detection figures on the labelled
sample in tests/privacy/labelled.py (recall and precision per kind, on the lines
the redactor was tuned on and on the held-out lines written afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from privacy import KINDS, find_spans, redact  # noqa: E402
from privacy.patterns import EMAIL  # noqa: E402
from streams.contracts import ChatTurn  # noqa: E402
from streams.replay import read_file  # noqa: E402
from tests.privacy.labelled import HELD_OUT, SAMPLE, evaluate  # noqa: E402


def load_turns() -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = {}
    for path in sorted((ROOT / "samples").glob("*.jsonl")):
        events, bad = read_file(path)
        assert not bad, bad
        for e in events:
            if isinstance(e.event, ChatTurn):
                by_lang.setdefault(e.event.lang, []).append(e.event.text)
    return by_lang


def per_turn_us(fn, texts: list[str], rounds: int) -> float:
    t0 = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            fn(text)
    return (time.perf_counter() - t0) / (rounds * len(texts)) * 1e6


def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the turns per measurement")
    ap.add_argument("--quick", action="store_true", help="3 repeats of 2 rounds")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.rounds = 3, 2
    turns = load_turns()
    t0 = time.perf_counter()
    redact("张伟")  # the Chinese name dictionary is built once per process
    print(f"first use (builds jieba's dictionary in memory): {time.perf_counter() - t0:.2f} s")
    cases = {
        "no-op copy": lambda text: "".join(text),
        "e-mail regex pass": lambda text: EMAIL.sub("[EMAIL]", text),
        "redact (all kinds)": redact,
    }
    print(f"\nmedian of {args.repeat} repeats, {args.rounds} passes over the sample turns each")
    print(f"{'lang':4} {'turns':>5} {'avg chars':>9}  " + "  ".join(f"{name:>20}" for name in cases)
          + "  redact / e-mail pass")
    for lang, texts in sorted(turns.items()):
        medians = {name: statistics.median(per_turn_us(fn, texts, args.rounds) for _ in range(args.repeat))
                   for name, fn in cases.items()}
        avg = sum(map(len, texts)) / len(texts)
        print(f"{lang:4} {len(texts):5d} {avg:9.0f}  " + "  ".join(f"{medians[n]:17.1f} us" for n in cases)
              + f"  {medians['redact (all kinds)'] / medians['e-mail regex pass']:8.0f}x")
    for title, sample in (("tuned-on sample", SAMPLE), ("held-out sample", HELD_OUT)):
        scores = evaluate(sample, find_spans, KINDS)
        print(f"\ndetection on the {title} ({len(sample)} lines, en + zh): kind  found/gold  recall  precision  "
              "false alarms")
        for kind, s in scores.kinds.items():
            print(f"  {kind:8} {s.found:3d}/{s.found + s.missed:<3d}  {fmt(s.recall)}  {fmt(s.precision)}  {s.wrong}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
