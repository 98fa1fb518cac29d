"""Calibration: a per-dimension monotone map from raw expected scores to the client scale.

Why: a model's expected scores can rank sessions well and still sit on the wrong
part of the 1–5 scale (a small model's scores cluster near 3). Alert thresholds
(δ, τ) and what a supervisor reads are on the client's scale, so the scoring
worker applies this map before anything downstream sees a score.

Two methods, both monotone (a higher raw score never maps lower):

* ``linear`` (default): least squares ``a + b·raw`` with the slope constrained
  to ``b ≥ 0``, output clipped to [1, 5]. Two parameters, smooth, and — because
  an increasing affine map does not change a correlation — it leaves the
  validation verdict (computed on raw scores) true for the calibrated scores.
* ``isotonic``: pool-adjacent-violators (implemented here in numpy), linear
  interpolation between its steps. Fits any monotone shape, but with the label
  sets a site has (tens to a few hundred sessions) it overfits: its steps follow
  noise, and its flat stretches tie sessions the model had ranked apart.

Fits are cross-validated (k folds, seeded): the report gives held-out MAE, RMSE
and r before (raw) and after (the map fitted without that fold). Maps serialise
to plain dicts so they can be stored with the validation record.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal, Mapping, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from streams.contracts import DIMENSION_ITEMS, AllianceScore

from .errors import GateError
from .stats import fold_ids, pearson_r

Method = Literal["linear", "isotonic"]
METHODS: tuple[str, ...] = ("linear", "isotonic")
DEFAULT_METHOD: Method = "linear"
SCALE_MIN, SCALE_MAX = 1.0, 5.0
FORMAT_VERSION = 1


def _xy(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise GateError(f"raw scores and labels must be 1-D of equal length, got {xa.shape} and {ya.shape}")
    if xa.size < 2:
        raise GateError(f"need at least 2 labelled sessions to calibrate, got {xa.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise GateError("raw scores or labels contain NaN or infinite values")
    return xa, ya


@dataclass(frozen=True)
class LinearMap:
    """``clip(intercept + slope·raw, 1, 5)`` with ``slope ≥ 0``."""

    intercept: float
    slope: float
    method: str = field(default="linear", init=False)

    @classmethod
    def fit(cls, x: ArrayLike, y: ArrayLike) -> "LinearMap":
        xa, ya = _xy(x, y)
        dx = xa - xa.mean()
        sxx = float(dx @ dx)
        slope = float(dx @ (ya - ya.mean())) / sxx if sxx > 0 else 0.0
        if slope < 0.0:  # a negative slope would invert the model's ranking: refuse, map to the mean
            slope = 0.0
        return cls(intercept=float(ya.mean() - slope * xa.mean()), slope=slope)

    def apply(self, raw: ArrayLike) -> float | np.ndarray:
        out = np.clip(self.intercept + self.slope * np.asarray(raw, dtype=float), SCALE_MIN, SCALE_MAX)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, Any]:
        return {"method": "linear", "intercept": self.intercept, "slope": self.slope}


def pava(y: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """The non-decreasing sequence closest to ``y`` (weighted L2): scipy's pool-adjacent-violators."""
    from scipy.optimize import isotonic_regression

    return np.asarray(isotonic_regression(np.asarray(y, dtype=float), weights=weights, increasing=True).x)


@dataclass(frozen=True)
class IsotonicMap:
    """Monotone step fit (PAVA) at the distinct raw scores, interpolated linearly between."""

    knots_x: tuple[float, ...]
    knots_y: tuple[float, ...]
    method: str = field(default="isotonic", init=False)

    @classmethod
    def fit(cls, x: ArrayLike, y: ArrayLike) -> "IsotonicMap":
        xa, ya = _xy(x, y)
        ux, inverse, counts = np.unique(xa, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=ya) / counts  # ties in raw score pooled first
        fitted = pava(means, counts)
        return cls(knots_x=tuple(float(v) for v in ux), knots_y=tuple(float(v) for v in fitted))

    def apply(self, raw: ArrayLike) -> float | np.ndarray:
        out = np.clip(np.interp(np.asarray(raw, dtype=float), self.knots_x, self.knots_y), SCALE_MIN, SCALE_MAX)
        return float(out) if out.ndim == 0 else out

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "x": list(self.knots_x), "y": list(self.knots_y)}


MonotoneMap = Union[LinearMap, IsotonicMap]


def fit_map(x: ArrayLike, y: ArrayLike, method: str = DEFAULT_METHOD) -> MonotoneMap:
    if method == "linear":
        return LinearMap.fit(x, y)
    if method == "isotonic":
        return IsotonicMap.fit(x, y)
    raise GateError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")


def map_from_dict(data: Mapping[str, Any]) -> MonotoneMap:
    method = data.get("method")
    if method == "linear":
        slope = float(data["slope"])
        if slope < 0:
            raise GateError(f"linear calibration slope must be >= 0, got {slope}")
        return LinearMap(intercept=float(data["intercept"]), slope=slope)
    if method == "isotonic":
        xs, ys = [float(v) for v in data["x"]], [float(v) for v in data["y"]]
        if len(xs) != len(ys) or not xs:
            raise GateError("isotonic calibration needs equally many, at least one, x and y knots")
        if any(b < a for a, b in pairwise(xs)) or any(b < a for a, b in pairwise(ys)):
            raise GateError("isotonic calibration knots must be non-decreasing")
        return IsotonicMap(knots_x=tuple(xs), knots_y=tuple(ys))
    raise GateError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")


