"""The comparison table ``train`` prints: what each feature block buys on the held-out split (pure).

One row per candidate read-out (each block alone, the chosen combination) and per phase, one
column group per dimension: raw r and length-controlled r with their bootstrap 95 % intervals
(the validation gate's own figures, :func:`validation.verdict.evaluate_dimension`), then the
length-only baseline and the counselor reference the gate compares with. Labels are the
client's end-of-session ratings at every phase: an early-phase r says how well the first third
of a session foretells the final rating, not how the alliance stood at that time.
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


def _ci(v: tuple[float, float] | None) -> str:
    return f"[{v[0]:.2f},{v[1]:.2f}]" if v else "n/a"


def format_table(rows: Sequence[Row], *, chosen: str | None = None) -> str:
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
                 + ("; * = the combination the training split's CV chose" if chosen else ""))
    return "\n".join(lines)
