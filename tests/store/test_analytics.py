"""Trajectories and counselor profiles: pure functions on hand-made records."""

from __future__ import annotations

import pytest

from store import analytics
from store.repository import PredictionRecord


def rec(sid, phase, goal, approach=3.0, bond=3.0, counselor="c1"):
    return PredictionRecord(sid, counselor, phase, {"goal": goal, "approach": approach, "bond": bond}, {}, {}, 0, 0)


def test_classify_change_thresholds():
    assert analytics.classify_change(4.0, 3.0, 1.0) == "declined"  # exactly one level
    assert analytics.classify_change(4.0, 3.1, 1.0) == "stayed"
    assert analytics.classify_change(3.0, 3.25, 0.25) == "improved"
    assert analytics.classify_change(3.3, 3.05, 0.25) == "declined"  # float rounding tolerated
    with pytest.raises(ValueError):
        analytics.classify_change(1, 2, 0)


def test_trajectory_shares_count_sessions_with_both_phases():
    records = [rec("a", "early", 4.0), rec("a", "late", 2.9),      # declined (level and delta)
               rec("b", "early", 3.0), rec("b", "late", 3.5),      # improved by delta only
               rec("c", "early", 3.0), rec("c", "late", 3.1),      # stayed
               rec("d", "early", 3.0), rec("d", "middle", 1.0)]    # no late: excluded
    sessions = analytics.by_session(records)
    level = {s.dimension: s for s in analytics.trajectories(sessions, 1.0)}
    delta = {s.dimension: s for s in analytics.trajectories(sessions, 0.25)}
    assert level["goal"].n == 3 and level["goal"].counts == {"declined": 1, "stayed": 2, "improved": 0}
    assert delta["goal"].counts == {"declined": 1, "stayed": 1, "improved": 1}
    assert delta["goal"].share("improved") == pytest.approx(1 / 3)
    assert delta["bond"].counts == {"declined": 0, "stayed": 3, "improved": 0}


def test_profiles_use_the_late_phase_and_pairwise_tests_are_adjusted():
    records = []
    for i, g in enumerate([4.0, 4.5, 4.2]):
        records += [rec(f"x{i}", "early", 1.0, counselor="cx"), rec(f"x{i}", "late", g, counselor="cx")]
    for i, g in enumerate([2.0, 2.4, 2.1, 2.2]):
        records += [rec(f"y{i}", "late", g, counselor="cy")]
    records += [rec("z0", "middle", 3.0, counselor="cz")]  # only a middle phase: used as its latest
    per = analytics.session_scores(analytics.by_session(records))
    profiles = {p.counselor_id: p for p in analytics.counselor_profiles(per)}
    assert profiles["cx"].dims["goal"].mean == pytest.approx(4.2333333) and profiles["cx"].n_sessions == 3
    assert profiles["cz"].dims["goal"].mean == 3.0
    tests = [t for t in analytics.pairwise_tests(per) if t.dimension == "goal"]
    assert [(t.a, t.b) for t in tests] == [("cx", "cy"), ("cx", "cz"), ("cy", "cz")]
    xy = tests[0]
    assert xy.test.p < 0.01 and xy.p_holm == pytest.approx(min(1.0, 1 * xy.test.p))  # only testable pair
