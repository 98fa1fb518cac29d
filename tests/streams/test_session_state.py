"""The processor's pure core: dedupe, late turns, cuts, signal coalescing, ticks, closing, forgetting."""

from __future__ import annotations

from datetime import timedelta

from streams import session_state as core
from streams.phase_clock import ClockSettings
from tests.streams.session_factory import expected_cuts, session

S = core.ProcessorSettings(clock=ClockSettings(allowed_lateness_s=5, idle_timeout_s=600), clock_rate=60.0,
                           signal_min_interval_s=0.0)


class Harness:
    """Drives the core like the shell does, with a dict as the text table."""

    def __init__(self, settings=S):
        self.s = settings
        self.state = None
        self.texts = {}
        self.requests = []
        self.signals = []
        self.alerts = []

    def _apply(self, out):
        self.state = out.state
        for due in out.requests:
            self.requests.append(core.build_request(self.state, due, self.texts.get, self.s.transcript_mode,
                                                    self.s.watched))
            for tid in core.mark_emitted(self.state, due.phase, self.s):
                self.texts.pop(tid, None)
        if out.signal:
            self.signals.append(out.signal)
        self.alerts.extend(out.alerts)
        if out.forget:
            self.state = None
        return out

    def turn(self, t, wall):
        out = core.on_turn(self.state, t, wall, self.s)
        if not out.duplicate and not out.ignored:
            self.texts[t.turn_id] = core.text_entry(t, self.s)
        return self._apply(out)

    def event(self, ev, wall):
        return self._apply(core.on_session_event(self.state, ev, wall, self.s))

    def tick(self, wall):
        return self._apply(core.on_tick(self.state, wall, self.s))

    def cuts(self):
        return {r.phase: [line.turn_id for line in r.transcript] for r in self.requests}


def wall_of(start, at, rate=60.0):
    return 1000.0 + (at - start).total_seconds() / rate


def replay(h, started, turns, ended, order=None):
    start = started.at
    h.event(started, wall_of(start, start))
    for t in order or turns:
        h.turn(t, wall_of(start, t.sent_at))
    if ended:
        h.event(ended, wall_of(start, ended.at))
    wall = wall_of(start, ended.at if ended else turns[-1].sent_at)
    for _ in range(400):
        if h.state is None or len(h.requests) == 3:
            break
        wall += 0.05
        h.tick(wall)
    return wall


def test_three_requests_in_order_with_cumulative_cuts():
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h = Harness()
    replay(h, st, turns, end)
    assert [r.phase for r in h.requests] == ["early", "middle", "late"]
    assert [r.request_id for r in h.requests] == ["s1:early", "s1:middle", "s1:late"]
    assert h.cuts() == expected_cuts(st.at, turns, 3)
    assert [r.upto_turn_id for r in h.requests] == [h.cuts()[p][-1] for p in ("early", "middle", "late")]
    assert h.requests[0].counselor_id == "c-test"
    assert h.requests[0].transcript[0].text == turns[0].text


def test_phase_local_mode():
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h = Harness(core.ProcessorSettings(clock=S.clock, clock_rate=60.0, transcript_mode="phase"))
    replay(h, st, turns, end)
    full = expected_cuts(st.at, turns, 3)
    assert h.cuts()["early"] == full["early"]
    assert h.cuts()["middle"] == [t for t in full["middle"] if t not in full["early"]]
    assert h.cuts()["late"] == [t for t in full["late"] if t not in full["middle"]]


def test_duplicates_and_out_of_order_turns_change_nothing():
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h1 = Harness()
    replay(h1, st, turns, end)
    shuffled = list(turns)
    shuffled[2], shuffled[3] = shuffled[3], shuffled[2]  # within a phase, a few seconds apart
    shuffled.insert(6, turns[4])  # a duplicate
    shuffled.append(turns[10])  # a duplicate long after
    h2 = Harness()
    replay(h2, st, turns, end, order=shuffled)
    assert [r.model_dump(exclude={"created_at"}) for r in h2.requests] == \
           [r.model_dump(exclude={"created_at"}) for r in h1.requests]


