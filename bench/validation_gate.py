"""Cost of an honest evaluation: the full gate per dimension vs a bare Pearson r.

    python bench/validation_gate.py            # n = 242 and 2000 sessions, 2000 resamples
    python bench/validation_gate.py --quick    # n = 242 only, 500 resamples

Figures (median and p99 of ``--repeat`` runs, in ms):
* gate: ``validation.verdict.evaluate_dimension`` — raw r, partial r, two bootstrap
  intervals (raw and partial, ``--resamples`` each), the 5-fold length baseline;
* baseline: ``scipy.stats.pearsonr`` on the same data, measured in the same run;
  the ratio says what the bootstrap and the baseline cost on top of a plain r.

Data: the seeded ``signal_in_bond`` fixture (resized with ``n``). This runs
inside ``eval`` once per dimension, so seconds would be fine; the point is to
know how far ``resamples`` can be raised.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scipy import stats as sps
from tqdm import tqdm

from validation import synthetic
from validation.verdict import GateSettings, evaluate_dimension


def _times(fn, repeat: int, label: str) -> list[float]:
    out = []
    for _ in tqdm(range(repeat), desc=label, leave=False):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p99(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=None)
    args = ap.parse_args()
    sizes = (242,) if args.quick else (242, 2000)
    repeat = args.repeat or (5 if args.quick else 15)
    resamples = args.resamples or (500 if args.quick else 2000)
    settings = GateSettings(resamples=resamples)
    print(f"resamples={resamples} repeat={repeat} (ms)")
    print(f"{'n':>5} {'gate p50':>9} {'gate p99':>9} {'pearsonr p50':>13} {'ratio':>8}")
    for n in sizes:
        ds = synthetic.signal_in("bond", n=n)
        x, y, c = ds.predictions["bond"], ds.labels["bond"], ds.covariates
        gate = _times(partial(evaluate_dimension, "bond", x, y, c, settings), repeat, f"gate n={n}")
        base = _times(partial(sps.pearsonr, x, y), max(repeat, 50), f"pearsonr n={n}")
        g50, b50 = statistics.median(gate), statistics.median(base)
        print(f"{n:>5} {g50:9.1f} {_p99(gate):9.1f} {b50:13.3f} {g50 / b50:7.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
