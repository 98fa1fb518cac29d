"""Turn-level agreement: Cohen's kappa, ICC of two raters, session resampling, the length baselines, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.stats import (
    cluster_resamples,
    cohen_kappa,
    icc,
    icc_pair,
    length_classifier,
    length_rater,
    percentile_interval,
)
from validation.turn_agreement import CodedTurn, evaluate_code


def test_kappa_hand_example():
    # 2x2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 (a classic textbook table): p_o .70, p_e .50
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_bounds_and_undefined():
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert math.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))  # nobody ever said yes: nothing to agree on
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 0])


def test_icc_pair_is_the_two_column_icc_and_punishes_an_offset():
    rng = np.random.default_rng(3)
    a = rng.integers(1, 6, 40).astype(float)
    assert icc_pair(a, a) == pytest.approx(1.0)
    assert icc_pair(a, a + 0.3) == pytest.approx(icc(np.column_stack([a, a + 0.3]).tolist(), "2,1"))
    assert icc_pair(a, a + 1.0) < icc_pair(a, a + 0.3) < 1.0  # absolute agreement: a level shift costs


def test_cluster_resamples_keep_sessions_whole_and_are_seeded():
    clusters = ["a"] * 3 + ["b"] * 2 + ["c"] * 4
    reps = cluster_resamples(clusters, 50, seed=1)
    assert [r.tolist() for r in reps] == [r.tolist() for r in cluster_resamples(clusters, 50, seed=1)]
    for r in reps:
        drawn = [clusters[i] for i in r]
        for c in set(drawn):  # a drawn session comes with all its turns, a whole number of times
            assert drawn.count(c) % clusters.count(c) == 0
    assert len({len(r) for r in reps}) > 1  # sessions differ in size, so resamples do too


def test_percentile_interval_drops_nan_replicates():
    iv = percentile_interval([float("nan"), *range(101)])
    assert iv.resamples == 101 and iv.low == pytest.approx(2.5) and iv.high == pytest.approx(97.5)


def test_length_classifier_finds_a_length_code_and_not_a_random_one():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, 200)
    short = (lengths <= 8).astype(int)
    assert cohen_kappa(length_classifier(lengths, short), short) > 0.9
    noise = rng.integers(0, 2, 200)
    assert abs(cohen_kappa(length_classifier(lengths, noise), noise)) < 0.2


def test_length_rater_is_on_the_codes_scale_and_tracks_length_only_when_there_is_some():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 80, 200).astype(float)
    tracks = np.clip(np.round(1 + 4 * np.log1p(lengths) / np.log1p(80)), 1, 5)
    pred = length_rater(lengths, tracks)
    assert 1.0 < pred.mean() < 5.0 and icc_pair(pred, tracks) > 0.8
    unrelated = rng.integers(1, 6, 200).astype(float)
    assert icc_pair(length_rater(lengths, unrelated), unrelated) < 0.2


def _turns(human, measure, lengths, sessions=8):
    return [CodedTurn(f"s{i % sessions}", i, (float(h),), float(m), float(n))
            for i, (h, m, n) in enumerate(zip(human, measure, lengths, strict=True))]


def test_a_measure_that_only_tracks_length_is_not_above_length():
    rng = np.random.default_rng(2)
    lengths = rng.integers(1, 60, 80)
    human = (lengths <= 8).astype(int)  # the code *is* shortness
    res = evaluate_code("reflection", _turns(human, human, lengths), resamples=200)
    assert res.agreement == pytest.approx(1.0) and res.baseline > 0.9
    assert res.verdict == "not above length"


def test_a_measure_that_knows_more_than_length_agrees():
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 60, 80)
    human = rng.integers(0, 2, 80)
    measure = np.where(rng.random(80) < 0.9, human, 1 - human)  # right 90% of the time, unrelated to length
    res = evaluate_code("directive", _turns(human, measure, lengths), resamples=200)
    assert res.agreement > 0.6 and abs(res.baseline) < 0.3 and res.difference_ci.low > 0
    assert res.verdict == "agrees" and res.statistic == "kappa" and res.positives == int(human.sum())


def test_rated_codes_use_icc_and_a_second_coder_gives_the_human_ceiling():
    rng = np.random.default_rng(5)
    truth = rng.integers(1, 6, 60).astype(float)
    turns = [CodedTurn(f"s{i % 6}", i, (t, min(5.0, t + (i % 3 == 0))), t + rng.normal(0, 0.3), 10 + i % 7)
             for i, t in enumerate(truth)]
    res = evaluate_code("empathy", turns, resamples=200)
    assert res.statistic == "ICC(2,1)" and res.positives is None and res.coder_pairs == 60
    assert res.coders is not None and 0.7 < res.coders < 1.0 and res.agreement > 0.8


def test_constant_codes_and_too_few_turns_get_their_own_verdict():
    lengths = list(range(1, 41))
    res = evaluate_code("self_disclosure", _turns([0] * 40, [i % 9 == 0 for i in range(40)], lengths), resamples=50)
    assert res.verdict == "codes constant" and res.positives == 0
    few = evaluate_code("reflection", _turns([1, 0] * 6, [1, 0] * 6, lengths[:12]), resamples=50)
    assert few.verdict == "too few" and few.agreement == pytest.approx(1.0)
