"""Statistics behind the validation gate (DESIGN §8). numpy/scipy only, no I/O.

Why these and not just Pearson r: a model that only tracks how long the chat was
can reach a respectable raw r with client ratings, because longer, more engaged
sessions tend to be rated higher. So every figure here comes in pairs — the raw
correlation and the *partial* correlation controlling for transcript length
(characters and client turns) — plus a cross-validated length-only predictor on
the same labels, so "beats length" is measured, not assumed.

Conventions: ``x`` are model predictions, ``y`` client labels (one value per
session), ``covariates`` an ``(n, k)`` array (one row per session). Intervals
resample *sessions* (rows), the unit the labels were collected on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its two-sided p-value and degrees of freedom."""

    r: float
    p: float
    n: int
    df: int


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; ``resamples`` counts the finite replicates used."""

    low: float
    high: float
    confidence: float
    resamples: int


def _vector(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _matrix(values, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"covariates must have shape (n={n}, k), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("covariates contain NaN or infinite values")
    return arr


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = _vector(x, "predictions"), _vector(y, "labels")
    if xa.shape != ya.shape:
        raise ValueError(f"predictions and labels differ in length ({xa.size} vs {ya.size})")
    return xa, ya


def _r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant (no correlation is defined)."""
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denom == 0.0:
        return float("nan")
    return max(-1.0, min(1.0, float(dx @ dy) / denom))


def _p_value(r: float, df: int) -> float:
    """Two-sided p of a correlation via its t statistic with ``df`` degrees of freedom."""
    if not math.isfinite(r) or df < 1:
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2.0 * _sps.t.sf(abs(t), df))


def pearson(x, y) -> Correlation:
    """Pearson r of predictions with labels, p-value from t with n − 2 df (as scipy)."""
    xa, ya = _pair(x, y)
    n = xa.size
    if n < 3:
        raise ValueError(f"need at least 3 sessions for a correlation, got {n}")
    r = _r(xa, ya)
    return Correlation(r=r, p=_p_value(r, n - 2), n=n, df=n - 2)


def residualize(values, covariates) -> np.ndarray:
    """What OLS of ``values`` on an intercept plus ``covariates`` leaves unexplained."""
    v = _vector(values, "values")
    c = _matrix(covariates, v.size)
    design = np.column_stack([np.ones(v.size), c])
    beta, *_ = np.linalg.lstsq(design, v, rcond=None)
    return v - design @ beta


def _partial_r(x: np.ndarray, y: np.ndarray, design: np.ndarray) -> float:
    """Partial r via residualisation; ``design`` already holds the intercept column."""
    beta, *_ = np.linalg.lstsq(design, np.column_stack([x, y]), rcond=None)
    res = np.column_stack([x, y]) - design @ beta
    return _r(res[:, 0], res[:, 1])


def partial_correlation(x, y, covariates) -> Correlation:
    """r of predictions with labels after removing what the covariates explain of each.

    The p-value uses n − 2 − k degrees of freedom (k covariates), the standard
    test for a partial correlation.
    """
    xa, ya = _pair(x, y)
    c = _matrix(covariates, xa.size)
    n, k = xa.size, c.shape[1]
    df = n - 2 - k
    if df < 1:
        raise ValueError(f"need more than {k + 2} sessions for a partial correlation with {k} covariates, got {n}")
    design = np.column_stack([np.ones(n), c])
    r = _partial_r(xa, ya, design)
    return Correlation(r=r, p=_p_value(r, df), n=n, df=df)


#: resamples computed per vectorised chunk (bounds memory at large n).
_CHUNK = 256


