"""Agreement between raters (the scorer's self-consistency) against published / hand-computed values."""

import math

import pytest

from validation.stats import category_counts, fleiss_kappa, icc

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


@pytest.mark.parametrize("form, published", [("1,1", 0.17), ("2,1", 0.29), ("3,1", 0.71)])
def test_icc_matches_shrout_fleiss(form, published):
    assert icc(SHROUT_FLEISS, form) == pytest.approx(published, abs=0.005)


def test_icc_hand_computed_small_table():
    # 3 subjects x 2 raters: [[1,2],[3,3],[5,4]]. Grand mean 3; SS_rows = 2*(2.25+0+2.25) = 9,
    # SS_cols = 3*(0+0) = 0, SS_total = 4+1+0+0+4+1 = 10, SS_err = 1.
    # MS_rows = 4.5, MS_err = 1/2 = 0.5, MS_cols = 0 -> ICC(2,1) = 4/(4.5+0.5+2*(0-0.5)/3) = 4/4.666...
    assert icc([[1, 2], [3, 3], [5, 4]], "2,1") == pytest.approx(4 / (5 - 1 / 3))


def test_icc_perfect_and_degenerate():
    assert icc([[1, 1, 1], [3, 3, 3], [5, 5, 5]]) == pytest.approx(1.0)
    assert math.isnan(icc([[2, 2], [2, 2]]))  # no variance at all: undefined, not an error
    assert math.isnan(icc([[1, 2]]))  # one subject
    with pytest.raises(ValueError):
        icc([[1, 2], [3]])
    with pytest.raises(ValueError, match="unknown form"):
        icc(SHROUT_FLEISS, "9,9")


# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa 0.210.
FLEISS_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_worked_example():
    assert fleiss_kappa(FLEISS_COUNTS) == pytest.approx(0.210, abs=0.0005)


def test_fleiss_kappa_from_ratings_hand_computed():
    # 2 subjects x 3 raters: [1,1,1] and [2,2,3]. P_i = 1 and (4+1-3)/6 = 1/3 -> P_bar = 2/3.
    # p_j = (3/6, 2/6, 1/6) -> P_e = (9+4+1)/36 = 14/36. kappa = (2/3 - 14/36) / (1 - 14/36) = 10/22.
    assert fleiss_kappa(category_counts([[1, 1, 1], [2, 2, 3]])) == pytest.approx(10 / 22)
    assert math.isnan(fleiss_kappa(category_counts([[3, 3], [3, 3]])))  # everyone always picks one category
    with pytest.raises(ValueError, match="not one of"):
        category_counts([[0, 1]])
