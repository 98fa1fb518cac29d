"""PhaseClock and SessionClock: boundaries by turns, by timer, by ``ended``, idle close, replay speed."""

from __future__ import annotations

import pytest

from streams.phase_clock import ClockSettings, PhaseClock, SessionClock

T0 = 1_800_000_000.0  # an arbitrary epoch second
MIN = 60.0
S = ClockSettings(allowed_lateness_s=10.0, idle_timeout_s=30 * MIN)


def phases(due):
    return [(d.phase, d.cut_at, d.reason) for d in due]


def started(planned=30.0) -> PhaseClock:
    c = PhaseClock()
    c.observe_started(T0, planned)
    return c


def test_boundaries_are_thirds_of_the_plan():
    c = started(30)
    assert [c.boundary(i) - T0 for i in range(3)] == [600, 1200, 1800]
    assert c.phase_at(T0 + 1) == "early"
    assert c.phase_at(T0 + 600) == "middle"
    assert c.phase_at(T0 + 1799) == "late"
    assert c.phase_at(T0 + 5000) == "late"


def test_nothing_due_before_a_boundary_plus_lateness():
    c = started(30)
    c.observe_turn(T0 + 300)
    assert c.due(T0 + 600, S) == []  # boundary reached, lateness not yet over
    assert c.due(T0 + 609.9, S) == []
    assert phases(c.due(T0 + 610, S)) == [("early", T0 + 600, "time")]


def test_a_turn_far_past_boundaries_makes_all_of_them_due_in_order():
    c = started(30)
    c.observe_turn(T0 + 1300)
    due = c.due(T0 + 1300, S)
    assert phases(due) == [("early", T0 + 600, "time"), ("middle", T0 + 1200, "time")]
    assert due[1].start_at == T0 + 600


def test_emitted_phases_are_not_due_again():
    c = started(30)
    for d in c.due(T0 + 700, S):
        c.mark_emitted(d.phase)
    assert c.emitted == ["early"]
    assert c.due(T0 + 700, S) == []
    c.mark_emitted("early")  # idempotent
    assert c.emitted == ["early"]


def test_ended_cuts_the_remaining_phases_at_the_end():
    c = started(30)
    c.observe_turn(T0 + 100)
    c.observe_ended(T0 + 900)  # ends during the middle phase
    assert phases(c.due(T0 + 905, S)) == [("early", T0 + 600, "time")]  # the rest waits for late turns
    due = c.due(T0 + 910, S)
    assert phases(due) == [("early", T0 + 600, "time"), ("middle", T0 + 900, "ended"), ("late", T0 + 900, "ended")]
    for d in due:
        c.mark_emitted(d.phase)
    assert c.closed


def test_session_running_over_plan_is_cut_at_the_plan():
    c = started(30)
    c.observe_ended(T0 + 2400)
    assert phases(c.due(T0 + 2410, S))[-1] == ("late", T0 + 1800, "time")


def test_silent_client_gets_boundaries_by_timer():
    c = started(30)
    c.observe_turn(T0 + 30)  # then silence
    assert phases(c.due(T0 + 610, S)) == [("early", T0 + 600, "time")]
    c.mark_emitted("early")
    assert phases(c.due(T0 + 1210, S)) == [("middle", T0 + 1200, "time")]


def test_idle_timeout_closes_a_session_that_never_ends():
    settings = ClockSettings(allowed_lateness_s=10, idle_timeout_s=5 * MIN)
    c = started(60)  # boundaries at 20, 40, 60 min
    c.observe_turn(T0 + 25 * MIN)
    assert phases(c.due(T0 + 29 * MIN, settings)) == [("early", T0 + 20 * MIN, "time")]
    c.mark_emitted("early")
    due = c.due(T0 + 30 * MIN, settings)
    assert phases(due) == [("middle", T0 + 30 * MIN, "idle"), ("late", T0 + 30 * MIN, "idle")]
    assert c.close_at(settings) == T0 + 30 * MIN


