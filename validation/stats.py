"""The project's one statistics module: the validation gate's figures, ``eval``, ``report``
and the scorer's self-consistency all come from here. No I/O.

Where a maintained library computes a figure exactly as defined here, it does:
scipy (t tests, t intervals, p-values), statsmodels (Holm's adjustment, Fleiss'
and Cohen's kappa). What stays hand-written says why in a comment (no library has
the figure, or the library's semantics differ: NaN replicates, cluster resampling,
the project's seeded folds). statsmodels costs about a second to import, so it is
imported inside the functions that use it: every part imports this module.

Why these and not just Pearson r: a model that only tracks how long the chat was
can reach a respectable raw r with client ratings, because longer, more engaged
sessions tend to be rated higher. So every figure here comes in pairs — the raw
correlation and the *partial* correlation controlling for transcript length
(characters and client turns) — plus a cross-validated length-only predictor on
the same labels, so "beats length" is measured, not assumed.

Conventions: ``x`` are model predictions, ``y`` client labels (one value per
session), ``covariates`` an ``(n, k)`` array (one row per session). Intervals
resample *sessions* (rows), the unit the labels were collected on.

Two flavours of correlation: :func:`pearson` / :func:`partial_correlation` are
strict (the gate: bad input raises); :func:`correlation_or_nan` is for reports
(``eval``): missing values drop their pair and an undefined figure is NaN with
its n, never an exception.
"""

from __future__ import annotations

__layer__ = "core"

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _sps

NAN = float("nan")


@dataclass(frozen=True)
class Correlation:
    """A correlation coefficient with its two-sided p-value and degrees of freedom."""

    r: float
    p: float
    n: int
    df: int

    def ok(self) -> bool:
        """Is the coefficient defined (not NaN)?"""
        return not math.isnan(self.r)


@dataclass(frozen=True)
class Interval:
    """A percentile bootstrap interval; ``resamples`` counts the finite replicates used."""

    low: float
    high: float
    confidence: float
    resamples: int