def bootstrap_replicates(x, y, covariates, idx) -> np.ndarray:
    """r (or partial r) of each resample; row ``b`` of ``idx`` lists the sessions drawn.

    Vectorised over resamples: each chunk residualises both sides on the
    covariates with batched normal equations (covariates standardised first —
    partial r does not change under affine maps of a covariate, and the
    equations stay well conditioned). A replicate where a side has (numerically)
    no variance is NaN.
    """
    xa, ya = _pair(x, y)
    n = xa.size
    idx = np.asarray(idx)
    cov = None
    if covariates is not None:
        c = _matrix(covariates, n)
        sd = c.std(axis=0)
        cov = (c - c.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    tiny_x = 1e-12 * max(float(np.sum((xa - xa.mean()) ** 2)), 1e-300)
    tiny_y = 1e-12 * max(float(np.sum((ya - ya.mean()) ** 2)), 1e-300)
    out = np.empty(idx.shape[0])
    for start in range(0, idx.shape[0], _CHUNK):
        rows = idx[start:start + _CHUNK]
        xs, ys = xa[rows], ya[rows]  # (b, n)
        if cov is not None:
            design = np.concatenate([np.ones(rows.shape + (1,)), cov[rows]], axis=2)  # (b, n, p)
            dt = design.transpose(0, 2, 1)
            both = np.stack([xs, ys], axis=2)  # (b, n, 2)
            beta = np.linalg.pinv(dt @ design, hermitian=True) @ (dt @ both)
            res = both - design @ beta
            xs, ys = res[..., 0], res[..., 1]
        xc = xs - xs.mean(axis=1, keepdims=True)
        yc = ys - ys.mean(axis=1, keepdims=True)
        sxx, syy = np.sum(xc * xc, axis=1), np.sum(yc * yc, axis=1)
        ok = (sxx > tiny_x) & (syy > tiny_y)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.sum(xc * yc, axis=1) / np.sqrt(sxx * syy)
        out[start:start + rows.shape[0]] = np.where(ok, np.clip(r, -1.0, 1.0), np.nan)
    return out


def bootstrap_interval(x, y, covariates=None, *, resamples: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> Interval:
    """Percentile bootstrap interval of r (or of partial r when covariates are given).

    Sessions are resampled with replacement (pairs stay together); replicates
    where a side is constant (r undefined) are dropped and the count of used
    ones is reported.
    """
    xa, ya = _pair(x, y)
    n = xa.size
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 10:
        raise ValueError(f"resamples must be at least 10, got {resamples}")
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    values = bootstrap_replicates(xa, ya, covariates, idx)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(float("nan"), float("nan"), confidence, 0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high), confidence, int(values.size))


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """A seeded assignment of ``n`` sessions to ``folds`` folds of near-equal size."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if n < folds:
        raise ValueError(f"need at least as many sessions as folds ({n} < {folds})")
    ids = np.arange(n) % folds
    np.random.default_rng(seed).shuffle(ids)
    return ids


@dataclass(frozen=True)
class LengthBaseline:
    """The length-only predictor: out-of-fold predictions and their r with the labels."""

    r: float
    p: float
    n: int
    folds: int
    predictions: tuple[float, ...]


def length_baseline(y, covariates, *, folds: int = 5, seed: int = 0) -> LengthBaseline:
    """Cross-validated OLS of labels on the length covariates (plus intercept).

    Each session is predicted by a model fitted without it, so the baseline's r
    is an honest estimate of what length alone buys on these labels — not the
    in-sample R, which always flatters a regression.
    """
    ya = _vector(y, "labels")
    c = _matrix(covariates, ya.size)
    n = ya.size
    design = np.column_stack([np.ones(n), c])
    ids = fold_ids(n, folds, seed)
    out = np.empty(n)
    for f in range(folds):
        test = ids == f
        beta, *_ = np.linalg.lstsq(design[~test], ya[~test], rcond=None)
        out[test] = design[test] @ beta
    r = _r(out, ya)
    return LengthBaseline(r=r, p=_p_value(r, n - 2), n=n, folds=folds, predictions=tuple(float(v) for v in out))


def length_covariates(transcript) -> tuple[float, float]:
    """(transcript characters, client turns) of one transcript.

    ``transcript`` is an iterable of objects or dicts with ``speaker`` and
    ``text`` (e.g. :class:`streams.contracts.TranscriptLine`). Only counts leave
    this function — never text.
    """
    chars = 0
    client_turns = 0
    for line in transcript:
        speaker = line["speaker"] if isinstance(line, dict) else line.speaker
        text = line["text"] if isinstance(line, dict) else line.text
        chars += len(text)
        client_turns += speaker == "client"
    return float(chars), float(client_turns)
