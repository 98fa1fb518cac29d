"""The processor's phase decisions for a recorded session, without Kafka. Pure: no I/O.

Why this exists: offline scoring of a rated corpus must cut the same phases,
with the same transcripts, as the live processor would have cut when the
recording was replayed. So it drives the *same* pure core
(:mod:`streams.session_state`) the Faust shell drives, with a simulated wall
clock instead of a real one:

* events are fed in event-time order (file order breaks ties), each at
  ``wall = its event time`` with clock rate 1 — a replay at speed ``r`` with
  ``--clock-rate r`` is the same clock, only faster;
* before each event the session gets the timer tick the live processor's
  timer would have sent by then (phases whose boundary plus lateness has
  passed are emitted with the turns that had arrived);
* after the last event, time runs out: the remaining phases close as the live
  timer would close them (``ended``, the planned end, or the idle close).

Turn texts are kept the way the shell keeps them (a duplicate turn id keeps
the first text; a turn after the session closed is ignored).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from .contracts import ChatTurn, ScoreRequest, SessionEvent
from .session_state import (
    Outcome,
    ProcessorSettings,
    build_request,
    mark_emitted,
    on_session_event,
    on_tick,
    on_turn,
    text_entry,
    tick_needed,
)

#: Event seconds added after a session's last event to let every timer fire
#: (longer than any plan, lateness and idle timeout; the cuts do not depend on it).
_TIME_RUNS_OUT_S = 400 * 24 * 3600.0


@dataclass
class SessionPlan:
    """The score requests one recorded session yields, in phase order."""

    session_id: str
    requests: list[ScoreRequest] = field(default_factory=list)
    #: the session's SessionEvents (started / ended), for the store's sessions table.
    session_events: list[SessionEvent] = field(default_factory=list)
    #: why phases closed, by phase ("time", "ended", "idle").
    reasons: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0
    ignored: int = 0


def plan_session(session_id: str, events: Iterable[ChatTurn | SessionEvent],
                 settings: ProcessorSettings | None = None) -> SessionPlan:
    """The ScoreRequests the live processor emits for ``events`` of one session.

    ``events`` must belong to ``session_id`` and be in the order they would be
    replayed (event time, then file order): :func:`streams.replay.merge` order.
    """
    s = settings or ProcessorSettings()
    # the simulated wall clock IS event time (rate 1); keep the live lateness window
    s = replace(s, clock_rate=1.0, transport_grace_s=s.transport_grace_s * s.clock_rate, observed_since=None)
    plan = SessionPlan(session_id)
    texts: dict[int, list[Any]] = {}
    state: dict[str, Any] | None = None

    def apply(outcome: Outcome) -> None:
        nonlocal state
        state = outcome.state
        for due in outcome.requests:
            plan.requests.append(build_request(state, due, texts.get, s.transcript_mode))
            plan.reasons[due.phase] = due.reason
            mark_emitted(state, due.phase, s)

    last_at = None
    for ev in events:
        if ev.session_id != session_id:
            raise ValueError(f"event of session {ev.session_id!r} in the plan of {session_id!r}")
        at = (ev.sent_at if isinstance(ev, ChatTurn) else ev.at).timestamp()
        last_at = at if last_at is None else max(last_at, at)
        wall = last_at  # the wall clock never goes back, even for an out-of-order event
        if state is not None and tick_needed(state, wall, s):
            apply(on_tick(state, wall, s))  # what the timer would have done by now
        if isinstance(ev, ChatTurn):
            outcome = on_turn(state, ev, wall, s)
            if outcome.duplicate:
                plan.duplicates += 1
            elif outcome.ignored:
                plan.ignored += 1
            else:
                texts[ev.turn_id] = text_entry(ev, s)  # as the live processor keeps it
        else:
            plan.session_events.append(ev)  # the sink stores every session event, used or not
            outcome = on_session_event(state, ev, wall, s)
            if outcome.rejected:  # not its owner's word (streams/ownership.py): the live processor dead-letters it
                plan.ignored += 1
                continue
            if outcome.ignored:
                plan.ignored += 1
        if outcome.ignored:
            continue
        apply(outcome)
    if state is not None and last_at is not None:
        apply(on_tick(state, last_at + _TIME_RUNS_OUT_S, s))  # the recording is over: time runs out
    return plan


__all__ = ["SessionPlan", "plan_session"]
