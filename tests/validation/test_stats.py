"""validation.stats against scipy and against small examples worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from streams.contracts import TranscriptLine
from validation import stats


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- Pearson ---------------------------------------------------------------------------


def test_pearson_hand_example():
    # dx = -2,-1,0,1,2; dy = -2,0,1,0,1; Σdxdy = 6, Σdx² = 10, Σdy² = 6 → r = 6/√60
    c = stats.pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])
    assert c.r == pytest.approx(6 / math.sqrt(60))
    assert (c.n, c.df) == (5, 3)
    t = c.r * math.sqrt(3 / (1 - c.r ** 2))
    assert c.p == pytest.approx(2 * sps.t.sf(t, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pearson_matches_scipy(seed):
    rng = _rng(seed)
    x = rng.normal(size=60)
    y = 0.3 * x + rng.normal(size=60)
    ours = stats.pearson(x, y)
    ref = sps.pearsonr(x, y)
    assert ours.r == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9)


def test_pearson_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in length"):
        stats.pearson([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        stats.pearson([1, 2, float("nan")], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 3"):
        stats.pearson([1, 2], [2, 1])


def test_pearson_of_constant_is_nan_not_an_error():
    c = stats.pearson([3, 3, 3, 3], [1, 2, 3, 4])
    assert math.isnan(c.r) and math.isnan(c.p)


# --- partial correlation ------------------------------------------------------------------


def test_partial_matches_the_one_covariate_formula():
    x = [2.0, 4.0, 5.0, 4.0, 5.0, 7.0]
    y = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]
    z = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    rxy, rxz, ryz = (sps.pearsonr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    expected = (rxy - rxz * ryz) / math.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    c = stats.partial_correlation(x, y, z)
    assert c.r == pytest.approx(expected, abs=1e-12)
    assert (c.n, c.df) == (6, 3)  # n − 2 − k


@pytest.mark.parametrize("seed", [3, 4])
def test_partial_matches_residualisation_by_hand(seed):
    rng = _rng(seed)
    n = 80
    cov = np.column_stack([rng.normal(3000, 800, n), rng.integers(8, 60, n)])
    x = 0.001 * cov[:, 0] + 0.05 * cov[:, 1] + rng.normal(size=n)
    y = 0.0005 * cov[:, 0] + 0.3 * x + rng.normal(size=n)
    design = np.column_stack([np.ones(n), cov])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    r_hand = sps.pearsonr(rx, ry).statistic
    df = n - 2 - 2
    t = r_hand * math.sqrt(df / (1 - r_hand ** 2))
    c = stats.partial_correlation(x, y, cov)
    assert c.r == pytest.approx(r_hand, abs=1e-10)
    assert c.df == df
    assert c.p == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-8)
    assert np.allclose(stats.residualize(x, cov), rx)


def test_partial_removes_a_shared_length_factor():
    rng = _rng(5)
    length = rng.normal(size=300)
    x = length + 0.2 * rng.normal(size=300)
    y = length + 0.8 * rng.normal(size=300)
    assert stats.pearson(x, y).r > 0.7
    assert abs(stats.partial_correlation(x, y, length).r) < 0.15


def test_partial_needs_enough_sessions():
    with pytest.raises(ValueError, match="more than 4 sessions"):
        stats.partial_correlation([1, 2, 3, 4], [1, 2, 3, 5], np.ones((4, 2)))
    with pytest.raises(ValueError, match="covariates must have shape"):
        stats.partial_correlation([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], np.ones((4, 2)))


# --- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = _rng(6)
    x = rng.normal(size=100)
    y = 0.5 * x + rng.normal(size=100)
    a = stats.bootstrap_interval(x, y, resamples=500, seed=1)
    b = stats.bootstrap_interval(x, y, resamples=500, seed=1)
    c = stats.bootstrap_interval(x, y, resamples=500, seed=2)
    assert a == b and a != c
    assert a.low < stats.pearson(x, y).r < a.high
    assert a.resamples == 500 and a.confidence == 0.95


def test_bootstrap_agrees_with_scipy_percentile_bootstrap():
    rng = _rng(7)
    x = rng.normal(size=120)
    y = 0.4 * x + rng.normal(size=120)
    ours = stats.bootstrap_interval(x, y, resamples=3000, seed=0)
    ref = sps.bootstrap((x, y), lambda a, b, axis: sps.pearsonr(a, b, axis=axis).statistic, paired=True,
                        vectorized=True, n_resamples=3000, method="percentile", random_state=0).confidence_interval
    # Different random streams: the same interval up to Monte-Carlo error.
    assert ours.low == pytest.approx(ref.low, abs=0.03)
    assert ours.high == pytest.approx(ref.high, abs=0.03)


def test_vectorised_replicates_equal_one_at_a_time():
    rng = _rng(11)
    n = 90
    cov = np.column_stack([rng.normal(3000, 800, n), rng.integers(8, 60, n)])
    x = 0.001 * cov[:, 0] + rng.normal(size=n)
    y = 0.3 * x + 0.02 * cov[:, 1] + rng.normal(size=n)
    idx = rng.integers(0, n, size=(300, n))  # > one chunk
    got = stats.bootstrap_replicates(x, y, cov, idx)
    raw = stats.bootstrap_replicates(x, y, None, idx)
    for b in (0, 1, 150, 299):
        i = idx[b]
        assert got[b] == pytest.approx(stats.partial_correlation(x[i], y[i], cov[i]).r, abs=1e-9)
        assert raw[b] == pytest.approx(sps.pearsonr(x[i], y[i]).statistic, abs=1e-12)


def test_degenerate_replicates_are_dropped():
    x = np.array([1.0] * 9 + [2.0])
    y = np.array([3.0] * 9 + [5.0])
    idx = np.array([[0] * 10, list(range(10))])  # the first resample draws one session ten times
    reps = stats.bootstrap_replicates(x, y, None, idx)
    assert np.isnan(reps[0]) and reps[1] == pytest.approx(1.0)
    interval = stats.bootstrap_interval(x, y, resamples=200, seed=0)
    assert 0 < interval.resamples < 200


def test_bootstrap_resamples_sessions_as_pairs():
    x = np.arange(30, dtype=float)
    interval = stats.bootstrap_interval(x, 2 * x + 1, resamples=200, seed=0)
    assert interval.low == pytest.approx(1.0) and interval.high == pytest.approx(1.0)


def test_bootstrap_of_partial_r_is_wider_with_fewer_sessions():
    rng = _rng(8)
    n = 400
    cov = rng.normal(size=(n, 2))
    x = cov @ [0.5, 0.2] + rng.normal(size=n)
    y = 0.4 * x + cov @ [0.3, 0.1] + rng.normal(size=n)
    full = stats.bootstrap_interval(x, y, cov, resamples=300, seed=0)
    small = stats.bootstrap_interval(x[:60], y[:60], cov[:60], resamples=300, seed=0)
    assert (small.high - small.low) > (full.high - full.low)
    assert full.low < stats.partial_correlation(x, y, cov).r < full.high


# --- length-only baseline ---------------------------------------------------------------------


def test_length_baseline_is_out_of_fold():
    rng = _rng(9)
    n = 50
    cov = np.column_stack([rng.normal(3000, 500, n), rng.integers(5, 50, n)])
    y = 1 + 0.001 * cov[:, 0] + rng.normal(0, 0.5, n)
    base = stats.length_baseline(y, cov, folds=5, seed=3)
    ids = stats.fold_ids(n, 5, 3)
    design = np.column_stack([np.ones(n), cov])
    test = ids == 2
    beta = np.linalg.lstsq(design[~test], y[~test], rcond=None)[0]
    assert np.allclose(np.asarray(base.predictions)[test], design[test] @ beta)
    assert base.r == pytest.approx(sps.pearsonr(base.predictions, y).statistic)


def test_length_baseline_finds_length_and_only_length():
    rng = _rng(10)
    n = 200
    cov = np.column_stack([rng.normal(3000, 500, n), rng.integers(5, 50, n)])
    y_len = 0.002 * cov[:, 0] + rng.normal(0, 0.1, n)
    y_none = rng.normal(size=n)
    assert stats.length_baseline(y_len, cov).r > 0.95
    assert stats.length_baseline(y_none, cov).r < 0.2  # honest CV: no in-sample flattery


def test_fold_ids_are_balanced_and_seeded():
    ids = stats.fold_ids(23, 5, seed=1)
    assert sorted(np.bincount(ids)) == [4, 4, 5, 5, 5]
    assert np.array_equal(ids, stats.fold_ids(23, 5, seed=1))
    with pytest.raises(ValueError):
        stats.fold_ids(3, 5, seed=0)


def test_length_covariates_counts_only():
    lines = [TranscriptLine(turn_id=0, speaker="counselor", text="Hello there"),
             TranscriptLine(turn_id=1, speaker="client", text="hi"),
             {"turn_id": 2, "speaker": "client", "text": "我很好"}]
    assert stats.length_covariates(lines) == (16.0, 2.0)


def test_scores_can_carry_the_length_covariates():
    from streams.codec import decode, encode
    from streams.contracts import AllianceScore, DimensionScore, ItemScore, ModelIdentity, ScoreRequest

    req = ScoreRequest(request_id="s1:early", session_id="s1", phase="early", upto_turn_id=2,
                       transcript=[TranscriptLine(turn_id=0, speaker="counselor", text="Hello there"),
                                   TranscriptLine(turn_id=1, speaker="client", text="hi"),
                                   TranscriptLine(turn_id=2, speaker="client", text="我很好")])
    chars, turns = stats.length_covariates(req.transcript)
    item = ItemScore(item_id="Q1", dimension="goal", expected=3.0, probs=[0.2, 0.2, 0.2, 0.2, 0.2])
    base = dict(request_id="s1:early", session_id="s1", phase="early", upto_turn_id=2, items=[item],
                dimensions={"goal": DimensionScore(score=3.0)}, model=ModelIdentity(name="m"))
    score = AllianceScore(**base, transcript_chars=int(chars), client_turns=int(turns))
    back = decode(AllianceScore, encode(score))
    assert (back.transcript_chars, back.client_turns) == (16, 2)
    assert AllianceScore(**base).transcript_chars is None  # optional: older producers still valid