@dataclass(frozen=True)
class CalibrationCheck:
    """Held-out comparison for one dimension: raw scores vs the fold-fitted map."""

    method: str
    n: int
    folds: int
    mae_before: float
    mae_after: float
    rmse_before: float
    rmse_after: float
    r_before: float
    r_after: float

    @property
    def improves(self) -> bool:
        """True when the map lowers held-out MAE and RMSE."""
        return self.mae_after < self.mae_before and self.rmse_after < self.rmse_before

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def cross_validate(x: ArrayLike, y: ArrayLike, method: str = DEFAULT_METHOD, *, folds: int = 5,
                   seed: int = 0) -> CalibrationCheck:
    """Fit on k−1 folds, apply to the held-out fold; compare with the raw scores there."""
    xa, ya = _xy(x, y)
    ids = fold_ids(xa.size, folds, seed)
    out = np.empty_like(xa)
    for f in range(folds):
        test = ids == f
        out[test] = fit_map(xa[~test], ya[~test], method).apply(xa[test])
    err_b, err_a = xa - ya, out - ya
    return CalibrationCheck(
        method=method, n=int(xa.size), folds=folds,
        mae_before=float(np.mean(np.abs(err_b))), mae_after=float(np.mean(np.abs(err_a))),
        rmse_before=float(np.sqrt(np.mean(err_b ** 2))), rmse_after=float(np.sqrt(np.mean(err_a ** 2))),
        r_before=pearson_r(xa, ya), r_after=pearson_r(out, ya),
    )


@dataclass(frozen=True)
class Calibration:
    """Per-dimension maps; a dimension without a map passes raw scores through (clipped)."""

    maps: Mapping[str, MonotoneMap]
    method: str = DEFAULT_METHOD
    n: int = 0

    def apply(self, dimension: str, raw: float) -> float:
        m = self.maps.get(dimension)
        if m is None:
            return float(min(SCALE_MAX, max(SCALE_MIN, raw)))
        return float(m.apply(raw))

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "method": self.method, "n": self.n,
                "dimensions": {d: m.to_dict() for d, m in self.maps.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Calibration":
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise GateError(f"unsupported calibration format version {version!r} (expected {FORMAT_VERSION})")
        maps = {str(d): map_from_dict(m) for d, m in data.get("dimensions", {}).items()}
        return cls(maps=maps, method=str(data.get("method", DEFAULT_METHOD)), n=int(data.get("n", 0)))


@dataclass(frozen=True)
class CalibrationResult:
    """The maps fitted on all labels, and the held-out check that justifies them."""

    calibration: Calibration
    checks: Mapping[str, CalibrationCheck]


def fit_calibration(predictions: Mapping[str, Sequence[float]], labels: Mapping[str, Sequence[float]],
                    method: str = DEFAULT_METHOD, *, folds: int = 5, seed: int = 0) -> CalibrationResult:
    """Per dimension: cross-validated check, then the final map fitted on every label."""
    if method not in METHODS:
        raise GateError(f"unknown calibration method {method!r} (choose from {', '.join(METHODS)})")
    maps: dict[str, MonotoneMap] = {}
    checks: dict[str, CalibrationCheck] = {}
    n = 0
    for dim, raw in predictions.items():
        if dim not in labels:
            raise GateError(f"no labels for dimension {dim!r}")
        checks[dim] = cross_validate(raw, labels[dim], method, folds=folds, seed=seed)
        maps[dim] = fit_map(raw, labels[dim], method)
        n = max(n, len(raw))
    return CalibrationResult(Calibration(maps=maps, method=method, n=n), checks)


def raw_dimensions(items: Mapping[str, float]) -> dict[str, float | None]:
    """Raw dimension scores (mean of the four item expected values) from item scores.

    Items are never calibrated, so this recovers the uncalibrated dimension score
    of a stored prediction even after the scoring worker calibrated its
    ``dimensions``; ``eval`` and ``calibrate`` should read these, so that a
    calibration is never fitted on top of itself. None when an item is missing.
    """
    out: dict[str, float | None] = {}
    for dim, ids in DIMENSION_ITEMS.items():
        values = [v for i in ids if (v := items.get(i)) is not None]
        out[dim] = None if len(values) < len(ids) else sum(values) / len(values)
    return out


def format_checks(checks: Mapping[str, CalibrationCheck]) -> str:
    """``calibrate``/``eval`` output: held-out error and r before → after, per dimension."""
    lines = ["calibration, held-out folds (raw -> calibrated):",
             f"{'dimension':<10} {'method':<9} {'n':>4} {'MAE':>15} {'RMSE':>15} {'r':>15}"]
    for dim, c in checks.items():
        lines.append(f"{dim:<10} {c.method:<9} {c.n:>4} {c.mae_before:6.3f} -> {c.mae_after:5.3f} "
                     f"{c.rmse_before:6.3f} -> {c.rmse_after:5.3f} {c.r_before:6.3f} -> {c.r_after:5.3f}")
    return "\n".join(lines)


def calibrate_score(score: AllianceScore, calibration: Calibration) -> AllianceScore:
    """An ``AllianceScore`` with its dimension scores mapped to the client scale.

    What the scoring worker applies before publishing. Item scores stay raw:
    their expected values are tied to the model's own option probabilities,
    which the map does not change, and alert evidence shows item *movements*.
    Dimension spreads are scaled by a linear map's slope (isotonic leaves them).
    The model identity is unchanged: the gate's verdict is about the ranking,
    which a monotone map keeps (and a linear one keeps exactly, up to clipping).
    """
    from streams.contracts import DimensionScore

    dims: dict[str, DimensionScore] = {}
    for name, dim in score.dimensions.items():
        m = calibration.maps.get(name)
        if m is None:
            dims[name] = dim
            continue
        spread = dim.spread * m.slope if isinstance(m, LinearMap) else dim.spread
        dims[name] = DimensionScore(score=float(m.apply(dim.score)), spread=spread)
    return score.model_copy(update={"dimensions": dims})