def _vector(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _matrix(values: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"covariates must have shape (n={n}, k), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("covariates contain NaN or infinite values")
    return arr


def _pair(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = _vector(x, "predictions"), _vector(y, "labels")
    if xa.shape != ya.shape:
        raise ValueError(f"predictions and labels differ in length ({xa.size} vs {ya.size})")
    return xa, ya


def _r(x: np.ndarray, y: np.ndarray, tiny: float = 0.0) -> float:
    """Pearson r; NaN when either side is (numerically) constant: no correlation is defined."""
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denom <= tiny:
        return float("nan")
    return max(-1.0, min(1.0, float(dx @ dy) / denom))


def pearson_r(x: ArrayLike, y: ArrayLike) -> float:
    """Just Pearson r of two equal-length vectors; NaN when a side is constant."""
    xa, ya = _pair(x, y)
    return _r(xa, ya)


def _p_value(r: float, df: int) -> float:
    """Two-sided p of a correlation via its t statistic with ``df`` degrees of freedom."""
    if not math.isfinite(r) or df < 1:
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return float(2.0 * _sps.t.sf(abs(t), df))


def pearson(x: ArrayLike, y: ArrayLike) -> Correlation:
    """Pearson r of predictions with labels, p-value from t with n − 2 df (as scipy)."""
    xa, ya = _pair(x, y)
    n = xa.size
    if n < 3:
        raise ValueError(f"need at least 3 sessions for a correlation, got {n}")
    r = _r(xa, ya)
    return Correlation(r=r, p=_p_value(r, n - 2), n=n, df=n - 2)


def residualize(values: ArrayLike, covariates: ArrayLike) -> np.ndarray:
    """What OLS of ``values`` on an intercept plus ``covariates`` leaves unexplained."""
    # numpy's least squares is the library here: scipy/statsmodels/scikit-learn have no partial correlation
    # with covariates (pingouin has, at the cost of pandas + scikit-learn + statsmodels for one lstsq).
    v = _vector(values, "values")
    c = _matrix(covariates, v.size)
    design = np.column_stack([np.ones(v.size), c])
    beta, *_ = np.linalg.lstsq(design, v, rcond=None)
    out: np.ndarray = v - design @ beta
    return out


def _partial_r(x: np.ndarray, y: np.ndarray, design: np.ndarray) -> float:
    """Partial r via residualisation; ``design`` already holds the intercept column."""
    beta, *_ = np.linalg.lstsq(design, np.column_stack([x, y]), rcond=None)
    res = np.column_stack([x, y]) - design @ beta
    return _r(res[:, 0], res[:, 1], tiny=1e-12)  # residuals of a constant are rounding noise


def partial_correlation(x: ArrayLike, y: ArrayLike, covariates: ArrayLike) -> Correlation:
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


def bootstrap_replicates(x: ArrayLike, y: ArrayLike, covariates: ArrayLike | None, idx: np.ndarray) -> np.ndarray:
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


def bootstrap_interval(x: ArrayLike, y: ArrayLike, covariates: ArrayLike | None = None, *, resamples: int = 2000,
                       confidence: float = 0.95,
                       seed: int = 0) -> Interval:
    """Percentile bootstrap interval of r (or of partial r when covariates are given).

    Sessions are resampled with replacement (pairs stay together); replicates
    where a side is constant (r undefined) are dropped and the count of used
    ones is reported.
    """
    # Not scipy.stats.bootstrap: a NaN replicate there makes the interval NaN (here: dropped and counted), and it
    # has no count of the replicates used; the resampling below is vectorised over resamples (partial r per chunk).
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
    # Not scikit-learn's KFold: its shuffled contiguous split assigns other sessions to each fold for the same
    # seed, which would change every cross-validated figure (length baselines, length raters, the ridge head).
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


def length_baseline(y: ArrayLike, covariates: ArrayLike, *, folds: int = 5, seed: int = 0) -> LengthBaseline:
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


def length_covariates(transcript: Iterable[Any]) -> tuple[float, float]:
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


# --- reports: lenient figures (eval, report) ------------------------------------------------


def _finite_rows(*columns: Sequence[float | None]) -> np.ndarray:
    """Columns side by side as floats (None -> NaN), keeping only rows without a missing value."""
    data = np.array([[NAN if v is None else v for v in row] for row in zip(*columns, strict=True)], dtype=float)
    if data.size == 0:
        return data.reshape(0, len(columns))
    finite: np.ndarray = data[~np.isnan(data).any(axis=1)]
    return finite


def correlation_or_nan(x: Sequence[float | None], y: Sequence[float | None],
                       covariates: Iterable[Iterable[float | None]] | None = None) -> Correlation:
    """Pearson r (or partial r given ``covariates``, an ``(n, k)`` table) for a report.

    Pairs with a missing value (None/NaN) are dropped; too few sessions or a
    constant side give NaN with the n that was left, never an exception.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)})")
    cov = np.empty((len(x), 0)) if covariates is None else np.asarray(
        [[NAN if v is None else v for v in row] for row in covariates], dtype=float).reshape(len(x), -1)
    data = _finite_rows(x, y, *cov.T)
    n, k = data.shape[0], cov.shape[1]
    df = n - 2 - k
    if df < 1:
        return Correlation(NAN, NAN, n, max(df, 0))
    if k == 0:
        r = _r(data[:, 0], data[:, 1])
    else:
        r = _partial_r(data[:, 0], data[:, 1], np.column_stack([np.ones(n), data[:, 2:]]))
    return Correlation(r, _p_value(r, df), n, df)


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    n: int
    sd: float


def mean_ci(values: Sequence[float | None], level: float = 0.95) -> MeanCI:
    """Mean with its t interval (scipy); missing values dropped, NaN bounds below two values."""
    a = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = a.size
    if n == 0:
        return MeanCI(NAN, NAN, NAN, 0, NAN)
    mean = float(a.mean())
    if n < 2:
        return MeanCI(mean, NAN, NAN, 1, NAN)
    sd = float(a.std(ddof=1))
    if sd == 0.0:  # no spread: the interval is the mean itself (scipy would say NaN)
        return MeanCI(mean, mean, mean, n, sd)
    low, high = _sps.t.interval(level, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return MeanCI(mean, float(low), float(high), n, sd)


@dataclass(frozen=True)
class TTest:
    t: float
    df: float
    p: float
    diff: float  # mean(a) - mean(b)


def welch_t(a: Sequence[float | None], b: Sequence[float | None]) -> TTest:
    """Welch's unequal-variance t test, two-sided (``scipy.stats.ttest_ind(equal_var=False)``).

    Missing values are dropped; fewer than two values on a side, or no variance
    at all, give NaN figures (with the difference of means when there is one).
    """
    x = np.asarray([v for v in a if v is not None and not math.isnan(v)], dtype=float)
    y = np.asarray([v for v in b if v is not None and not math.isnan(v)], dtype=float)
    if x.size < 2 or y.size < 2:
        return TTest(NAN, NAN, NAN, NAN if not x.size or not y.size else float(x.mean() - y.mean()))
    diff = float(x.mean() - y.mean())
    if x.var(ddof=1) + y.var(ddof=1) == 0.0:
        return TTest(NAN, NAN, NAN, diff)
    res = _sps.ttest_ind(x, y, equal_var=False)
    return TTest(float(res.statistic), float(res.df), float(res.pvalue), diff)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaNs stay NaN and are not counted).

    statsmodels ``multipletests(method="holm")`` on the p-values that are not NaN. It
    runs ``gc.collect()`` on every call (tens of ms): fine per report dimension, not in a hot loop.
    """
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    out = [NAN] * len(pvalues)
    if not idx:
        return out
    from statsmodels.stats.multitest import multipletests  # lazy: ~1 s to import

    adjusted = multipletests([pvalues[i] for i in idx], method="holm")[1]
    for i, p in zip(idx, adjusted, strict=True):
        out[i] = float(p)
    return out


# --- agreement between raters (the sampled read-out's self-consistency) ---------------------

IccForm = Literal["1,1", "2,1", "3,1"]


def icc(ratings: Sequence[Sequence[float]], form: IccForm = "2,1") -> float:
    """Single-rater intraclass correlation (Shrout & Fleiss 1979) of an n subjects x k raters table.

    ``form``: "1,1" one-way random (raters interchangeable); "2,1" two-way random,
    absolute agreement (the default: samples are interchangeable raters and their
    level matters); "3,1" two-way mixed, consistency. Rows with a missing rating
    are dropped; fewer than two subjects or no variance give NaN.
    """
    # Hand-written: scipy, statsmodels and scikit-learn have no ICC; pingouin's intraclass_corr would add pandas
    # and scikit-learn for these three mean-square formulas (checked against Shrout & Fleiss's published table).
    if form not in ("1,1", "2,1", "3,1"):
        raise ValueError(f"icc: unknown form {form!r} (use '1,1', '2,1' or '3,1')")
    rows = [list(r) for r in ratings]
    if rows and (len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows)):
        raise ValueError("icc: every subject needs the same number (>= 2) of ratings")
    m = np.asarray(rows, dtype=float)
    if m.ndim != 2:
        return NAN
    m = m[~np.isnan(m).any(axis=1)]
    n, k = m.shape
    if n < 2:
        return NAN
    grand = m.mean()
    ss_rows = k * float(np.sum((m.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((m.mean(axis=0) - grand) ** 2))
    ss_err = float(np.sum((m - grand) ** 2)) - ss_rows - ss_cols
    ms_rows, ms_cols = ss_rows / (n - 1), ss_cols / (k - 1)
    ms_err = ss_err / ((n - 1) * (k - 1))
    ms_within = (ss_cols + ss_err) / (n * (k - 1))
    if form == "1,1":
        num, den = ms_rows - ms_within, ms_rows + (k - 1) * ms_within
    elif form == "2,1":
        num, den = ms_rows - ms_err, ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n
    else:
        num, den = ms_rows - ms_err, ms_rows + (k - 1) * ms_err
    return NAN if abs(den) < 1e-12 else float(num / den)


def category_counts(ratings: Sequence[Sequence[int]], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> np.ndarray:
    """Subjects x categories count table from per-subject lists of categorical ratings."""
    index = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(ratings), len(categories)), dtype=float)
    for i, row in enumerate(ratings):
        for v in row:
            if v not in index:
                raise ValueError(f"rating {v!r} is not one of the categories {list(categories)}")
            out[i, index[v]] += 1
    return out


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa from a subjects x categories table of rater counts (same raters per subject).

    statsmodels ``inter_rater.fleiss_kappa(method="fleiss")``. NaN when undefined (no
    subjects, fewer than two raters, everyone always in one category).
    """
    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0:
        return NAN
    raters = m.sum(axis=1)
    # exactly equal (statsmodels asserts the total is subjects x raters); counts are whole numbers
    if not np.all(raters == raters[0]):
        raise ValueError("every subject needs the same number of ratings for Fleiss' kappa")
    if float(raters[0]) < 2 or np.count_nonzero(m.sum(axis=0)) < 2:  # chance agreement 1: kappa is 0/0
        return NAN
    from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss  # lazy: ~1 s to import

    return float(_fleiss(m, method="fleiss"))


def sessions_for_interval_above_zero(r: float, *, covariates: int = 2, confidence: float = 0.95,
                                     power: float = 0.80) -> int:
    """Sessions for the ``confidence`` interval of a (partial) r to exclude zero with probability ``power``.

    Fisher's z: ``n >= ((z_(1+c)/2 + z_power) / atanh(r))**2 + 3 + covariates`` (validation/power.py says why).
    """
    if not 0.0 < r < 1.0:
        raise ValueError(f"r must be in (0, 1), got {r}")
    if not 0.5 <= confidence < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("confidence must be in [0.5, 1) and power in (0, 1)")
    z = _sps.norm.ppf((1.0 + confidence) / 2.0) + _sps.norm.ppf(power)
    return math.ceil(float((z / math.atanh(r)) ** 2 + 3 + covariates))


def finite_or_none(x: float) -> float | None:
    """For JSON: NaN/inf become None."""
    return x if math.isfinite(x) else None


# --- turn-level measures against human codes (``eval-turns``) ------------------------------


def cohen_kappa(a: Sequence[bool | int], b: Sequence[bool | int]) -> float:
    """Cohen's kappa of two binary (or categorical) codings of the same subjects.

    statsmodels ``inter_rater.cohens_kappa`` (simple, unweighted) of the two codings'
    contingency table. NaN when undefined: no subjects, or chance agreement is 1
    (both sides always gave the same single category — e.g. nobody ever coded a
    self-disclosure).
    """
    if len(a) != len(b):
        raise ValueError(f"kappa: the codings differ in length ({len(a)} vs {len(b)})")
    if len(a) == 0:
        return NAN
    x = np.asarray([int(v) for v in a])
    y = np.asarray([int(v) for v in b])
    cats, codes = np.unique(np.concatenate([x, y]), return_inverse=True)
    if cats.size < 2:  # chance agreement 1: kappa is 0/0
        return NAN
    from statsmodels.stats.inter_rater import cohens_kappa  # lazy: ~1 s to import

    table = np.zeros((cats.size, cats.size))
    np.add.at(table, (codes[:x.size], codes[x.size:]), 1.0)
    return float(cohens_kappa(table, return_results=False))


def icc_pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """ICC(2,1) — two-way random, absolute agreement, single rater — of two raters of the same subjects."""
    if len(a) != len(b):
        raise ValueError(f"icc: the ratings differ in length ({len(a)} vs {len(b)})")
    return icc([[float(u), float(v)] for u, v in zip(a, b, strict=True)], "2,1")


def cluster_resamples(clusters: Sequence[str], resamples: int, seed: int) -> list[np.ndarray]:
    """Bootstrap resamples of row indices that draw whole *clusters* with replacement.

    Why clusters: turns of one session are not independent (one counselor, one
    client, one mood), so an interval that resamples turns would be too narrow;
    drawing sessions keeps each session's turns together.
    """
    if resamples < 10:
        raise ValueError(f"resamples must be at least 10, got {resamples}")
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(clusters):
        groups.setdefault(c, []).append(i)
    members = [np.asarray(v) for v in groups.values()]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(members), size=(resamples, len(members)))
    return [np.concatenate([members[j] for j in row]) for row in picks]


def percentile_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Percentile interval of bootstrap replicates; NaN replicates are left out (and not counted)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Interval(NAN, NAN, confidence, 0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(v, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high), confidence, int(v.size))


def _spread(v: np.ndarray) -> float:
    return float(v.std()) if v.size > 1 else 0.0


def length_rater(lengths: ArrayLike, codes: ArrayLike, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold ratings from turn length alone, on the codes' own scale.

    Each fold's turns are rated by a map fitted without them: log length,
    standardised, signed by its correlation with the codes, rescaled to the
    codes' mean and spread. Why rescale instead of OLS: ICC(2,1) counts
    absolute agreement, and OLS predictions shrink toward the mean, which would
    make length look worse than a rater who tracks length can be.
    """
    x = np.log1p(np.asarray(lengths, dtype=float))
    y = np.asarray(codes, dtype=float)
    out = np.empty(y.size)
    ids = fold_ids(y.size, folds, seed)
    for f in range(folds):
        test, train = ids == f, ids != f
        xs, ys = x[train], y[train]
        sx, sy = _spread(xs), _spread(ys)
        r = _r(xs, ys) if sx > 0 and sy > 0 else 0.0
        sign = 0.0 if math.isnan(r) else math.copysign(1.0, r) if r != 0 else 0.0
        z = (x[test] - xs.mean()) / sx if sx > 0 else np.zeros(int(test.sum()))
        out[test] = ys.mean() + sign * sy * z
    return out


def length_classifier(lengths: ArrayLike, codes: Iterable[bool | int], *, folds: int = 5,
                      seed: int = 0) -> np.ndarray:
    """Out-of-fold yes/no from turn length alone: the best length threshold of the other folds.

    On the training turns every cut between two observed lengths, in both
    directions ("at least" and "at most"), is tried and the one with the highest
    kappa kept; ties go to the first. A code length says nothing about comes out
    at kappa ≈ 0; a code that is mostly length comes out high — which is the
    point: a measure must beat this to count.
    """
    x = np.asarray(lengths, dtype=float)
    y = np.asarray([int(v) for v in codes])
    out = np.zeros(y.size, dtype=int)
    ids = fold_ids(y.size, folds, seed)
    for f in range(folds):
        test, train = ids == f, ids != f
        xs, ys = x[train], y[train]
        best, rule = -np.inf, (np.inf, True)
        values = np.unique(xs)
        cuts = (values[:-1] + values[1:]) / 2.0 if values.size > 1 else values
        for cut in cuts:
            for at_least in (True, False):
                pred = (xs >= cut) if at_least else (xs <= cut)
                k = cohen_kappa(pred.astype(int).tolist(), ys.tolist())
                if not math.isnan(k) and k > best:
                    best, rule = k, (cut, at_least)
        cut, at_least = rule
        out[test] = ((x[test] >= cut) if at_least else (x[test] <= cut)).astype(int)
    return out
