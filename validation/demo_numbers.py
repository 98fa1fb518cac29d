"""Print the numbers the synthetic fixtures produce (quoted in docs/validation.md).

    python -m validation.demo_numbers [--resamples 2000] [--json]

Deterministic (seeded): the same command prints the same figures on any machine
with the same numpy. Only numbers are printed — the fixtures contain no text.
"""

from __future__ import annotations

__layer__ = "core"

import argparse
import json
import sys
from typing import Any

from streams.contracts import DIMENSIONS

from . import synthetic
from .calibration import METHODS, cross_validate
from .verdict import GateSettings, evaluate_dimension


def _f(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.3f}"


def gate_rows(settings: GateSettings) -> list[dict[str, Any]]:
    rows = []
    for ds in (synthetic.length_only(), synthetic.signal_in("bond")):
        for dim in DIMENSIONS:
            v = evaluate_dimension(dim, ds.predictions[dim], ds.labels[dim], ds.covariates, settings)
            rows.append({"fixture": ds.name, **v.model_dump()})
    return rows


def calibration_rows(sizes: tuple[int, ...] = (242, 40)) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        ds = synthetic.misscaled(n=n)
        for dim in DIMENSIONS:
            for method in METHODS:
                c = cross_validate(ds.predictions[dim], ds.labels[dim], method, folds=5, seed=0)
                rows.append({"fixture": ds.name, "dimension": dim, **c.to_dict()})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m validation.demo_numbers", description=__doc__.splitlines()[0])
    ap.add_argument("--resamples", type=int, default=GateSettings().resamples)
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args(argv)
    settings = GateSettings(resamples=args.resamples)
    gates, cals = gate_rows(settings), calibration_rows()
    if args.json:
        json.dump({"settings": settings.to_dict(), "gate": gates, "calibration": cals}, sys.stdout, indent=2)
        print()
        return 0
    print(f"Gate (n={synthetic.N_SESSIONS} sessions per fixture, counselor reference r={settings.counselor_r}, "
          f"{settings.resamples} bootstrap resamples, {settings.folds}-fold length baseline, seed {settings.seed})")
    print(f"{'fixture':<16} {'dim':<9} {'raw r':>6} {'partial r':>9} {'95% CI (partial)':>18} "
          f"{'length r':>8} {'ref':>5}  verdict")
    for r in gates:
        ci = r["partial_ci"]
        ci_s = f"[{ci[0]:6.3f}, {ci[1]:6.3f}]" if ci else "n/a"
        print(f"{r['fixture']:<16} {r['dimension']:<9} {_f(r['r'])} {_f(r['partial_r']):>9} {ci_s:>18} "
              f"{_f(r['baseline_r']):>8} {r['counselor_r']:5.2f}  {'PASS' if r['passed'] else 'fail'}")
    print()
    print("Calibration of the mis-scaled fixture (predictions in 2.9-3.3), 5-fold held-out, raw -> calibrated")
    print(f"{'n':>4} {'dim':<9} {'method':<9} {'MAE':>15} {'RMSE':>15} {'r':>15}")
    for r in cals:
        print(f"{r['n']:>4} {r['dimension']:<9} {r['method']:<9} "
              f"{r['mae_before']:6.3f} -> {r['mae_after']:5.3f} {r['rmse_before']:6.3f} -> {r['rmse_after']:5.3f} "
              f"{r['r_before']:6.3f} -> {r['r_after']:5.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
