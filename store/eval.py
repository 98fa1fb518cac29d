"""``alliance-monitor eval``: agreement of the store's predictions with client-rated WAI-SR.

Label file (JSON Lines, UTF-8; blank lines and ``#`` lines skipped), one session
per line::

    {"session_id": "s-001", "items": {"Q1": 4, "Q2": 5, ..., "Q12": 3}}
    {"session_id": "s-002", "dimensions": {"goal": 3.75, "approach": 3.5, "bond": 4.25}}

``items`` are the client's 1–5 answers (any subset); a dimension label is the
mean of its four items when all four are given, or taken from ``dimensions``
(which wins when both are present). Extra keys are ignored.

Which predictions: one model identity (``--model``, default the one with the
most predictions) at one phase (``--phase``, default ``late`` — the cumulative
transcript, i.e. the whole session, which is what the client rates).

Parsing and evaluation are pure functions; the CLI shell only reads the store.
"""

from __future__ import annotations

__layer__ = "shell"

import math
from dataclasses import dataclass, field
from pathlib import Path

from streams.codec import json_lines
from streams.contracts import DIMENSION_ITEMS, DIMENSIONS, ITEM_DIMENSION, ITEM_IDS
from validation.stats import Correlation, category_counts, correlation_or_nan, fleiss_kappa, icc

from .errors import LabelError
from .repository import PredictionRecord

#: The item -> dimension map, from the contracts (kept under this name for callers).
DIM_ITEMS = DIMENSION_ITEMS

#: Published Pearson r against client-rated WAI-SR (242 held-out sessions; docs/architecture.md#background-the-client-rated-alliance).
REFERENCE: dict[str, dict[str, float]] = {
    "counselors": {"goal": 0.290, "approach": 0.286, "bond": 0.261},
    "zero-shot Llama-3-8B": {"goal": 0.288, "approach": 0.302, "bond": 0.334},
    "best zero-shot (110B)": {"goal": 0.436, "approach": 0.431, "bond": 0.452},
    "fine-tuned 8B": {"goal": 0.505, "approach": 0.483, "bond": 0.533},
}


@dataclass(frozen=True)
class Label:
    session_id: str
    items: dict[str, float]
    dimensions: dict[str, float]


