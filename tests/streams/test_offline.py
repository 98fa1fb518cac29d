"""Offline phase planning (streams.offline) cuts exactly what the live processor's core cuts.

The live side is the same pure core driven the way the Faust shell drives it:
events at the wall times of a 60× replay and timer ticks every 50 ms
(tests.streams.test_session_state.Harness). The offline side is
:func:`streams.offline.plan_session` over the events in replay order.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from streams import session_state as core
from streams.offline import plan_session
from streams.phase_clock import ClockSettings
from streams.replay import merge, read_file
from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_session_state import Harness, replay

S = core.ProcessorSettings(clock=ClockSettings(allowed_lateness_s=5, idle_timeout_s=600), clock_rate=60.0,
                           signal_min_interval_s=0.0)


def _live(started, turns, ended, order=None):
    h = Harness(S)
    replay(h, started, turns, ended, order=order)
    return h.requests


def _offline(started, turns, ended, order=None):
    events = [started, *(order or turns), *([ended] if ended else [])]
    events.sort(key=lambda e: getattr(e, "sent_at", None) or e.at)  # replay order: event time (stable)
    return plan_session(started.session_id, events, S).requests


def _same(a, b):
    assert [r.model_dump(exclude={"created_at"}) for r in a] == [r.model_dump(exclude={"created_at"}) for r in b]


def test_an_ended_session_gives_the_live_cuts():
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    offline = _offline(st, turns, end)
    assert [r.request_id for r in offline] == ["s1:early", "s1:middle", "s1:late"]
    cuts = {r.phase: [line.turn_id for line in r.transcript] for r in offline}
    assert cuts == expected_cuts(st.at, turns, 3)
    _same(offline, _live(st, turns, end))


def test_a_session_ended_early_cuts_its_remaining_phases_at_the_end():
    st, turns, _ = session("s2", planned_minutes=6, turns=10, gap_s=15)  # 150 s of turns in a 6 min plan
    end = st.model_copy(update={"kind": "ended", "at": turns[-1].sent_at + timedelta(seconds=5)})
    plan = plan_session("s2", [st, *turns, end], S)
    assert plan.reasons == {"early": "time", "middle": "ended", "late": "ended"}
    _same(plan.requests, _live(st, turns, end))


def test_a_silent_session_without_ended_closes_like_the_live_timer():
    st, turns, _ = session("s3", planned_minutes=30, turns=6, gap_s=60, ended=False)  # talks 6 min, then silence
    plan = plan_session("s3", [st, *turns], S)
    assert plan.reasons == {"early": "time", "middle": "idle", "late": "idle"}
    assert [r.upto_turn_id for r in plan.requests] == [5, 5, 5]
    live = Harness(S)
    replay(live, st, turns, None)
    wall = 1000.0 + 3600 / 60.0
    while len(live.requests) < 3 and wall < 5000:  # the live timer keeps ticking through the silence
        wall += 0.5
        live.tick(wall)
    _same(plan.requests, live.requests)


def test_duplicate_and_out_of_order_turns_are_handled_as_live():
    st, turns, end = session("s4", planned_minutes=3, turns=18)
    shuffled = list(turns)
    shuffled[2], shuffled[3] = shuffled[3], shuffled[2]
    dup = turns[4].model_copy(update={"text": "a second text for the same turn id"})
    shuffled.insert(6, dup)
    plan = plan_session("s4", [st, *shuffled, end], S)
    assert plan.duplicates == 1
    assert all(line.text != dup.text for r in plan.requests for line in r.transcript)  # the first text is kept
    _same(plan.requests, _live(st, turns, end))


def test_a_turn_after_the_session_closed_is_ignored_and_session_events_are_kept():
    st, turns, end = session("s5", planned_minutes=3, turns=6)
    late = turns[-1].model_copy(update={"turn_id": 99, "sent_at": end.at + timedelta(hours=2)})
    plan = plan_session("s5", [st, *turns, end, late], S)
    assert plan.ignored == 1
    assert all(line.turn_id != 99 for r in plan.requests for line in r.transcript)
    assert [e.kind for e in plan.session_events] == ["started", "ended"]


def test_events_of_another_session_are_refused():
    st, turns, _ = session("s6", turns=2)
    other = turns[0].model_copy(update={"session_id": "other"})
    with pytest.raises(ValueError, match="other"):
        plan_session("s6", [st, other])


def test_every_sample_session_gets_three_requests_in_order():
    from pathlib import Path

    for path in sorted(Path("samples").glob("*.jsonl")):
        events, bad = read_file(path)
        assert not bad
        ordered = merge([events])
        plan = plan_session(ordered[0].session_id, [e.event for e in ordered])
        assert [r.phase for r in plan.requests] == ["early", "middle", "late"], path
        uptos = [r.upto_turn_id for r in plan.requests]
        assert uptos == sorted(uptos) and uptos[0] < uptos[-1], path
