"""Reliability and agreement metrics: pure functions, no numpy needed.

Used for the self-consistency of the sampled read-out (ICC and Fleiss' kappa
across samples, as reported for the published protocol) and by the store /
evaluation code (Pearson, Spearman against client self-reports).

Undefined values (zero variance, too few subjects) are ``nan``, never an
exception: "cannot tell" is a legitimate answer for a constant rater.
"""

from __future__ import annotations

import math
from typing import Sequence

NAN = float("nan")


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) != len(y):
        raise ValueError(f"pearson: lengths differ ({len(x)} vs {len(y)})")
    if len(x) < 2:
        return NAN
    mx, my = _mean(x), _mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return NAN
    return sxy / math.sqrt(sxx * syy)


def _ranks(xs: Sequence[float]) -> list[float]:
    """Average ranks (1-based), ties share the mean rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_ranks(x), _ranks(y))


def mean_absolute_error(x: Sequence[float], y: Sequence[float]) -> float:
    if len(x) != len(y) or not x:
        raise ValueError("mean_absolute_error: need two equal, non-empty sequences")
    return _mean([abs(a - b) for a, b in zip(x, y)])


def icc(ratings: Sequence[Sequence[float]], form: str = "2,1") -> float:
    """Intraclass correlation (Shrout & Fleiss 1979) for an n-subjects × k-raters table.

    ``form``: "1,1" one-way random; "2,1" two-way random, absolute agreement
    (the default: samples are interchangeable raters and their level matters);
    "3,1" two-way mixed, consistency.
    """
    n = len(ratings)
    if n < 2:
        return NAN
    k = len(ratings[0])
    if k < 2 or any(len(r) != k for r in ratings):
        raise ValueError("icc: every subject needs the same number (>= 2) of ratings")
    grand = _mean([v for row in ratings for v in row])
    row_means = [_mean(row) for row in ratings]
    col_means = [_mean([row[j] for row in ratings]) for j in range(k)]
    ss_total = sum((v - grand) ** 2 for row in ratings for v in row)
    ss_rows = k * sum((m - grand) ** 2 for m in row_means)
    ss_cols = n * sum((m - grand) ** 2 for m in col_means)
    ss_err = ss_total - ss_rows - ss_cols
    ms_rows = ss_rows / (n - 1)
    ms_cols = ss_cols / (k - 1)
    ms_err = ss_err / ((n - 1) * (k - 1))
    ms_within = (ss_cols + ss_err) / (n * (k - 1))
    if form == "1,1":
        den = ms_rows + (k - 1) * ms_within
        num = ms_rows - ms_within
    elif form == "2,1":
        den = ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n
        num = ms_rows - ms_err
    elif form == "3,1":
        den = ms_rows + (k - 1) * ms_err
        num = ms_rows - ms_err
    else:
        raise ValueError(f"icc: unknown form {form!r} (use '1,1', '2,1' or '3,1')")
    if abs(den) < 1e-12:
        return NAN
    return num / den


def fleiss_kappa_counts(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa from a subjects × categories table of how many raters chose each."""
    n = len(counts)
    if n == 0:
        return NAN
    m = sum(counts[0])
    if m < 2 or any(sum(row) != m for row in counts):
        raise ValueError("fleiss_kappa: every subject needs the same number (>= 2) of ratings")
    n_cat = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (n * m) for j in range(n_cat)]
    p_i = [(sum(c * c for c in row) - m) / (m * (m - 1)) for row in counts]
    p_bar = _mean(p_i)
    p_e = sum(p * p for p in p_j)
    if abs(1 - p_e) < 1e-12:
        return NAN
    return (p_bar - p_e) / (1 - p_e)


def fleiss_kappa(ratings: Sequence[Sequence[int]], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> float:
    """Fleiss' kappa from a subjects × raters table of chosen categories."""
    index = {c: i for i, c in enumerate(categories)}
    counts = []
    for row in ratings:
        c = [0] * len(categories)
        for v in row:
            if v not in index:
                raise ValueError(f"fleiss_kappa: rating {v!r} is not one of {list(categories)}")
            c[index[v]] += 1
        counts.append(c)
    return fleiss_kappa_counts(counts)


def finite_or_none(x: float) -> float | None:
    """For JSON: nan/inf become None."""
    return x if math.isfinite(x) else None
