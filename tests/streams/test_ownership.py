"""Session ownership (streams/ownership.py) and the processor's core obeying it: forged records change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams import session_state as core
from streams.contracts import ChatTurn, SessionEvent
from streams.ownership import Owner, header_pairs, judge, record_source, source_trusted
from streams.phase_clock import ClockSettings
from streams.topics import SOURCE_HEADER

A, B = "platform-a", "platform-b"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
S = core.ProcessorSettings(clock=ClockSettings(allowed_lateness_s=5, idle_timeout_s=600), clock_rate=60.0,
                           signal_min_interval_s=0.0)


def event(kind: str, minutes: float = 0.0, counselor: str = "c-a", group: str | None = "g-a",
          sid: str = "s-own") -> SessionEvent:
    return SessionEvent(session_id=sid, kind=kind, at=NOW + timedelta(minutes=minutes), counselor_id=counselor,
                        group=group)


def turn(i: int, minutes: float, sid: str = "s-own") -> ChatTurn:
    return ChatTurn(session_id=sid, turn_id=i, speaker="client" if i % 2 else "counselor", text=f"turn {i}",
                    sent_at=NOW + timedelta(minutes=minutes), counselor_id="c-a")


def wall(minutes: float) -> float:
    return 1000.0 + minutes * 60.0 / S.clock_rate


def test_the_rule():
    trusted = frozenset({A})
    first = judge(None, event("started"), A, trusted)
    assert first.accepted and first.assigns and first.owner == Owner(A, "c-a", "g-a")
    # a source that is not trusted: nothing, with the reason
    forged = judge(None, event("started", counselor="c-evil"), B, trusted)
    assert not forged.accepted and forged.owner is None and "not a trusted source" in (forged.refused or "")
    assert not judge(None, event("started"), None, trusted).accepted  # no header at all
    # once owned, only the owner's source speaks for the session (trusted or not: the demo trusts all)
    for configured in (trusted, frozenset({A, B}), frozenset()):
        for kind in ("started", "reassigned", "ended"):
            v = judge(first.owner, event(kind, counselor="c-evil", group="g-evil"), B, configured)
            assert not v.accepted and v.owner == first.owner
            assert ("not a trusted source" if configured == trusted else "belongs to source 'platform-a'") in v.refused
    # the owner: ended changes no assignment; a hand-over does
    end = judge(first.owner, event("ended", counselor="c-other"), A, trusted)
    assert end.accepted and not end.assigns and end.owner == first.owner
    handed = judge(first.owner, event("reassigned", counselor="c-b", group="g-b"), A, trusted)
    assert handed.accepted and handed.owner == Owner(A, "c-b", "g-b")
    # a hand-over of a session nobody started is refused (re-drivable once started came)
    assert "before any started" in (judge(None, event("reassigned"), A, trusted).refused or "")
    # the demo: no trusted source configured, no header: the first record still owns
    demo = judge(None, event("started"), None, frozenset())
    assert demo.accepted and not judge(demo.owner, event("ended"), A, frozenset()).accepted


def test_headers_in_every_shape_the_clients_give():
    pairs = [(SOURCE_HEADER, b"platform-a"), ("other", None)]
    assert record_source(pairs) == A and record_source({SOURCE_HEADER: b"platform-a"}) == A
    assert header_pairs(pairs) == [(SOURCE_HEADER, b"platform-a"), ("other", b"")]
    assert record_source(None) is None and record_source([(SOURCE_HEADER, b"\xffa")]) is None
    assert source_trusted(frozenset(), None) and not source_trusted(frozenset({A}), B)


def _started_session(settings: core.ProcessorSettings):
    out = core.on_session_event(None, event("started"), wall(0), settings, source=A)
    assert out.rejected is None
    state = out.state
    for i in range(4):
        o = core.on_turn(state, turn(i, i), wall(i), settings)
        assert o.rejected is None and not o.requests
        state = o.state
    return state


def test_a_foreign_ended_cuts_no_phase_and_relabels_nobody():
    """The attack: an ``ended`` at minute 4 of a 50-minute session from another producer."""
    for settings in (S, core.ProcessorSettings(**{**S.__dict__, "trusted_sources": frozenset({A, B})})):
        state = _started_session(settings)
        before = core.on_tick(dict(state), wall(4), settings).state
        forged = core.on_session_event(state, event("ended", 4, counselor="c-evil", group="g-evil"), wall(4),
                                       settings, source=B)
        assert forged.rejected and "belongs to source 'platform-a'" in forged.rejected
        assert forged.state is state and not forged.requests
        assert state["counselor_id"] == "c-a" and state["group"] == "g-a" and state["clock"]["ended_at"] is None
        assert core.on_tick(state, wall(5), settings).requests == [] and state["clock"] == before["clock"]
        # the owner's own end still ends it, and the requests name the owner's counselor
        ended = core.on_session_event(state, event("ended", 6, counselor="c-a"), wall(6), settings, source=A)
        assert ended.rejected is None and [d.phase for d in ended.requests] == []
        tick = core.on_tick(ended.state, wall(6) + 5, settings)
        assert [d.phase for d in tick.requests] == ["early", "middle", "late"]
        assert core.build_request(tick.state, tick.requests[0], lambda _: None).counselor_id == "c-a"


def test_an_untrusted_started_claims_nothing():
    strict = core.ProcessorSettings(**{**S.__dict__, "trusted_sources": frozenset({A})})
    forged = core.on_session_event(None, event("started", counselor="c-evil"), wall(0), strict, source=B)
    assert forged.rejected and "not a trusted source" in forged.rejected
    state = _started_session(strict)  # the real one, after it: owned by A, assigned to c-a
    assert state["owner"] == {"source": A, "counselor_id": "c-a", "group": "g-a"}
    again = core.on_session_event(state, event("started", -5, counselor="c-evil", group="g-evil"), wall(4), strict,
                                  source=B)
    assert again.rejected and state["counselor_id"] == "c-a" and state["clock"]["started_at"] == NOW.timestamp()


def test_a_hand_over_from_the_owner_moves_the_counselor_not_the_clock():
    state = _started_session(S)
    clock = dict(state["clock"])
    out = core.on_session_event(state, event("reassigned", 3, counselor="c-b", group="g-b"), wall(4), S, source=A)
    assert out.rejected is None and not out.requests
    assert (out.state["counselor_id"], out.state["group"]) == ("c-b", "g-b") and out.state["clock"] == clock
    assert core.on_session_event(out.state, event("reassigned", 5, counselor="c-x"), wall(5), S,
                                 source=B).rejected


def test_a_turn_a_day_ahead_before_started_is_rejected():
    """The attack: a turn dated +23 h read before ``started`` made the start jump and all phases cut at turn 1."""
    real_now = NOW.timestamp()
    ahead = turn(7, 23 * 60)
    out = core.on_turn(None, ahead, wall(0), S, received_at=real_now)
    assert out.rejected and "ahead of the clock before the session's started" in out.rejected
    # the real session goes on untouched
    state = core.on_turn(None, turn(0, 0), wall(0), S, received_at=real_now).state
    started = core.on_session_event(state, event("started"), wall(0), S, source=A)
    assert started.rejected is None and not started.requests
    assert core.on_tick(started.state, wall(1), S).requests == []
    # after a first turn, one dated a day before it cannot move the start back either
    first = core.on_turn(None, turn(0, 0, sid="s-two"), wall(0), S, received_at=real_now).state
    back = core.on_turn(first, turn(1, -23 * 60, sid="s-two"), wall(0), S, received_at=real_now)
    assert back.rejected and "before the session's first turn" in back.rejected
    # a fast replay's turns, read in a burst ahead of the clock, are still taken
    assert core.on_turn(None, turn(0, 45, sid="s-three"), wall(0), S, received_at=real_now).rejected is None


def test_another_sources_stamped_turn_does_not_enter_the_session():
    state = _started_session(S)  # owned by platform-a
    turns_before = list(state["turn_ranges"])
    forged = core.on_turn(state, turn(9, 5), wall(5), S, source=B)
    assert forged.rejected and "belongs to source 'platform-a'" in forged.rejected
    assert state["turn_ranges"] == turns_before
    assert core.on_turn(state, turn(9, 5), wall(5), S, source=A).rejected is None
    assert core.on_turn(state, turn(10, 6), wall(6), S, source=None).rejected is None  # unstamped: ACLs decide
