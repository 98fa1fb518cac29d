"""Calibration maps: hand-worked examples, the mis-scaled fixture, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from validation import synthetic
from validation.calibration import (
    DEFAULT_METHOD,
    Calibration,
    IsotonicMap,
    LinearMap,
    cross_validate,
    fit_calibration,
    fit_map,
    map_from_dict,
    pava,
)

# --- pool adjacent violators ----------------------------------------------------------------------


@pytest.mark.parametrize("y, expected", [
    ([1, 3, 2, 4], [1, 2.5, 2.5, 4]),
    ([3, 2, 1], [2, 2, 2]),
    ([1, 2, 3], [1, 2, 3]),
    ([4, 1, 2, 5, 3, 3], [7 / 3, 7 / 3, 7 / 3, 11 / 3, 11 / 3, 11 / 3]),
])
def test_pava_hand_examples(y, expected):
    assert np.allclose(pava(y), expected)


def test_pava_weights_pull_the_pooled_mean():
    # pooled block (3 with weight 3, 1 with weight 1) → (9 + 1) / 4
    assert np.allclose(pava([3, 1], [3, 1]), [2.5, 2.5])


def test_pava_is_the_closest_monotone_fit():
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=40))
    fit = pava(y)
    assert np.all(np.diff(fit) >= -1e-12)
    assert fit.mean() == pytest.approx(y.mean())
    # any other monotone sequence we try is farther away in L2
    for other in (np.sort(y), np.full_like(y, y.mean()), np.maximum.accumulate(y)):
        assert np.sum((fit - y) ** 2) <= np.sum((other - y) ** 2) + 1e-9


def test_isotonic_pools_ties_and_interpolates():
    m = IsotonicMap.fit([1, 1, 2, 3], [1, 3, 2, 4])
    assert m.knots_x == (1.0, 2.0, 3.0) and m.knots_y == (2.0, 2.0, 4.0)
    assert m.apply(2.5) == pytest.approx(3.0)
    assert m.apply(0.0) == 2.0 and m.apply(9.0) == 4.0  # flat beyond the ends


# --- linear ------------------------------------------------------------------------------------


def test_linear_hand_example_and_clipping():
    m = LinearMap.fit([1, 2, 3], [1, 3, 5])  # y = 2x − 1 exactly
    assert (m.intercept, m.slope) == pytest.approx((-1.0, 2.0))
    assert m.apply(2.5) == pytest.approx(4.0)
    assert m.apply(0.0) == 1.0 and m.apply(10.0) == 5.0
    assert np.allclose(m.apply(np.array([1.5, 2.0])), [2.0, 3.0])


def test_linear_matches_numpy_least_squares():
    rng = np.random.default_rng(1)
    x = rng.uniform(2.9, 3.3, 100)
    y = np.clip(3.6 + 4 * (x - 3.1) + rng.normal(0, 0.5, 100), 1, 5)
    m = LinearMap.fit(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    assert (m.slope, m.intercept) == pytest.approx((slope, intercept))


def test_linear_refuses_to_invert_the_ranking():
    m = LinearMap.fit([1, 2, 3, 4], [4, 3, 2, 1])
    assert m.slope == 0.0 and m.intercept == pytest.approx(2.5)


def test_linear_map_keeps_the_ranking():
    ds = synthetic.misscaled()
    m = fit_map(ds.predictions["bond"], ds.labels["bond"], "linear")
    out = m.apply(ds.predictions["bond"])
    assert sps.spearmanr(out, ds.predictions["bond"]).statistic == pytest.approx(1.0)
    assert sps.pearsonr(out, ds.labels["bond"]).statistic == pytest.approx(
        sps.pearsonr(ds.predictions["bond"], ds.labels["bond"]).statistic)


# --- the mis-scaled fixture: held-out improvement ---------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "isotonic"])
def test_calibration_improves_a_misscaled_model_on_held_out_folds(method):
    ds = synthetic.misscaled()
    for dim in synthetic.DIMENSIONS:
        raw = ds.predictions[dim]
        assert raw.min() >= 2.9 and raw.max() <= 3.3
        check = cross_validate(raw, ds.labels[dim], method, folds=5, seed=0)
        assert check.improves
        assert check.mae_after < 0.85 * check.mae_before
        assert check.r_after > 0.8 * check.r_before  # the map fixes scale, not ranking


def test_calibration_cannot_improve_a_model_that_is_already_on_scale():
    rng = np.random.default_rng(2)
    labels = rng.uniform(1, 5, 200)
    raw = labels + rng.normal(0, 0.3, 200)  # right scale, right centre
    check = cross_validate(raw, labels, "linear")
    assert check.mae_after == pytest.approx(check.mae_before, rel=0.1)


def test_default_method_is_linear():
    assert DEFAULT_METHOD == "linear"


# --- serialisation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "isotonic"])
def test_calibration_round_trips_through_json(method):
    ds = synthetic.misscaled()
    result = fit_calibration(ds.predictions, ds.labels, method)
    assert set(result.checks) == set(synthetic.DIMENSIONS)
    stored = json.loads(json.dumps(result.calibration.to_dict()))
    back = Calibration.from_dict(stored)
    assert back.method == method and back.n == synthetic.N_SESSIONS
    for dim in synthetic.DIMENSIONS:
        for raw in (2.85, 3.0, 3.12, 3.3, 3.4):
            assert back.apply(dim, raw) == pytest.approx(result.calibration.apply(dim, raw))
            assert 1.0 <= back.apply(dim, raw) <= 5.0
    assert back.apply("unknown", 7.0) == 5.0  # no map: pass through, clipped to the scale


@pytest.mark.parametrize("bad, message", [
    ({"method": "linear", "intercept": 0, "slope": -1}, "slope"),
    ({"method": "spline"}, "unknown calibration method"),
    ({"method": "isotonic", "x": [1, 2], "y": [3, 2]}, "non-decreasing"),
])
def test_bad_stored_maps_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        map_from_dict(bad)


def test_format_version_and_method_are_checked():
    with pytest.raises(ValueError, match="format version"):
        Calibration.from_dict({"version": 99, "dimensions": {}})
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_calibration({"bond": [1, 2, 3]}, {"bond": [1, 2, 3]}, "spline")
    with pytest.raises(ValueError, match="no labels"):
        fit_calibration({"bond": [1, 2, 3]}, {"goal": [1, 2, 3]})


def test_scoring_worker_applies_the_map_to_dimension_scores():
    from streams.contracts import AllianceScore, DimensionScore, ItemScore, ModelIdentity
    from validation.calibration import calibrate_score

    items = [ItemScore(item_id="Q9", dimension="bond", expected=3.2, probs=[0.1, 0.1, 0.4, 0.3, 0.1])]
    score = AllianceScore(request_id="s1:late", session_id="s1", phase="late", upto_turn_id=10, items=items,
                          dimensions={"bond": DimensionScore(score=3.2, spread=0.1),
                                      "goal": DimensionScore(score=3.0, spread=0.2)},
                          model=ModelIdentity(name="smollm2"))
    cal = Calibration(maps={"bond": LinearMap(intercept=-8.0, slope=3.75)}, n=100)  # 3.2 → 4.0
    out = calibrate_score(score, cal)
    assert out.dimensions["bond"].score == pytest.approx(4.0)
    assert out.dimensions["bond"].spread == pytest.approx(0.375)
    assert out.dimensions["goal"] == score.dimensions["goal"]  # no map: unchanged
    assert out.items == score.items and out.model == score.model
    assert score.dimensions["bond"].score == 3.2  # the input is not mutated


def test_format_checks_lists_before_and_after():
    from validation.calibration import format_checks

    ds = synthetic.misscaled()
    result = fit_calibration(ds.predictions, ds.labels)
    text = format_checks(result.checks)
    c = result.checks["bond"]
    assert f"{c.mae_before:6.3f} -> {c.mae_after:5.3f}" in text and text.count("\n") == 4


def test_raw_dimensions_from_items():
    from validation.calibration import raw_dimensions

    items = {f"Q{i}": float(i % 5 + 1) for i in range(1, 13)}
    dims = raw_dimensions(items)
    assert dims["goal"] == pytest.approx((2 + 3 + 4 + 5) / 4)
    assert dims["bond"] == pytest.approx((5 + 1 + 2 + 3) / 4)
    del items["Q10"]
    assert raw_dimensions(items)["bond"] is None and raw_dimensions(items)["goal"] is not None