def test_turn_before_started_assumes_a_start_and_default_plan():
    c = PhaseClock()
    c.observe_turn(T0 + 5, S)
    assert c.started_at == T0 + 5 and c.planned_minutes == 50 and c.start_assumed
    c.observe_started(T0, 30)  # the started event arrives late: it wins
    assert c.started_at == T0 and c.planned_minutes == 30 and not c.start_assumed
    assert phases(c.due(T0 + 610, S)) == [("early", T0 + 600, "time")]


def test_started_after_an_emitted_phase_only_changes_the_plan():
    c = PhaseClock()
    c.observe_turn(T0, S)
    c.mark_emitted("early")
    c.observe_started(T0 - 100, 30)
    assert c.started_at == T0 and c.planned_minutes == 30


def test_earlier_turn_arriving_late_moves_an_assumed_start():
    c = PhaseClock()
    c.observe_turn(T0 + 50, S)
    c.observe_turn(T0 + 20, S)
    assert c.started_at == T0 + 20


def test_ended_without_anything_before_it():
    c = PhaseClock()
    c.observe_ended(T0)
    assert [d.phase for d in c.due(T0 + 10, S)] == ["early", "middle", "late"]


def test_serialisation_roundtrip():
    c = started(40)
    c.observe_turn(T0 + 3)
    c.mark_emitted("early")
    assert PhaseClock.from_dict(c.to_dict()) == c
    assert PhaseClock.from_dict(None) == PhaseClock()


# --- the wall -> event time clock --------------------------------------------------


def test_session_clock_follows_events_and_runs_at_rate_when_silent():
    sc = SessionClock()
    assert sc.now(100.0, 1.0) == float("-inf")
    sc.observe(T0, wall=100.0, rate=60.0)
    assert sc.now(100.0, 60.0) == T0
    assert sc.now(110.0, 60.0) == T0 + 600  # 10 wall seconds at 60x = 10 event minutes


def test_session_clock_never_goes_backwards():
    sc = SessionClock()
    sc.observe(T0 + 100, wall=0.0, rate=1.0)
    sc.observe(T0 + 50, wall=1.0, rate=1.0)  # a late event
    assert sc.now(1.0, 1.0) == T0 + 101
    sc.observe(T0 + 500, wall=2.0, rate=1.0)
    assert sc.now(2.0, 1.0) == T0 + 500
    assert sc.now(1.0, 1.0) == T0 + 500  # wall going back does not move event time back


@pytest.mark.parametrize("speed", [1.0, 60.0])
def test_replay_at_any_speed_gives_the_same_cuts(speed):
    """Turns every 40 s for 50 min, delivered at ``speed``; the phases and cuts must not depend on it."""
    turns = [T0 + 40 * (i + 1) for i in range(70)]  # ~46 minutes of chat, then silence
    c = PhaseClock()
    c.observe_started(T0, 50)
    sc = SessionClock()
    emitted = []
    wall0 = 1000.0
    for at in turns:
        wall = wall0 + (at - T0) / speed
        c.observe_turn(at, S)
        sc.observe(at, wall, speed)
        for d in c.due(sc.now(wall, speed), S):
            emitted.append((d.phase, d.cut_at, sum(1 for t in turns if t < d.cut_at and t <= at)))
            c.mark_emitted(d.phase)
    # the silent tail: timer ticks every 0.25 wall seconds
    wall = wall0 + (turns[-1] - T0) / speed
    ticks = 0
    while not c.closed:
        wall += 0.25
        ticks += 1
        for d in c.due(sc.now(wall, speed), S):
            emitted.append((d.phase, d.cut_at, sum(1 for t in turns if t < d.cut_at)))
            c.mark_emitted(d.phase)
    assert [e[0] for e in emitted] == ["early", "middle", "late"]
    assert [e[1] - T0 for e in emitted] == [1000, 2000, 3000]
    assert [e[2] for e in emitted] == [24, 49, 70]
    # bounded wall time for the silent tail: (plan end + lateness - last turn) / speed
    assert ticks * 0.25 <= (3000 + 10 - 2800) / speed + 0.25