def test_duplicate_is_flagged_and_not_a_new_signal():
    st, turns, _ = session("s1", planned_minutes=3, turns=4)
    h = Harness()
    h.event(st, 0.0)
    h.turn(turns[0], 0.1)
    out = h.turn(turns[0], 0.2)
    assert out.duplicate and out.signal is None


def test_silent_client_gets_all_boundaries_in_bounded_wall_time():
    st, turns, _ = session("s1", planned_minutes=3, turns=2, ended=False)
    h = Harness()
    h.event(st, 1000.0)
    for t in turns:
        h.turn(t, wall_of(st.at, t.sent_at))
    wall = wall_of(st.at, turns[-1].sent_at)
    began = wall
    while len(h.requests) < 3:
        wall += 0.25
        h.tick(wall)
        assert wall - began < 10, "boundaries of a 3-minute plan at 60x must come within seconds"
    assert [r.phase for r in h.requests] == ["early", "middle", "late"]
    assert h.cuts()["late"] == [0, 1]


def test_ended_overtaking_turns_does_not_cut_them_off():
    """chat.sessions and chat.turns are different topics: `ended` may be read first."""
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h = Harness()
    h.event(st, 1000.0)
    h.event(end, 1000.01)  # read before any turn
    for t in turns:
        h.turn(t, 1000.02)  # all turns arrive right after
    wall = 1000.02
    while len(h.requests) < 3:
        wall += 0.05
        h.tick(wall)
    assert h.cuts() == expected_cuts(st.at, turns, 3)


def test_turns_overtaking_started_in_a_burst_wait_for_it():
    """A replay at full speed (or a backlog): the turns' topic is read before ``started``.

    The start inferred from the first turn is 60 s late, and a turn far past that
    boundary would cut early on it before the real ``started`` arrives (the flake of
    the recorded-sample processor test). The session's phases wait the transport grace.
    """
    st, turns, end = session("s1", planned_minutes=50, turns=49)  # one turn a minute, the first at 1 min
    h = Harness()
    for i, t in enumerate(turns):
        h.turn(t, 1000.0 + i * 0.001)
    assert h.requests == [] and h.state["clock"]["start_assumed"]
    assert core.next_wakeup(h.state, S) >= 1000.0 + S.transport_grace_s
    h.event(st, 1000.1)
    h.event(end, 1000.2)
    wall = 1000.2
    while len(h.requests) < 3:
        wall += 0.05
        h.tick(wall)
    assert h.cuts() == expected_cuts(st.at, turns, 50)


def test_a_session_that_never_sends_started_goes_on_after_the_grace():
    _st, turns, _end = session("s1", planned_minutes=50, turns=49)
    h = Harness()
    for i, t in enumerate(turns):
        h.turn(t, 1000.0 + i * 0.001)
    h.tick(1000.0 + S.transport_grace_s + 0.01)
    assert [r.phase for r in h.requests] == ["early", "middle"]  # on the start the first turn implies


def test_turns_before_started_event_still_work():
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    h = Harness()
    h.turn(turns[0], 1000.0)
    assert h.state["clock"]["start_assumed"]
    h.event(st, 1000.01)
    for t in turns[1:]:
        h.turn(t, wall_of(st.at, t.sent_at))
    h.event(end, wall_of(st.at, end.at))
    wall = wall_of(st.at, end.at)
    while len(h.requests) < 3:
        wall += 0.05
        h.tick(wall)
    assert h.cuts() == expected_cuts(st.at, turns, 3)


def test_closed_session_ignores_more_turns_and_texts_are_dropped():
    st, turns, end = session("s1", planned_minutes=3, turns=6)
    h = Harness()
    replay(h, st, turns, end)
    assert len(h.requests) == 3 and h.texts == {}
    late = turns[-1].model_copy(update={"turn_id": 99, "sent_at": end.at + timedelta(seconds=5)})
    out = h.turn(late, 5000.0)
    assert out.ignored == "session closed" and out.requests == []


