"""AlertPolicy: drops, lows, hysteresis, state changes only, budget, recovered, evidence, per-model settings."""

from __future__ import annotations

import json

import pytest

from streams.alert_policy import AlertSettings, SettingsBook, alert_id, on_score, on_signal_flags
from streams.contracts import AllianceScore, DimensionScore, ItemScore, ModelIdentity, Quote

DIMS = {"goal": ("Q1", "Q2", "Q3", "Q4"), "approach": ("Q5", "Q6", "Q7", "Q8"), "bond": ("Q9", "Q10", "Q11", "Q12")}
S = AlertSettings()  # drop 0.5/1.0 clear 0.2; low 2.5/2.0 clear 2.9; budget 4


def probs_for(expected: float) -> list[float]:
    """Five probabilities whose expected value is ``expected`` (mass on two neighbours)."""
    lo = int(expected)
    lo = min(max(lo, 1), 4)
    hi_w = expected - lo
    p = [0.0] * 5
    p[lo - 1] = 1 - hi_w
    p[lo] = hi_w
    return p


def score(sid: str, phase: str, levels: dict[str, float], *, item_shift: dict[str, float] | None = None,
          model: str = "care-8b", quotes: bool = True) -> AllianceScore:
    items = []
    for dim, ids in DIMS.items():
        for item_id in ids:
            e = levels.get(dim, 3.5) + (item_shift or {}).get(item_id, 0.0)
            e = min(max(e, 1.0), 5.0)
            items.append(ItemScore(
                item_id=item_id, dimension=dim, expected=e, probs=probs_for(e), rationale=f"reason for {item_id}",
                quotes=[Quote(text=f"real quote {item_id}", verified=True), Quote(text="made up", verified=False)]
                if quotes else [],
            ))
    dims = {d: DimensionScore(score=sum(i.expected for i in items if i.dimension == d) / 4) for d in DIMS}
    return AllianceScore(request_id=f"{sid}:{phase}", session_id=sid, counselor_id="c1", phase=phase,
                         upto_turn_id=10, items=items, dimensions=dims, model=ModelIdentity(name=model))


def run(levels_by_phase, settings=S, sid="s1"):
    state, out = None, []
    for phase, levels in zip(("early", "middle", "late"), levels_by_phase, strict=False):
        d = on_score(state, score(sid, phase, levels), settings)
        state = d.state
        out.append([(a.dimension, a.kind, a.severity) for a in d.alerts])
    return out, state


def test_stable_scores_raise_nothing():
    out, _ = run([{"bond": 4.0, "goal": 3.8}, {"bond": 4.1, "goal": 3.7}, {"bond": 4.0, "goal": 3.9}])
    assert out == [[], [], []]


def test_drop_by_delta_fires_once_with_evidence():
    s1 = score("s1", "early", {"bond": 4.0})
    d1 = on_score(None, s1, S)
    s2 = score("s1", "middle", {"bond": 3.4}, item_shift={"Q9": -0.6, "Q10": 0.2, "Q11": -0.2, "Q12": 0.6})
    d2 = on_score(d1.state, s2, S)
    assert [(a.dimension, a.kind, a.severity) for a in d2.alerts] == [("bond", "drop", "warning")]
    a = d2.alerts[0]
    assert a.alert_id == "s1:middle:bond:drop" == alert_id("s1", "middle", "bond", "drop")
    assert a.previous == pytest.approx(4.0) and a.current == pytest.approx(3.4)
    assert a.model == "care-8b" and a.validated is False and a.counselor_id == "c1"
    # evidence: the items that moved most, most negative first, only verified quotes
    assert [e.item_id for e in a.evidence] == ["Q9", "Q11"]
    assert a.evidence[0].delta == pytest.approx(-1.2)
    assert a.evidence[0].rationale == "reason for Q9"
    assert [q.text for q in a.evidence[0].quotes] == ["real quote Q9"]
    assert all(q.verified for e in a.evidence for q in e.quotes)


def test_drop_below_delta_does_not_fire():
    out, _ = run([{"bond": 4.0}, {"bond": 3.6}])
    assert out == [[], []]


