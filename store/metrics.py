"""Pure statistics for ``eval`` and ``report`` (numpy + scipy.stats distributions only).

Why our own small functions instead of calling scipy's tests directly: every
function here takes plain sequences, drops missing values the same way, returns
a small named result (never raises on degenerate input — it returns NaN with
n), and is checked in tests against scipy and against published hand-computed
values. Later metrics (e.g. length-controlled partial correlation for the
validation gate) plug in beside these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import stats as _st

NAN = float("nan")


@dataclass(frozen=True)
class Correlation:
    r: float
    p: float
    n: int
    df: int

    def ok(self) -> bool:
        return not math.isnan(self.r)


def _pairs(x: Sequence[float | None], y: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)})")
    a = np.array([np.nan if v is None else v for v in x], dtype=float)
    b = np.array([np.nan if v is None else v for v in y], dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def _r_pvalue(r: float, df: int) -> float:
    """Two-sided p for a correlation with ``df`` degrees of freedom (t test)."""
    if df <= 0 or math.isnan(r):
        return NAN
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2 * _st.t.sf(abs(t), df))


def pearson(x: Sequence[float | None], y: Sequence[float | None]) -> Correlation:
    """Pearson r with its two-sided p-value; pairs with a missing value are dropped."""
    a, b = _pairs(x, y)
    n = len(a)
    if n < 3:
        return Correlation(NAN, NAN, n, max(n - 2, 0))
    da, db = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(da @ da) * float(db @ db))
    if denom == 0.0:
        return Correlation(NAN, NAN, n, n - 2)  # a constant variable has no correlation
    r = max(-1.0, min(1.0, float(da @ db) / denom))
    return Correlation(r, _r_pvalue(r, n - 2), n, n - 2)


def partial_pearson(x: Sequence[float | None], y: Sequence[float | None],
                    covariates: Sequence[Sequence[float | None]]) -> Correlation:
    """Correlation of x and y with the covariates (e.g. transcript length) partialled out.

    Residualises x and y on [1, covariates] by least squares; df = n - 2 - k.
    """
    cols = [list(c) for c in covariates]
    if any(len(c) != len(x) for c in cols) or len(x) != len(y):
        raise ValueError("x, y and every covariate must have the same length")
    data = np.array([[np.nan if v is None else v for v in row] for row in zip(x, y, *cols)], dtype=float)
    data = data[~np.isnan(data).any(axis=1)] if len(data) else data.reshape(0, 2 + len(cols))
    n, k = len(data), len(cols)
    df = n - 2 - k
    if df < 1:
        return Correlation(NAN, NAN, n, max(df, 0))
    design = np.column_stack([np.ones(n), data[:, 2:]])
    res = []
    for j in (0, 1):
        coef, *_ = np.linalg.lstsq(design, data[:, j], rcond=None)
        res.append(data[:, j] - design @ coef)
    denom = math.sqrt(float(res[0] @ res[0]) * float(res[1] @ res[1]))
    if denom < 1e-12:
        return Correlation(NAN, NAN, n, df)
    r = max(-1.0, min(1.0, float(res[0] @ res[1]) / denom))
    return Correlation(r, _r_pvalue(r, df), n, df)


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    n: int
    sd: float


def mean_ci(values: Sequence[float | None], level: float = 0.95) -> MeanCI:
    """Mean with a t-based confidence interval (NaN bounds below two values)."""
    a = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(a)
    if n == 0:
        return MeanCI(NAN, NAN, NAN, 0, NAN)
    mean = float(a.mean())
    if n < 2:
        return MeanCI(mean, NAN, NAN, 1, NAN)
    sd = float(a.std(ddof=1))
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n, sd)


@dataclass(frozen=True)
class TTest:
    t: float
    df: float
    p: float
    diff: float  # mean(a) - mean(b)


def welch_t(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unequal-variance t test (two-sided), as scipy's ttest_ind(equal_var=False)."""
    x = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=float)
    y = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=float)
    if len(x) < 2 or len(y) < 2:
        return TTest(NAN, NAN, NAN, NAN if not len(x) or not len(y) else float(x.mean() - y.mean()))
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    se2 = vx + vy
    if se2 == 0.0:
        return TTest(NAN, NAN, NAN, diff)
    t = diff / math.sqrt(se2)
    df = se2 ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1))
    return TTest(float(t), float(df), float(2 * _st.t.sf(abs(t), df)), diff)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN and are not counted)."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    order = sorted(idx, key=lambda i: pvalues[i])
    out = [NAN] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


IccKind = Literal["ICC1", "ICC2", "ICC3"]


def icc(ratings: Sequence[Sequence[float]], kind: IccKind = "ICC1") -> float:
    """Single-rater intraclass correlation (Shrout & Fleiss 1979) of an n subjects × k raters table.

    ICC1: one-way random (raters interchangeable — right for repeated samples of
    one model); ICC2: two-way random, absolute agreement; ICC3: two-way mixed,
    consistency. Rows with a missing rating are dropped. The arithmetic is the
    scorer's (:func:`scoring.metrics.icc`), so eval and the worker agree exactly.
    """
    from scoring.metrics import icc as _icc

    forms = {"ICC1": "1,1", "ICC2": "2,1", "ICC3": "3,1"}
    if kind not in forms:
        raise ValueError(f"unknown ICC kind {kind!r}; use ICC1, ICC2 or ICC3")
    m = np.asarray(ratings, dtype=float)
    if m.ndim != 2:
        raise ValueError("ratings must be a 2-D table: subjects × raters")
    m = m[~np.isnan(m).any(axis=1)]
    if m.shape[0] < 2 or m.shape[1] < 2:
        return NAN
    return float(_icc(m.tolist(), forms[kind]))


def category_counts(ratings: Sequence[Sequence[int]], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> np.ndarray:
    """Subjects × categories count table from per-subject lists of categorical ratings."""
    index = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(ratings), len(categories)), dtype=float)
    for i, row in enumerate(ratings):
        for v in row:
            if v not in index:
                raise ValueError(f"rating {v!r} is not one of the categories {list(categories)}")
            out[i, index[v]] += 1
    return out


def fleiss_kappa(counts: Sequence[Sequence[float]]) -> float:
    """Fleiss' kappa from a subjects × categories table of rater counts (same raters per subject).

    The arithmetic is the scorer's (:func:`scoring.metrics.fleiss_kappa_counts`).
    """
    from scoring.metrics import fleiss_kappa_counts

    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0:
        return NAN
    raters = m.sum(axis=1)
    if not np.allclose(raters, raters[0]):
        raise ValueError("every subject needs the same number of ratings for Fleiss' kappa")
    if raters[0] < 2:
        return NAN
    return float(fleiss_kappa_counts(m.tolist()))
