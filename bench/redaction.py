"""What PII redaction costs per turn, and how much it finds on a labelled sample.

    python bench/redaction.py            # 7 repeats
    python bench/redaction.py --quick    # 3 repeats, fewer rounds (a few seconds)
    python bench/redaction.py --baseline 0e3029a   # also the redactor of that commit, same run

Runs every chat turn of samples/ (English and Chinese sessions) through
``privacy.redact`` and, in the same run, through two baselines: a no-op copy of
the text and a single regex pass for e-mail addresses (the cheapest real
detector). Prints the median microseconds per turn of each, by language, and the
ratio of redaction to the e-mail pass. Then the detection figures on the labelled
sample in tests/privacy/labelled.py (recall and precision per kind, on the lines
the redactor was tuned on and on the held-out lines written afterwards) and on the
labelled sets of tests/privacy/data/ (pii_labelled.jsonl, 208 en + zh lines; pii_heldout.jsonl,
68 lines written after the detectors were tuned on the first).

``--baseline REF`` loads ``privacy/`` as it was at git commit REF (git archive into a
temporary directory, imported as another package) and measures it beside today's in
the same run: cost per turn, the ratio, and its figures on the labelled set.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from privacy import KINDS, find_spans, redact  # noqa: E402
from privacy.patterns import EMAIL  # noqa: E402
from streams.contracts import ChatTurn  # noqa: E402
from streams.replay import read_file  # noqa: E402
from tests.privacy.labelled import HELD_OUT, HELD_OUT_SET, SAMPLE, evaluate, load_labelled  # noqa: E402


def load_baseline(ref: str):
    """``privacy`` as of git commit ``ref``, imported as the package ``privacy_baseline``."""
    tmp = Path(tempfile.mkdtemp(prefix="privacy-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "privacy"],
                             capture_output=True, check=True).stdout
    tar_path = tmp / "privacy.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(tmp, filter="data")
    (tmp / "privacy").rename(tmp / "privacy_baseline")
    sys.path.insert(0, str(tmp))
    return importlib.import_module("privacy_baseline")


def totals(scores) -> tuple[float, float, int, int, int]:
    found = sum(k.found for k in scores.kinds.values())
    missed = sum(k.missed for k in scores.kinds.values())
    wrong = sum(k.wrong for k in scores.kinds.values())
    return found / (found + missed), (found / (found + wrong) if found + wrong else 1.0), found, missed, wrong


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
    ap.add_argument("--baseline", metavar="REF", help="also measure privacy/ as of this git commit")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.rounds = 3, 2
    turns = load_turns()
    t0 = time.perf_counter()
    redact("张伟 Sarah")  # the Chinese and English name lists are built once per process
    print(f"first use (builds jieba's dictionary and the first-name list in memory): {time.perf_counter() - t0:.2f} s")
    cases = {
        "no-op copy": lambda text: "".join(text),
        "e-mail regex pass": lambda text: EMAIL.sub("[EMAIL]", text),
        "redact (all kinds)": redact,
    }
    baseline = load_baseline(args.baseline) if args.baseline else None
    if baseline is not None:
        baseline.redact("张伟")
        cases[f"redact @{args.baseline}"] = baseline.redact
    print(f"\nmedian of {args.repeat} repeats, {args.rounds} passes over the sample turns each")
    print(f"{'lang':4} {'turns':>5} {'avg chars':>9}  " + "  ".join(f"{name:>20}" for name in cases)
          + "  redact / e-mail pass")
    for lang, texts in sorted(turns.items()):
        medians = {name: statistics.median(per_turn_us(fn, texts, args.rounds) for _ in range(args.repeat))
                   for name, fn in cases.items()}
        avg = sum(map(len, texts)) / len(texts)
        print(f"{lang:4} {len(texts):5d} {avg:9.0f}  " + "  ".join(f"{medians[n]:17.1f} us" for n in cases)
              + f"  {medians['redact (all kinds)'] / medians['e-mail regex pass']:8.0f}x"
              + (f"  redact / baseline {medians['redact (all kinds)'] / medians[f'redact @{args.baseline}']:5.2f}x"
                 if baseline is not None else ""))
    for title, sample in (("tuned-on sample", SAMPLE), ("held-out sample", HELD_OUT)):
        scores = evaluate(sample, find_spans, KINDS)
        print(f"\ndetection on the {title} ({len(sample)} lines, en + zh): kind  found/gold  recall  precision  "
              "false alarms")
        for kind, s in scores.kinds.items():
            print(f"  {kind:8} {s.found:3d}/{s.found + s.missed:<3d}  {fmt(s.recall)}  {fmt(s.precision)}  {s.wrong}")
    runs = [("today", find_spans)] + ([(f"@{args.baseline}", baseline.find_spans)] if baseline is not None else [])
    for title, labelled in (("labelled set", load_labelled()), ("held-out set", load_labelled(HELD_OUT_SET))):
        for name, find in runs:
            report(title, name, labelled, find)
    return 0


def report(title: str, name: str, labelled, find) -> None:
    """Recall and precision over all kinds, then per kind (found/gold, recall, precision, false alarms)."""
    scores = evaluate(labelled, find, KINDS)
    recall, precision, found, missed, wrong = totals(scores)
    print(f"\n{title} ({len(labelled)} lines, {name}): recall {found}/{found + missed} = {recall:.3f}, "
          f"precision {found}/{found + wrong} = {precision:.3f}")
    for kind, s in scores.kinds.items():
        print(f"  {kind:8} {s.found:3d}/{s.found + s.missed:<3d}  {fmt(s.recall)}  {fmt(s.precision)}  {s.wrong}")


if __name__ == "__main__":
    raise SystemExit(main())