def test_closed_session_is_forgotten_later():
    st, turns, end = session("s1", planned_minutes=3, turns=6)
    s = core.ProcessorSettings(clock=S.clock, clock_rate=60.0, forget_after_s=600)
    h = Harness(s)
    wall = replay(h, st, turns, end)
    assert h.state is not None and not core.tick_needed(h.state, wall, s)
    later = wall + 601 / 60 + 1
    assert core.tick_needed(h.state, later, s)
    h.tick(later)
    assert h.state is None


def test_signals_are_coalesced_per_session_and_flushed_by_the_timer():
    st, turns, _ = session("s1", planned_minutes=3, turns=6)
    s = core.ProcessorSettings(clock=S.clock, clock_rate=60.0, signal_min_interval_s=1.0)
    h = Harness(s)
    h.event(st, 100.0)
    for i, t in enumerate(turns):
        h.turn(t, 100.0 + i * 0.1)  # six turns within 0.5 wall seconds
    assert len(h.signals) == 1
    assert h.state["pending_signal"] and not core.tick_needed(h.state, 100.6, s)
    assert core.tick_needed(h.state, 101.1, s)
    h.tick(101.1)
    assert len(h.signals) == 2 and h.signals[-1].upto_turn_id == 5
    assert not h.state["pending_signal"]


def test_signal_fields_and_process_alert():
    st, _turns, _ = session("s1", planned_minutes=3, turns=0)
    h = Harness()
    h.event(st, 100.0)
    base = st.at
    rows = [("counselor", "How are you?"), ("client", "ok"), ("counselor", "What happened?"), ("client", "idk"),
            ("counselor", "Anything else?"), ("counselor", "Did you sleep?"), ("client", "嗯")]
    for i, (speaker, text) in enumerate(rows):
        t = turns_from(st, i, speaker, text, base + timedelta(seconds=5 * (i + 1)))
        h.turn(t, 100.0 + 5 * (i + 1) / 60)  # wall time consistent with the 60x clock
    sig = h.signals[-1]
    assert sig.session_id == "s1" and sig.upto_turn_id == 6 and sig.phase == "early"
    assert sig.minimal_response_rate == 1.0 and "minimal_responses" in sig.flags
    assert sig.elapsed_s == 35
    # both flags are up, but a phase gets one note (the first raised), not a row of them
    assert {a.alert_id for a in h.alerts} == {"s1:early:process:rushing"}
    assert all(a.kind == "process" and a.severity == "info" for a in h.alerts)


def turns_from(st, i, speaker, text, at):
    from streams.contracts import ChatTurn

    return ChatTurn(session_id=st.session_id, turn_id=i, speaker=speaker, text=text, sent_at=at,
                    counselor_id=st.counselor_id)


def test_next_wakeup_lets_a_timer_skip_idle_sessions_without_missing_anything():
    """Drive a silent session only at its announced wake-up times: all phases still come, none early."""
    st, turns, _ = session("s1", planned_minutes=3, turns=3, gap_s=5, ended=False)
    s = core.ProcessorSettings(clock=ClockSettings(allowed_lateness_s=5, idle_timeout_s=600), clock_rate=60.0,
                               signal_min_interval_s=1.0)
    h = Harness(s)
    h.event(st, 1000.0)
    for i, t in enumerate(turns):
        h.turn(t, 1000.0 + (5 * (i + 1)) / 60)
    wall = 1000.0 + 15 / 60
    wakes = 0
    while h.state is not None and len(h.requests) < 3:
        wake = core.next_wakeup(h.state, s)
        assert wake is not None
        # just before the wake-up nothing is due
        assert not core.tick_needed(h.state, max(wall, wake - 0.01), s) or wake <= wall
        wall = max(wall, wake)
        assert core.tick_needed(h.state, wall, s)
        h.tick(wall)
        wakes += 1
    assert [r.phase for r in h.requests] == ["early", "middle", "late"]
    assert wakes <= 5  # one pending signal flush + three boundaries (+ slack), not thousands of polls
    # closed: the next wake-up is the time to forget it
    forget = core.next_wakeup(h.state, s)
    assert forget > wall + s.forget_after_s / 60.0 - 10
    assert not core.tick_needed(h.state, forget - 1, s) and core.tick_needed(h.state, forget + 0.01, s)