def test_big_drop_is_critical():
    out, _ = run([{"goal": 4.5}, {"goal": 3.4}])
    assert out[1] == [("goal", "drop", "critical")]


def test_low_level_fires_at_tau_and_critical_below():
    out, _ = run([{"bond": 2.4}])
    assert out == [[("bond", "low", "warning")]]
    out, _ = run([{"goal": 1.8}])
    assert out == [[("goal", "low", "critical")]]


def test_hysteresis_no_flapping_around_tau():
    # 2.4 fires; 2.6 is above tau but below the clear threshold 2.9: stays quiet; 2.45 again: still quiet
    out, state = run([{"bond": 2.4}, {"bond": 2.6}, {"bond": 2.45}])
    assert out == [[("bond", "low", "warning")], [], []]
    assert state["dims"]["bond"]["active"]


def test_recovered_after_clear_threshold():
    out, state = run([{"bond": 2.4}, {"bond": 2.7}, {"bond": 3.0}])
    assert out == [[("bond", "low", "warning")], [], [("bond", "recovered", "info")]]
    assert not state["dims"]["bond"]["active"]


def test_drop_recovers_when_back_near_the_previous_level():
    out, _ = run([{"goal": 4.0}, {"goal": 3.3}, {"goal": 3.85}])
    assert out == [[], [("goal", "drop", "warning")], [("goal", "recovered", "info")]]
    out, _ = run([{"goal": 4.0}, {"goal": 3.3}, {"goal": 3.7}])  # partly back: not yet
    assert out[2] == []


def test_escalation_is_a_state_change_but_staying_bad_is_not():
    out, _ = run([{"bond": 2.4}, {"bond": 1.9}, {"bond": 1.8}])
    assert out == [[("bond", "low", "warning")], [("bond", "low", "critical")], []]


def test_approach_is_ignored_unless_watched():
    out, _ = run([{"approach": 1.5}])
    assert out == [[]]
    out, _ = run([{"approach": 1.5}], settings=AlertSettings(watched=("goal", "bond", "approach")))
    assert out == [[("approach", "low", "critical")]]


def test_budget_limits_notifications_but_lets_critical_through():
    settings = AlertSettings(budget=1)
    out, state = run([{"bond": 2.4, "goal": 2.4}], settings=settings)
    assert out == [[("goal", "low", "warning")]]  # goal comes first in watched order; bond held back
    assert state["sent"] == 1
    out, _ = run([{"bond": 2.4, "goal": 1.5}], settings=AlertSettings(budget=0))
    assert out == [[("goal", "low", "critical")]]
    out, _ = run([{"goal": 1.5}], settings=AlertSettings(budget=0, critical_bypasses_budget=False))
    assert out == [[]]


def test_no_recovered_for_an_alert_that_was_never_sent():
    settings = AlertSettings(budget=1)
    out, _ = run([{"bond": 2.4, "goal": 2.4}, {"bond": 3.5, "goal": 3.5}], settings=settings)
    assert out == [[("goal", "low", "warning")], [("goal", "recovered", "info")]]


def test_replayed_or_stale_score_changes_nothing():
    d1 = on_score(None, score("s1", "early", {"bond": 2.4}), S)
    again = on_score(d1.state, score("s1", "early", {"bond": 2.4}), S)
    assert again.alerts == [] and again.state == d1.state
    d3 = on_score(d1.state, score("s1", "late", {"bond": 2.4}), S)
    stale = on_score(d3.state, score("s1", "middle", {"bond": 1.0}), S)
    assert stale.alerts == [] and stale.state == d3.state


def test_same_input_gives_same_alert_ids():
    a = on_score(None, score("s9", "early", {"bond": 2.0}), S).alerts
    b = on_score(None, score("s9", "early", {"bond": 2.0}), S).alerts
    assert [x.alert_id for x in a] == [x.alert_id for x in b] == ["s9:early:bond:low"]


