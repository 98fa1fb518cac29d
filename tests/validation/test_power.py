"""How many more rated sessions a failing dimension needs (validation/power.py)."""

from __future__ import annotations

import math

import numpy as np

from validation.power import needed_for_verdict, sessions_for_interval_above_zero, sessions_needed


def test_matches_the_textbook_sample_size_for_a_correlation():
    # r = .3, two-sided alpha .05, power .80: 85 sessions for a plain correlation (Cohen's tables: 84-85)
    assert sessions_for_interval_above_zero(0.3, covariates=0) == 85
    assert sessions_for_interval_above_zero(0.3) == 87  # two covariates cost two degrees of freedom
    assert sessions_for_interval_above_zero(0.5, covariates=0) == 30
    assert sessions_for_interval_above_zero(0.3, covariates=0, power=0.5) < 85  # less power, fewer sessions


def test_the_formula_delivers_its_power_in_simulation():
    """At the n it names, the Fisher-z interval excludes zero in about `power` of samples."""
    rng = np.random.default_rng(3)
    r, n = 0.35, sessions_for_interval_above_zero(0.35, covariates=0)
    hits, reps = 0, 2000
    for _ in range(reps):
        x = rng.standard_normal(n)
        y = r * x + math.sqrt(1 - r * r) * rng.standard_normal(n)
        rr = np.corrcoef(x, y)[0, 1]
        hits += math.atanh(rr) - 1.959964 / math.sqrt(n - 3) > 0
    assert 0.75 < hits / reps < 0.85


def test_effects_below_the_bar_cannot_be_fixed_by_more_sessions():
    assert sessions_needed(0.2, 40, reference=0.28).total is None
    below_baseline = sessions_needed(0.31, 40, reference=0.28, baseline_r=0.33)
    assert below_baseline.total is None and "length-only baseline" in below_baseline.reason
    assert sessions_needed(None, 40, reference=0.28).more is None
    assert sessions_needed(-0.1, 40, reference=0.28).more is None


def test_a_promising_effect_says_how_many_more():
    need = sessions_needed(0.35, 30, reference=0.28, baseline_r=0.1)
    assert (need.total, need.more) == (64, 34) and "34 more" in need.reason
    small_n = sessions_needed(0.6, 30, reference=0.28)
    assert (small_n.total, small_n.more) == (50, 20) and "minimum of 50" in small_n.reason
    assert sessions_needed(0.6, 80, reference=0.28).more == 0


def test_needed_for_a_stored_verdict():
    from validation.records import DimensionVerdict

    v = DimensionVerdict(dimension="bond", n=30, r=0.4, partial_r=0.35, partial_ci=(-0.02, 0.6), baseline_r=0.1,
                         counselor_r=0.28, passed=False, reason="fails")
    assert needed_for_verdict(v, {"min_n": 50}).more == 34
    assert needed_for_verdict(v.model_copy(update={"passed": True}), {}) is None