def test_time_no_worker_was_watching_is_not_silence():
    """A worker that takes over after a crash must not cut phases by the downtime.

    The turns of the downtime are still waiting in Kafka: counting that wall time as
    silence would emit the middle phase before those turns are read (a shorter cut
    than an undisturbed run).
    """
    from dataclasses import replace

    st, turns, end = session("s1", planned_minutes=3, turns=18)
    first, rest = turns[:5], turns[5:]
    h = Harness()
    h.event(st, 1000.0)
    for t in first:
        h.turn(t, wall_of(st.at, t.sent_at))
    crashed_at = wall_of(st.at, first[-1].sent_at)
    takeover = crashed_at + 30.0  # 30 wall s = 30 event minutes at 60x: every boundary "passed"

    import copy

    blind = Harness(S)
    blind.state = copy.deepcopy(h.state)
    assert blind.tick(takeover + 0.1).requests, "without observed_since the downtime looks like silence"

    h.s = replace(S, observed_since=takeover)
    h.tick(takeover + 0.1)
    assert [r.phase for r in h.requests] == ["early"] or h.requests == [], h.cuts()
    for t in rest:  # the backlog is read right after the takeover
        h.turn(t, takeover + 0.2)
    h.event(end, takeover + 0.3)
    wall = takeover + 0.3
    while len(h.requests) < 3:
        wall += 0.25
        h.tick(wall)
    assert h.cuts() == expected_cuts(st.at, turns, 3.0, end.at)


def test_the_session_record_does_not_grow_with_the_session():
    """It is rewritten to the changelog on every turn: its size must not follow the turn count."""
    import orjson

    st, turns, _ = session("long", planned_minutes=50, turns=200, ended=False)
    h = Harness(core.ProcessorSettings(clock=S.clock, clock_rate=1.0, signal_min_interval_s=0.0))
    h.event(st, 0.0)
    sizes = {}
    for t in turns:
        h.turn(t, (t.sent_at - st.at).total_seconds())
        sizes[t.turn_id] = len(orjson.dumps(h.state))
    assert core.turn_count(h.state) == 200
    assert sizes[199] < sizes[20] + 400, sizes  # was ~34 bytes more per turn (6.8 KB more by turn 200)


def test_a_record_of_the_previous_release_goes_on_to_the_same_requests():
    """A rolling upgrade: a worker of this release takes over a session recorded as `turns` + 2-field texts."""
    st, turns, end = session("s1", planned_minutes=3, turns=18)
    whole = Harness()
    replay(whole, st, turns, end)

    h = Harness()
    start = st.at
    h.event(st, wall_of(start, start))
    for t in turns[:5]:
        h.turn(t, wall_of(start, t.sent_at))
    assert not h.requests
    # rewrite what the previous release kept: [turn_id, sent_at, speaker] in the record, [speaker, text] per turn
    by_id = {t.turn_id: t for t in turns}
    ids = list(core.ti.ids(h.state.pop("turn_ranges")))
    h.state.pop("last_turn_at")
    h.state["turns"] = [[tid, core.ts(by_id[tid].sent_at), by_id[tid].speaker] for tid in ids]
    h.texts = {tid: [entry[0], entry[1]] for tid, entry in h.texts.items()}
    assert core.turn_count(h.state) == 5
    for t in turns[5:] + [turns[2]]:  # a redelivered old turn is still a duplicate
        out = h.turn(t, wall_of(start, t.sent_at))
    assert out.duplicate
    h.event(end, wall_of(start, end.at))
    wall = wall_of(start, end.at)
    while h.state is not None and len(h.requests) < 3:
        wall += 0.05
        h.tick(wall)
    assert [r.model_dump(exclude={"created_at"}) for r in h.requests] == \
           [r.model_dump(exclude={"created_at"}) for r in whole.requests]
    assert "turns" not in h.state and h.state["legacy_at"]
