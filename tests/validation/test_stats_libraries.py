"""Cross-checks: the library-backed statistics (statsmodels) equal the formulas they replaced, on random data.

Each ``_old_*`` below is the hand-written computation ``validation/stats.py`` had before it called the
library (issue 24); the published-value tests stay in test_stats_*.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.stats import category_counts, cohen_kappa, fleiss_kappa, holm


def _old_holm(pvalues: list[float]) -> list[float]:
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def _old_fleiss(counts: np.ndarray) -> float:
    m = np.asarray(counts, dtype=float)
    r = float(m.sum(axis=1)[0])
    p_j = m.sum(axis=0) / (m.shape[0] * r)
    p_bar = float(np.mean((np.sum(m * m, axis=1) - r) / (r * (r - 1))))
    p_e = float(np.sum(p_j * p_j))
    return float("nan") if abs(1 - p_e) < 1e-12 else (p_bar - p_e) / (1 - p_e)


def _old_cohen(a: list[int], b: list[int]) -> float:
    n = len(a)
    if n == 0:
        return float("nan")
    x, y = [int(v) for v in a], [int(v) for v in b]
    cats = sorted(set(x) | set(y))
    p_o = sum(u == v for u, v in zip(x, y, strict=True)) / n
    p_e = sum((x.count(c) / n) * (y.count(c) / n) for c in cats)
    return float("nan") if abs(1.0 - p_e) < 1e-12 else (p_o - p_e) / (1.0 - p_e)


@pytest.mark.parametrize("seed", range(20))
def test_holm_equals_the_previous_step_down(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 30))
    p = rng.uniform(0, 1, m) ** 3  # many small ones, so adjustments run into each other and into 1
    p[rng.uniform(size=m) < 0.2] = np.nan
    if m > 3:
        p[1] = p[2]  # a tie
    values = [float(v) for v in p]
    assert holm(values) == pytest.approx(_old_holm(values), rel=1e-12, abs=1e-15, nan_ok=True)


def test_holm_all_missing_or_empty() -> None:
    assert holm([]) == []
    assert all(math.isnan(v) for v in holm([float("nan"), float("nan")]))


@pytest.mark.parametrize("seed", range(20))
def test_fleiss_kappa_equals_the_previous_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    subjects, raters, cats = int(rng.integers(2, 40)), int(rng.integers(2, 8)), int(rng.integers(2, 6))
    # raters that partly agree: each subject has a "true" category some raters pick
    truth = rng.integers(1, cats + 1, subjects)
    ratings = [[int(t) if rng.uniform() < 0.6 else int(rng.integers(1, cats + 1)) for _ in range(raters)]
               for t in truth]
    counts = category_counts(ratings, categories=tuple(range(1, cats + 1)))
    assert fleiss_kappa(counts) == pytest.approx(_old_fleiss(counts), rel=1e-12, abs=1e-14)


def test_fleiss_kappa_undefined_cases_unchanged() -> None:
    one_category = category_counts([[2, 2, 2], [2, 2, 2]])
    assert math.isnan(fleiss_kappa(one_category)) and math.isnan(_old_fleiss(one_category))
    assert math.isnan(fleiss_kappa(category_counts([[1], [2]])))  # one rater
    assert math.isnan(fleiss_kappa(np.zeros((0, 5))))


@pytest.mark.parametrize("seed", range(20))
def test_cohen_kappa_equals_the_previous_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, cats = int(rng.integers(1, 200)), int(rng.integers(2, 5))
    a = rng.integers(0, cats, n)
    b = np.where(rng.uniform(size=n) < 0.5, a, rng.integers(0, cats, n))
    got, want = cohen_kappa(a.tolist(), b.tolist()), _old_cohen(a.tolist(), b.tolist())
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14, nan_ok=True)


def test_cohen_kappa_booleans_and_undefined_cases_unchanged() -> None:
    a, b = [True, False, True, True, False], [True, True, True, False, False]
    assert cohen_kappa(a, b) == pytest.approx(_old_cohen([int(v) for v in a], [int(v) for v in b]), rel=1e-12)
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))
    assert cohen_kappa([0, 0, 0], [1, 1, 1]) == pytest.approx(_old_cohen([0, 0, 0], [1, 1, 1]))  # = 0: disjoint