def _score(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 5:
        raise LabelError(f"{where} must be a number from 1 to 5, got {value!r}")
    return float(value)


def parse_label(data: object, where: str) -> Label:
    if not isinstance(data, dict):
        raise LabelError(f"{where}: expected a JSON object")
    sid = data.get("session_id")
    if not isinstance(sid, str) or not sid.strip():
        raise LabelError(f"{where}: session_id is required (a non-empty string)")
    raw_items = data.get("items") or {}
    raw_dims = data.get("dimensions") or {}
    if not isinstance(raw_items, dict) or not isinstance(raw_dims, dict):
        raise LabelError(f"{where}: items and dimensions must be objects")
    items = {}
    for k, v in raw_items.items():
        if k not in ITEM_IDS:
            raise LabelError(f"{where}: items.{k} is not a WAI-SR item (Q1..Q12)")
        items[k] = _score(v, f"{where}: items.{k}")
    dims: dict[str, float] = {}
    for dim, ids in DIM_ITEMS.items():
        if all(i in items for i in ids):
            dims[dim] = sum(items[i] for i in ids) / len(ids)
    for k, v in raw_dims.items():
        if k not in DIM_ITEMS:
            raise LabelError(f"{where}: dimensions.{k} is not goal, approach or bond")
        dims[k] = _score(v, f"{where}: dimensions.{k}")
    if not items and not dims:
        raise LabelError(f"{where}: no items and no dimensions")
    return Label(sid, items, dims)


def read_labels(path: str | Path) -> dict[str, Label]:
    """Parse a label file; the first problem raises LabelError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"label file not found: {path}")
    out: dict[str, Label] = {}
    for line in json_lines(path):
        if line.error is not None:
            raise LabelError(f"{line.source}: {line.error}")
        label = parse_label(line.data, line.source)
        if label.session_id in out:
            raise LabelError(f"{line.source}: session {label.session_id} is labelled twice")
        out[label.session_id] = label
    if not out:
        raise LabelError(f"{path}: no labels")
    return out


@dataclass(frozen=True)
class Consistency:
    """Self-consistency of repeated (sampled) predictions over (session, item) ratings."""

    subjects: int
    samples: int
    icc1: float
    icc2: float
    kappa: float


@dataclass
class EvalResult:
    phase: str
    labelled: int
    matched: int
    dimensions: dict[str, Correlation]
    items: dict[str, Correlation]
    consistency: dict[str, Consistency] = field(default_factory=dict)
    #: mean of the scorer's own per-prediction agreement (when it sent no per-sample choices).
    scorer_consistency: dict[str, float] | None = None
    #: per item, r controlling for transcript length (None: too few sessions with length stored).
    item_partials: dict[str, Correlation | None] = field(default_factory=dict)


def evaluate(records: list[PredictionRecord], labels: dict[str, Label], phase: str = "late") -> EvalResult:
    """Pearson r per dimension and per item between predictions at ``phase`` and the labels."""
    preds = {r.session_id: r for r in records if r.phase == phase}
    sids = sorted(set(preds) & set(labels))
    dims: dict[str, Correlation] = {d: correlation_or_nan([preds[s].dimensions.get(d) for s in sids], [labels[s].dimensions.get(d) for s in sids])
            for d in DIMENSIONS}
    items = {i: correlation_or_nan([preds[s].items.get(i) for s in sids], [labels[s].items.get(i) for s in sids])
             for i in ITEM_IDS}
    return EvalResult(phase, len(labels), len(sids), dims, items)


def self_consistency(records: list[PredictionRecord], phase: str | None = None) -> dict[str, Consistency]:
    """ICC(1,1), ICC(2,1) and Fleiss' kappa across samples, per dimension and overall.

    Subjects are (session, phase, item) ratings with per-sample choices; only
    subjects with the most common number of samples are used (kappa needs equal k).
    """
    rows: dict[str, list[list[int]]] = {d: [] for d in DIMENSIONS}
    for r in records:
        if phase is not None and r.phase != phase:
            continue
        for item_id, samples in r.samples.items():
            dim = ITEM_DIMENSION[item_id]
            rows[dim].append(list(samples))
    all_rows = [row for d in DIMENSIONS for row in rows[d]]
    if not all_rows:
        return {}
    lengths = [len(r) for r in all_rows]
    k = max(set(lengths), key=lengths.count)
    if k < 2:
        return {}
    out = {}
    for name, subset in [*rows.items(), ("all", all_rows)]:
        use = [r for r in subset if len(r) == k]
        if not use:
            continue
        out[name] = Consistency(len(use), k, icc(use, "1,1"), icc(use, "2,1"), fleiss_kappa(category_counts(use)))
    return out


def scorer_consistency(records: list[PredictionRecord]) -> dict[str, float] | None:
    """Mean of the per-prediction ICC / Fleiss' kappa the scoring worker reported (sampled mode).

    Each of those is computed over one prediction's 12 items × n samples; the mean
    over predictions is a coarser figure than :func:`self_consistency`, shown only
    when no per-sample choices were stored.
    """
    def mean_of(key: str) -> float:
        given = [r.consistency.get(key) for r in records if r.consistency]
        vals = [float(v) for v in given if isinstance(v, (int, float)) and not math.isnan(v)]
        return sum(vals) / len(vals) if vals else math.nan

    with_c = [r for r in records if r.consistency]
    if not with_c:
        return None
    return {"predictions": float(len(with_c)), "samples": mean_of("samples"), "icc": mean_of("icc"),
            "fleiss_kappa": mean_of("fleiss_kappa")}


def _f(x: float, digits: int = 3) -> str:
    if x is None or math.isnan(x):
        return "—"
    s = f"{x:.{digits}f}"
    return s.replace("0.", ".", 1) if abs(x) < 1 and s.startswith(("0.", "-0.")) else s


def _p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return "<.001" if p < 0.001 else _f(p)


def format_result(res: EvalResult, model: str) -> str:
    lines = [f"model: {model}", (f"phase: {res.phase}   labelled sessions: {res.labelled}   "
              f"with a prediction: {res.matched}"), ""]
    refs = list(REFERENCE)
    head = f"{'dimension':<10} {'r':>6} {'p':>6} {'n':>4}  | " + "  ".join(f"{n:>{max(len(n), 6)}}" for n in refs)
    lines += ["Pearson r vs client-rated WAI-SR, beside the published reference numbers:", head,
              "-" * len(head)]
    for d in DIMENSIONS:
        c = res.dimensions[d]
        ref = "  ".join(f"{_f(REFERENCE[n][d]):>{max(len(n), 6)}}" for n in refs)
        lines.append(f"{d:<10} {_f(c.r):>6} {_p(c.p):>6} {c.n:>4}  | {ref}")
    if all(res.items[i].n == 0 for i in ITEM_IDS):
        lines += ["", "per item: no item-level labels (the label file gives dimension scores only)"]
    else:
        lines += ["", "per item (partial r = controlling for transcript characters and client turns):"]
    for i in (ITEM_IDS if any(res.items[i].n for i in ITEM_IDS) else ()):
        c = res.items[i]
        line = f"  {i:<4} r={_f(c.r):>6}  p={_p(c.p):>6}  n={c.n:<4}"
        pc = res.item_partials.get(i)
        if pc is not None:
            line += f"  partial r={_f(pc.r):>6}  p={_p(pc.p):>6}"
        lines.append(line.rstrip())
    lines.append("")
    if res.consistency:
        any_c = next(iter(res.consistency.values()))
        lines.append(f"self-consistency across {any_c.samples} samples (sampled read-out):")
        for name, cons in res.consistency.items():
            lines.append(f"  {name:<9} ratings={cons.subjects:<5} ICC(1,1)={_f(cons.icc1)}  ICC(2,1)={_f(cons.icc2)}  "
                         f"Fleiss' kappa={_f(cons.kappa)}")
    elif res.scorer_consistency:
        sc = res.scorer_consistency
        lines.append(f"self-consistency as reported by the scorer, mean over {int(sc['predictions'])} predictions "
                     f"({_f(sc['samples'], 0)} samples each): ICC(2,1)={_f(sc['icc'])}  "
                     f"Fleiss' kappa={_f(sc['fleiss_kappa'])}")
    else:
        lines.append("self-consistency: no sampled-mode predictions with per-sample choices in the store")
    lines.append("")
    return "\n".join(lines)


def result_json(res: EvalResult, model: str) -> dict:
    def corr(c: Correlation) -> dict:
        return {"r": None if math.isnan(c.r) else c.r, "p": None if math.isnan(c.p) else c.p, "n": c.n}

    return {
        "model": model, "phase": res.phase, "labelled": res.labelled, "matched": res.matched,
        "dimensions": {d: corr(c) for d, c in res.dimensions.items()},
        "items": {i: corr(c) for i, c in res.items.items()},
        "consistency": {k: {"subjects": c.subjects, "samples": c.samples, "icc1": c.icc1, "icc2": c.icc2,
                            "kappa": c.kappa} for k, c in res.consistency.items()},
        "scorer_consistency": res.scorer_consistency,
        "item_partials": {i: ({"r": None if math.isnan(c.r) else c.r, "p": None if math.isnan(c.p) else c.p,
                               "n": c.n, "df": c.df} if c is not None else None)
                          for i, c in res.item_partials.items()},
        "reference": REFERENCE,
    }
