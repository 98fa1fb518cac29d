"""The comparison table ``train`` prints: what each feature block buys on the held-out split (pure).

One row per candidate read-out (each block alone, the chosen combination) and per phase, one
column group per dimension: raw r and length-controlled r with their bootstrap 95 % intervals
(the validation gate's own figures, :func:`validation.verdict.evaluate_dimension`), then the
length-only baseline and the counselor reference the gate compares with. Labels are the
client's end-of-session ratings at every phase: an early-phase r says how well the first third
of a session foretells the final rating, not how the alliance stood at that time.

Below the table, per dimension, whether the chosen combination beats each block alone: the
difference of their length-controlled r on the same held-out sessions with a **paired** bootstrap
interval (one resample of sessions serves both read-outs, so what the two share — which sessions
happened to be held out — cancels; the interval is much narrower than either read-out's own).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from streams.contracts import DIMENSION_ITEMS, ITEM_IDS
from validation.records import DimensionVerdict
from validation.verdict import GateSettings, evaluate_dimension, fmt_figure


@dataclass(frozen=True)
class Row:
    name: str
    phase: str
    verdicts: dict[str, DimensionVerdict]


def dimension_means(item_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per dimension, the mean of its item columns (columns in ITEM_IDS order)."""
    col = {q: i for i, q in enumerate(ITEM_IDS)}
    return {d: item_rows[:, [col[q] for q in items]].mean(axis=1) for d, items in DIMENSION_ITEMS.items()}


def evaluate_rows(predictions: Mapping[tuple[str, str], np.ndarray], answers: np.ndarray, covariates: np.ndarray,
                  settings: GateSettings | None = None) -> list[Row]:
    """``predictions[(name, phase)]``: (sessions, 12) item answers; ``answers`` the clients' (sessions, 12)."""
    settings = settings or GateSettings()
    labels = dimension_means(answers)
    rows = []
    for (name, phase), items in predictions.items():
        dims = dimension_means(np.clip(items, 1.0, 5.0))
        rows.append(Row(name, phase, {d: evaluate_dimension(d, dims[d], labels[d], covariates, settings)
                                      for d in DIMENSION_ITEMS}))
    return rows


@dataclass(frozen=True)
class Difference:
    """Length-controlled r of the chosen read-out minus one other's, with its paired bootstrap interval."""

    name: str
    dimension: str
    diff: float
    ci: tuple[float, float]

    @property
    def verdict(self) -> str:
        if self.ci[0] > 0:
            return "beats"
        return "loses to" if self.ci[1] < 0 else "ties"


def paired_differences(predictions: Mapping[tuple[str, str], np.ndarray], answers: np.ndarray,
                       covariates: np.ndarray, *, against: str, others: Sequence[str], phase: str = "late",
                       settings: GateSettings | None = None, seed: int = 0) -> list[Difference]:
    """Per other read-out and dimension: partial r of ``against`` minus the other's, paired bootstrap CI."""
    from validation.stats import bootstrap_replicates, partial_correlation

    settings = settings or GateSettings()
    labels = dimension_means(answers)
    mine = dimension_means(np.clip(predictions[(against, phase)], 1.0, 5.0))
    n = answers.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(settings.resamples, n))
    alpha = (1.0 - settings.confidence) / 2.0
    out = []
    for name in others:
        if name == against or (name, phase) not in predictions:
            continue
        theirs = dimension_means(np.clip(predictions[(name, phase)], 1.0, 5.0))
        for d in DIMENSION_ITEMS:
            diff = (partial_correlation(mine[d], labels[d], covariates).r
                    - partial_correlation(theirs[d], labels[d], covariates).r)
            reps = (bootstrap_replicates(mine[d], labels[d], covariates, idx)
                    - bootstrap_replicates(theirs[d], labels[d], covariates, idx))
            reps = reps[np.isfinite(reps)]
            lo, hi = np.quantile(reps, [alpha, 1.0 - alpha]) if reps.size else (np.nan, np.nan)
            out.append(Difference(name, d, float(diff), (float(lo), float(hi))))
    return out