def test_compressed_scale_for_a_small_model():
    book = SettingsBook.builtin()
    small = book.for_model("SmolLM2-135M-Instruct")
    assert small.drop_fire == pytest.approx(0.15)
    assert small.low_fire == pytest.approx(2.85)
    assert book.for_model("care-llama-8b") == AlertSettings()
    # a 0.2 drop is noise for the default, an alert for the compressed scale
    d1 = on_score(None, score("s", "early", {"bond": 3.3}, model="SmolLM2-135M-Instruct"), small)
    d2 = on_score(d1.state, score("s", "middle", {"bond": 3.1}, model="SmolLM2-135M-Instruct"), small)
    assert [(a.kind, a.model) for a in d2.alerts] == [("drop", "SmolLM2-135M-Instruct")]


def test_settings_from_json(tmp_path):
    path = tmp_path / "alerts.json"
    path.write_text(json.dumps({"default": {"drop_fire": 0.6, "drop_critical": 1.2},
                                "models": {"tiny-*": {"compression": 0.5}}}))
    book = SettingsBook.from_json(path)
    assert book.default.drop_fire == 0.6
    assert book.for_model("tiny-model").drop_fire == pytest.approx(0.3)
    path.write_text(json.dumps({"default": {"nonsense": 1}}))
    with pytest.raises(ValueError, match="nonsense"):
        SettingsBook.from_json(path)


def test_settings_reject_broken_hysteresis():
    with pytest.raises(ValueError):
        AlertSettings(low_fire=3.0, low_clear=2.9)
    with pytest.raises(ValueError):
        AlertSettings(drop_clear=0.6)


def test_process_alerts_once_per_flag_and_phase_within_budget():
    kw = dict(session_id="s1", counselor_id="c1", figures={"minimal_response_rate": 0.75}, settings=S)
    d = on_signal_flags(None, phase="early", flags=["minimal_responses"], **kw)
    assert [(a.alert_id, a.kind, a.severity, a.dimension) for a in d.alerts] == [
        ("s1:early:process:minimal_responses", "process", "info", "process")]
    assert "=" not in d.alerts[0].message and "a word or two" in d.alerts[0].message  # plain words
    assert d.alerts[0].evidence[0].note.startswith("Name it gently")  # the move that fits this signal
    again = on_signal_flags(d.state, phase="early", flags=["minimal_responses"], **kw)
    assert again.alerts == []
    cleared = on_signal_flags(again.state, phase="early", flags=[], **kw)
    back = on_signal_flags(cleared.state, phase="early", flags=["minimal_responses"], **kw)
    assert back.alerts == []  # same phase: already told
    # still active in the next phase: no repeat; of the new flags one note a phase (not three in a row)
    later = on_signal_flags(back.state, phase="middle", flags=["minimal_responses", "idle", "rushing", "withdrawal"],
                            **kw)
    assert [a.alert_id for a in later.alerts] == ["s1:middle:process:idle"]
    assert later.suppressed == ["s1:middle:process:rushing", "s1:middle:process:withdrawal"]
    assert on_signal_flags(later.state, phase="middle", flags=["over_directing"], **kw).alerts == []
    # the late phase: one more, then the session's budget of 3 is spent
    late = on_signal_flags(later.state, phase="late", flags=["over_directing"], **kw)
    assert [a.signal for a in late.alerts] == ["over_directing"]


def test_the_memory_of_a_forgotten_session_stays_until_its_last_phase_is_scored():
    from streams.alert_policy import FORGOTTEN, memory_at_forget, memory_done, new_state

    early_only = {**new_state(), "phases": ["early"], "last_index": 0}
    kept = memory_at_forget(early_only)
    assert kept is not None and kept[FORGOTTEN] and kept["phases"] == ["early"]
    assert memory_at_forget(None) == {**new_state(), FORGOTTEN: True}  # no score yet: one may still come
    assert memory_at_forget({**new_state(), "phases": ["early", "middle", "late"], "last_index": 2}) is None
    after_late = {**kept, "phases": ["early", "middle", "late"], "last_index": 2}
    assert memory_done(kept, after_late)
    assert not memory_done(kept, {**kept, "phases": ["early", "middle"], "last_index": 1})
    assert not memory_done(early_only, after_late)  # a live session keeps it until it is forgotten
