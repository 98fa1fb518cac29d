"""The gate's decision for one model: every figure per dimension, pass or fail (docs/validation.md).

Why a gate: on public held-out data the demo model's scores are at chance, and
what they do follow is transcript length — which itself correlates with how
clients rate a session. Raw r therefore flatters a model. A counselor acting on
such an alert would be acting on noise, so until a model has shown, on the
site's own client ratings, that it reads the alliance *beyond length* better
than counselors do (r ≈ .28), its alerts go to supervisors only, marked
"unvalidated" (the routing is :mod:`validation.gate`).

A dimension passes only when all of these hold:

1. at least ``min_n`` labelled sessions;
2. the length-controlled (partial) r beats the cross-validated length-only
   baseline's r on the same labels;
3. it beats the published counselor–client agreement (``counselor_r``);
4. the lower bound of its bootstrap interval is above zero.

Pure: numbers in, verdicts out (:class:`validation.records.ValidationRecord`).
``evaluate*`` import numpy/scipy lazily so the shells that only route alerts
(processor, gateway) need neither.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from streams.contracts import DIMENSIONS, ModelIdentity

from .errors import GateError
from .records import DimensionVerdict, ValidationRecord

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: Counselors' own ratings vs client WAI-SR (242 held-out sessions; docs/architecture.md#background-the-client-rated-alliance).
PUBLISHED_COUNSELOR_R: dict[str, float] = {"goal": 0.290, "approach": 0.286, "bond": 0.261}
#: The single reference the gate uses by default (the rounded published figure).
DEFAULT_COUNSELOR_R = 0.28


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the gate. ``counselor_r_by_dimension`` overrides ``counselor_r`` per dimension."""

    counselor_r: float = DEFAULT_COUNSELOR_R
    counselor_r_by_dimension: Mapping[str, float] = field(default_factory=dict)
    min_n: int = 50
    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    folds: int = 5

    def __post_init__(self) -> None:
        if not -1.0 <= self.counselor_r <= 1.0:
            raise GateError(f"counselor_r must be a correlation in [-1, 1], got {self.counselor_r}")
        if self.min_n < 10:
            raise GateError(f"min_n must be at least 10, got {self.min_n}")
        if self.resamples < 100:
            raise GateError(f"resamples must be at least 100, got {self.resamples}")
        if not 0.5 <= self.confidence < 1.0:
            raise GateError(f"confidence must be in [0.5, 1), got {self.confidence}")
        if self.folds < 2:
            raise GateError(f"folds must be at least 2, got {self.folds}")

    def reference_for(self, dimension: str) -> float:
        return float(self.counselor_r_by_dimension.get(dimension, self.counselor_r))

    @classmethod
    def published_per_dimension(cls, **kw: Any) -> "GateSettings":
        """Use the three published counselor figures instead of the rounded .28."""
        return cls(counselor_r_by_dimension=dict(PUBLISHED_COUNSELOR_R), **kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counselor_r_by_dimension"] = dict(self.counselor_r_by_dimension)
        return d


def fmt_figure(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"


def evaluate_dimension(dimension: str, predictions: ArrayLike, labels: ArrayLike,
                       covariates: Any, settings: GateSettings | None = None) -> DimensionVerdict:
    """Compute every figure for one dimension and decide pass/fail (see module doc)."""
    from math import isnan

    import numpy as np

    from . import stats

    settings = settings or GateSettings()
    ref = settings.reference_for(dimension)
    x, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise GateError(f"{dimension}: predictions and labels must be 1-D of equal length, "
                         f"got {x.shape} and {y.shape}")
    c = np.asarray(covariates, dtype=float)
    c = c[:, None] if c.ndim == 1 else c
    n = int(x.size)
    k = c.shape[1] if c.ndim == 2 else 0
    if n < max(k + 3, settings.folds, 3):
        return DimensionVerdict(dimension=dimension, n=n, counselor_r=ref, confidence=settings.confidence,
                                passed=False, reason=f"fails: only {n} labelled sessions, too few to compute "
                                                     f"anything (minimum {settings.min_n})")
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        side = "predictions" if np.ptp(x) == 0.0 else "labels"
        return DimensionVerdict(dimension=dimension, n=n, counselor_r=ref, confidence=settings.confidence,
                                passed=False, reason=f"fails: the {side} are constant, so no correlation exists")

    raw = stats.pearson(x, y)
    part = stats.partial_correlation(x, y, c)
    kw: dict[str, Any] = dict(resamples=settings.resamples, confidence=settings.confidence, seed=settings.seed)
    raw_ci = stats.bootstrap_interval(x, y, **kw)
    part_ci = stats.bootstrap_interval(x, y, c, **kw)
    base = stats.length_baseline(y, c, folds=settings.folds, seed=settings.seed)

    failures: list[str] = []
    if n < settings.min_n:
        failures.append(f"only {n} labelled sessions (minimum {settings.min_n})")
    pr = part.r
    # NaN never passes; a NaN baseline (constant length) has nothing to beat.
    beats_baseline = not isnan(pr) and (isnan(base.r) or pr > base.r)
    if not beats_baseline:
        failures.append(f"length-controlled r {fmt_figure(pr)} does not beat the length-only baseline "
                        f"(r {fmt_figure(base.r)})")
    if isnan(pr) or pr <= ref:
        failures.append(f"length-controlled r {fmt_figure(pr)} does not beat the counselor reference (r {ref:.3f})")
    if isnan(part_ci.low) or part_ci.low <= 0.0:
        failures.append(f"the {settings.confidence:.0%} interval of the length-controlled r "
                        f"({fmt_figure(part_ci.low)} to {fmt_figure(part_ci.high)}) does not lie above zero")
    passed = not failures
    if passed:
        reason = (f"passes: length-controlled r {pr:.3f} ({settings.confidence:.0%} CI {part_ci.low:.3f} to "
                  f"{part_ci.high:.3f}) beats the length-only baseline (r {fmt_figure(base.r)}) and the counselor "
                  f"reference (r {ref:.3f}), n={n}")
    else:
        reason = "fails: " + "; ".join(failures) + f" (raw r {raw.r:.3f}, n={n})"

    def _num(v: float) -> float | None:
        return None if isnan(v) else float(v)

    return DimensionVerdict(
        dimension=dimension, n=n, r=_num(raw.r), r_p=_num(raw.p),
        r_ci=(raw_ci.low, raw_ci.high) if raw_ci.resamples else None,
        partial_r=_num(part.r), partial_p=_num(part.p), partial_df=part.df,
        partial_ci=(part_ci.low, part_ci.high) if part_ci.resamples else None,
        confidence=settings.confidence, baseline_r=_num(base.r), counselor_r=ref, passed=passed, reason=reason,
    )


def evaluate(model: ModelIdentity, predictions: Mapping[str, Sequence[float]],
             labels: Mapping[str, Sequence[float]], covariates: Any, settings: GateSettings | None = None, *,
             labels_source: str | None = None, calibration: Mapping[str, Any] | None = None,
             created_at: datetime | None = None) -> ValidationRecord:
    """Evaluate every dimension present in ``predictions`` and build the record.

    ``predictions[dim][i]``, ``labels[dim][i]`` and ``covariates[i]`` all belong
    to the same session ``i`` (the caller joins by session_id, or uses
    :func:`evaluate_sessions`). ``covariates`` may also be a mapping per dimension
    when the dimensions cover different sessions.
    """
    settings = settings or GateSettings()
    verdicts: dict[str, DimensionVerdict] = {}
    n = 0
    for dim, preds in predictions.items():
        if dim not in labels:
            raise GateError(f"no labels for dimension {dim!r}")
        cov = covariates[dim] if isinstance(covariates, Mapping) else covariates
        verdicts[dim] = evaluate_dimension(dim, preds, labels[dim], cov, settings)
        n = max(n, len(preds))
    return ValidationRecord(
        model=model, created_at=created_at or datetime.now(timezone.utc), labels_n=n,
        labels_source=labels_source, settings=settings.to_dict(), dimensions=verdicts,
        calibration=dict(calibration) if calibration is not None else None,
    )


def join_sessions(predictions: Mapping[str, Mapping[str, float | None]],
                  labels: Mapping[str, Mapping[str, float | None]],
                  covariates: Mapping[str, Sequence[float]] | None,
                  dimensions: Sequence[str] = DIMENSIONS,
                  ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[list[float]]], dict[str, list[str]]]:
    """Per dimension, the sessions that have a prediction, a label and covariates, in session-id order.

    Inputs are keyed by session_id: ``predictions[sid][dim]`` (the model's
    dimension score), ``labels[sid][dim]`` (the client's), ``covariates[sid]``
    (characters, client turns), or ``covariates=None`` when none are needed
    (calibration). A missing or None value drops the session from that dimension
    only. Returns (predictions, labels, covariates, session ids), each per
    dimension, ready for :func:`evaluate` / ``calibration.fit_calibration``.
    """
    preds_out: dict[str, list[float]] = {}
    labels_out: dict[str, list[float]] = {}
    cov_out: dict[str, list[list[float]]] = {}
    sids_out: dict[str, list[str]] = {}
    for dim in dimensions:
        common = set(predictions) & set(labels)
        if covariates is not None:
            common &= {s for s, c in covariates.items() if c is not None and all(v is not None for v in c)}
        sids = [s for s in sorted(common)
                if predictions[s].get(dim) is not None and labels[s].get(dim) is not None]
        preds_out[dim] = [float(pred) for s in sids if (pred := predictions[s][dim]) is not None]  # all are: sids
        labels_out[dim] = [float(label) for s in sids if (label := labels[s][dim]) is not None]
        cov_out[dim] = [[float(v) for v in covariates[s]] for s in sids] if covariates is not None else []
        sids_out[dim] = sids
    return preds_out, labels_out, cov_out, sids_out


def evaluate_sessions(model: ModelIdentity, predictions: Mapping[str, Mapping[str, float | None]],
                      labels: Mapping[str, Mapping[str, float | None]], covariates: Mapping[str, Sequence[float]],
                      settings: GateSettings | None = None, *, labels_source: str | None = None,
                      calibration: Mapping[str, Any] | None = None, created_at: datetime | None = None,
                      dimensions: Sequence[str] = DIMENSIONS) -> ValidationRecord:
    """:func:`join_sessions` then :func:`evaluate` — what ``eval`` calls with store rows and a label file."""
    p, y, c, _ = join_sessions(predictions, labels, covariates, dimensions)
    return evaluate(model, p, y, c, settings, labels_source=labels_source, calibration=calibration,
                    created_at=created_at)