def format_differences(diffs: Sequence[Difference], chosen: str) -> list[str]:
    """A block × dimension grid of differences, then one line per dimension: which blocks the chosen one beats."""
    dims = list(dict.fromkeys(x.dimension for x in diffs))
    names = list(dict.fromkeys(x.name for x in diffs))
    cell = {(x.name, x.dimension): x for x in diffs}
    width = max(len("block"), *(len(n) for n in names))
    lines = [(f"does {chosen} beat each block alone? length-controlled r of {chosen} minus the block's, paired "
             f"bootstrap 95% CI over the held-out sessions (beats = CI above 0):"),
             f"  {'block':<{width}}" + "".join(f"  {d:<27}" for d in dims)]
    for name in names:
        lines.append(f"  {name:<{width}}" + "".join(
            f"  {cell[name, d].diff:+.3f} [{cell[name, d].ci[0]:+.2f},{cell[name, d].ci[1]:+.2f}] "
            f"{cell[name, d].verdict:<8}" for d in dims))
    for d in dims:
        mine = [cell[n, d] for n in names]
        other = [f"{x.verdict} {x.name}" for x in mine if x.verdict != "beats"]
        lines.append(f"  {d}: {chosen} beats {sum(x.verdict == 'beats' for x in mine)} of {len(mine)} blocks alone"
                     + (f" ({', '.join(other)})" if other else ""))
    return lines


def _ci(v: tuple[float, float] | None) -> str:
    return f"[{v[0]:.2f},{v[1]:.2f}]" if v else "n/a"


def format_table(rows: Sequence[Row], *, chosen: str | None = None, differences: Sequence[Difference] = (),
                 choice: Mapping[str, str] | None = None) -> str:
    """One line per read-out and phase; per dimension ``r [CI]  partial r [CI]``; then baseline and reference."""
    if not rows:
        return "(nothing evaluated)"
    dims = list(rows[0].verdicts)
    width = max(len("read-out"), *(len(r.name) + (2 if r.name == chosen else 0) for r in rows))
    head = f"{'read-out':<{width}}  {'phase':<6}" + "".join(f"  {d + ': r [95% CI]':<18} {'partial r [95% CI]':<20}"
                                                            for d in dims)
    lines = [head, "-" * len(head)]
    for r in rows:
        name = f"{r.name} *" if r.name == chosen else r.name
        cells = "".join(f"  {fmt_figure(v.r):>6} {_ci(v.r_ci):<11} {fmt_figure(v.partial_r):>6} {_ci(v.partial_ci):<13}"
                        for v in r.verdicts.values())
        lines.append(f"{name:<{width}}  {r.phase:<6}{cells}")
    late = next((r for r in rows if r.phase == "late"), rows[0])
    lines.append("")
    lines.append("length-only baseline (CV OLS on characters + client turns, r):  "
                 + "  ".join(f"{d} {fmt_figure(v.baseline_r)}" for d, v in late.verdicts.items()))
    lines.append("counselor reference (r the gate asks a model to beat):            "
                 + "  ".join(f"{d} {fmt_figure(v.counselor_r)}" for d, v in late.verdicts.items()))
    n = next(iter(late.verdicts.values())).n
    lines.append(f"n = {n} held-out sessions; labels are end-of-session client ratings at every phase (an early r "
                 f"says how well the first third foretells the final rating); partial r controls for length"
                 + ("; * = the read-out the training split's CV chose" if chosen else ""))
    if choice:
        lines.append("* chosen per dimension by 5-fold CV on the training split: "
                     + ", ".join(f"{d} = {c.removeprefix('single:')}" for d, c in choice.items()))
    if differences and chosen:
        lines += ["", *format_differences(differences, chosen)]
    return "\n".join(lines)
