"""The lenient report figures (eval, report) against scipy and against published, hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from validation.stats import category_counts, correlation_or_nan, fleiss_kappa, holm, icc, mean_ci, welch_t


def test_pearson_hand_computed():
    # dx = -2..2, dy = -2,0,1,0,1: sum dxdy = 6, sxx = 10, syy = 6 -> r = 6/sqrt(60)
    c = correlation_or_nan([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
    assert c.r == pytest.approx(6 / math.sqrt(60)) and c.n == 5 and c.df == 3
    t = c.r * math.sqrt(3 / (1 - c.r ** 2))
    assert c.p == pytest.approx(2 * stats.t.sf(t, 3))


def test_pearson_matches_scipy_and_drops_missing_pairs():
    rng = np.random.default_rng(7)
    x = rng.normal(size=40)
    y = 0.4 * x + rng.normal(size=40)
    ref = stats.pearsonr(x, y)
    c = correlation_or_nan(list(x) + [None, 1.0], list(y) + [2.0, float("nan")])
    assert c.n == 40
    assert c.r == pytest.approx(ref.statistic, abs=1e-12) and c.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_pearson_degenerate_input_is_nan_not_an_error():
    assert math.isnan(correlation_or_nan([1, 2], [3, 4]).r)
    assert math.isnan(correlation_or_nan([3, 3, 3, 3], [1, 2, 3, 4]).r)
    with pytest.raises(ValueError):
        correlation_or_nan([1, 2, 3], [1, 2])


def test_partial_correlation_matches_the_first_order_formula():
    rng = np.random.default_rng(3)
    z = rng.normal(size=60)  # e.g. transcript length
    x = z + rng.normal(size=60)
    y = z + 0.5 * x + rng.normal(size=60)
    rxy, rxz, ryz = (stats.pearsonr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    expected = (rxy - rxz * ryz) / math.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    c = correlation_or_nan(x, y, np.column_stack([z]))
    assert c.r == pytest.approx(expected, abs=1e-10) and c.df == 57
    t = expected * math.sqrt(57 / (1 - expected ** 2))
    assert c.p == pytest.approx(2 * stats.t.sf(abs(t), 57), rel=1e-8)


def test_welch_matches_scipy():
    a = [3.1, 3.4, 2.9, 3.8, 4.0, 3.3]
    b = [2.5, 2.9, 3.6, 2.2, 2.8, 2.4, 3.1, 2.0]
    ref = stats.ttest_ind(a, b, equal_var=False)
    w = welch_t(a, b)
    assert w.t == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)
    assert w.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert math.isnan(welch_t([1.0], [2.0, 3.0]).p)


def test_mean_ci_matches_the_t_interval():
    v = [3.0, 3.5, 4.0, 4.5, 2.5]
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    m = mean_ci(v)
    assert (m.mean, m.n) == (3.5, 5) and m.low == pytest.approx(lo) and m.high == pytest.approx(hi)
    one = mean_ci([4.0])
    assert one.mean == 4.0 and math.isnan(one.low)


def test_holm_hand_computed():
    # sorted p: .01 (x3) = .03, .02 (x2) = .04, .04 (x1) = .04 (monotone); nan stays nan
    assert holm([0.04, 0.01, float("nan"), 0.02]) == pytest.approx([0.04, 0.03, float("nan"), 0.04], nan_ok=True)


SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def test_icc_reproduces_shrout_and_fleiss_1979():
    """Table 4 of Shrout & Fleiss (1979): ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71."""
    assert icc(SHROUT_FLEISS, "1,1") == pytest.approx(0.1657, abs=5e-4)
    assert icc(SHROUT_FLEISS, "2,1") == pytest.approx(0.2898, abs=5e-4)
    assert icc(SHROUT_FLEISS, "3,1") == pytest.approx(0.7148, abs=5e-4)
    assert icc([[3, 3, 3], [1, 1, 1], [5, 5, 5]]) == pytest.approx(1.0)  # perfect agreement
    with pytest.raises(ValueError):
        icc(SHROUT_FLEISS, "9,9")  # type: ignore[arg-type]  # the point: a form icc() does not know


FLEISS_EXAMPLE = [  # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_reproduces_the_worked_example():
    # P-bar = 0.378, P_e = 0.2128 -> kappa = 0.210
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.2099, abs=5e-4)
    assert fleiss_kappa(category_counts([[1, 1, 1], [5, 5, 5], [3, 3, 3]])) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 2, 0, 0, 0], [1, 0, 0, 0, 0]])
    with pytest.raises(ValueError):
        category_counts([[0, 1]])


def test_fleiss_kappa_hand_computed_small_case():
    # 2 subjects x 2 raters: [1,1] and [1,2]. P_i = 1, 0 -> P-bar .5; p_1 = 3/4, p_2 = 1/4 -> P_e = 10/16
    counts = category_counts([[1, 1], [1, 2]])
    assert fleiss_kappa(counts) == pytest.approx((0.5 - 10 / 16) / (1 - 10 / 16))


def test_mean_ci_of_identical_values_is_the_value():
    m = mean_ci([3.0, 3.0, 3.0])
    assert (m.mean, m.low, m.high, m.sd) == (3.0, 3.0, 3.0, 0.0)
