"""One session's processing state and the decisions on each event. Pure: no I/O.

This is everything the stream processor decides, written so it can be tested
in milliseconds: the Faust shell (:mod:`streams.processor`) only loads the
state dict from a table, calls :func:`on_turn` / :func:`on_session_event` /
:func:`on_tick`, stores the new state, and sends what :class:`Outcome` lists.

Why the transcript texts are *not* in this state: the state is rewritten to the
changelog on every turn, so carrying the growing transcript would cost O(n²)
bytes per session. The shell keeps each turn once, in its own table keyed
``session:turn_id`` (:func:`text_entry`: speaker, text, sent_at); here we keep
only which turn ids were seen, as ranges (:mod:`streams.turn_index`), so the
record stays the same size however long the session runs.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Literal, Sequence, TypedDict

import orjson

from privacy import redact

from . import ruptures as rup
from . import signals as sig
from . import turn_index as ti
from .alert_policy import AlertSettings, on_signal_flags
from .contracts import (
    MAX_REQUEST_BYTES,
    MAX_TEXT_BYTES,
    WATCHED_DIMENSIONS,
    AllianceAlert,
    ChatTurn,
    Dimension,
    ProcessSignal,
    RuptureEpisode,
    ScoreRequest,
    SessionEvent,
    TranscriptLine,
    request_id_for,
)
from .ownership import Owner, foreign_turn, judge
from .phase_clock import ClockSettings, DuePhase, PhaseClock, SessionClock

TranscriptMode = Literal["cumulative", "phase"]


@dataclass(frozen=True)
class ProcessorSettings:
    clock: ClockSettings = field(default_factory=ClockSettings)
    signals: sig.SignalSettings = field(default_factory=sig.SignalSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)  # for process alerts
    ruptures: rup.RuptureSettings = field(default_factory=rup.RuptureSettings)
    #: event seconds per wall second while a session is silent (1 live; the replay speed when replaying).
    clock_rate: float = 1.0
    #: "cumulative" (default, docs/streams.md#phases-and-the-clock) or "phase" (only the turns of that phase).
    transcript_mode: TranscriptMode = "cumulative"
    #: at most one ProcessSignal per session per this many wall seconds (the rest are coalesced).
    signal_min_interval_s: float = 1.0
    #: a closed session's small record is forgotten this long (event time) after closing.
    forget_after_s: float = 6 * 3600.0
    #: raise ``process`` alerts from signal flags.
    process_alerts: bool = True
    #: dimensions the alert policy watches (``SettingsBook.watched()``); every ScoreRequest
    #: carries them so the scorer writes rationales for exactly those items.
    watched: tuple[Dimension, ...] = WATCHED_DIMENSIONS
    #: wall seconds of transport jitter a phase also waits for (consumer fetch waits,
    #: two topics read at different paces). At clock rate r it is worth r× as much
    #: event time, so at 60× the lateness must be at least 2 s × 60 = 2 event minutes.
    transport_grace_s: float = 2.0
    #: wall time at which this worker took the sessions over (after a restart or a
    #: rebalance). Time before it, when no worker was reading, is not silence any
    #: worker observed: the turns of that time may still be waiting in Kafka. So a
    #: silent session's estimated event time counts wall time only from here on.
    observed_since: float | None = None
    #: replace names, phones, e-mails, addresses and ID numbers in each turn's text before
    #: it is kept for score requests, i.e. before the model (and the texts changelog) sees it.
    redact_before_model: bool = False
    #: sources (ingest's platform names) whose session records may claim a session; empty: every
    #: source (the demo). Either way a session's records are obeyed only from its owner (streams/ownership.py).
    trusted_sources: frozenset[str] = frozenset()

    @property
    def effective_clock(self) -> ClockSettings:
        """The clock settings with the lateness widened to cover transport jitter at this rate."""
        lateness = max(self.clock.allowed_lateness_s, self.transport_grace_s * self.clock_rate)
        return replace(self.clock, allowed_lateness_s=lateness)


def ts(dt: datetime) -> float:
    return dt.timestamp()


def dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def new_state(session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "counselor_id": None,
        "lang": "en",
        "group": None,
        "partition": None,
        "clock": PhaseClock().to_dict(),
        "sclock": SessionClock().to_dict(),
        "signals": sig.SignalState().to_dict(),
        "turn_ranges": [],  # turn ids seen, as sorted [lo, hi] ranges (streams.turn_index)
        "last_turn_at": None,  # the latest sent_at of a turn (event seconds)
        "last_signal_wall": None,
        "pending_signal": False,
        "alerts": None,  # process-alert policy state
        "ruptures": None,  # rupture-episode state (streams.ruptures)
        "closed_at": None,
        "first_wall": None,  # wall time this worker first saw the session (see _due)
        "owner": None,  # streams.ownership.Owner as a dict, once a session record claimed the session
    }


@dataclass
class Outcome:
    """What one event (or timer tick) produced."""

    state: dict[str, Any]
    requests: list[DuePhase] = field(default_factory=list)
    signal: ProcessSignal | None = None
    alerts: list[AllianceAlert] = field(default_factory=list)
    episodes: list[RuptureEpisode] = field(default_factory=list)
    duplicate: bool = False
    ignored: str | None = None  # why an event was not used (e.g. "session closed")
    rejected: str | None = None  # why an event must go to the DLQ (e.g. dated far past the session)
    forget: bool = False  # the shell may delete this session's state
    drop_turn_ids: list[int] = field(default_factory=list)  # texts no longer needed


def upgrade_state(state: dict[str, Any]) -> dict[str, Any]:
    """A session record written before turn ranges (by a worker of the previous release): same facts, new shape.

    Its turns' send times were in the record (``turns``: ``[turn_id, sent_at,
    speaker]``) and their text entries have no time, so those times stay in
    ``legacy_at`` until the session is forgotten. Idempotent; a new record passes through.
    Called where a stored record enters the core — :func:`_begin` (turns, session
    events) and :func:`on_tick` — so every later step sees the new shape.
    """
    turns = state.pop("turns", None)
    if turns is not None:
        state["turn_ranges"] = ti.from_ids([t[0] for t in turns])
        state["last_turn_at"] = max((t[1] for t in turns), default=None)
        state["legacy_at"] = {str(t[0]): t[1] for t in turns} or None
    return state


def turn_count(state: dict[str, Any]) -> int:
    """How many turns the record lists (either shape; read-only)."""
    if "turns" in state:
        return len(state["turns"])
    return ti.count(state["turn_ranges"])


def text_entry(turn: ChatTurn, settings: "ProcessorSettings") -> list[Any]:
    """The text table's value for a turn: ``[speaker, text for the model, sent_at seconds]``.

    The send time lives here, once per turn, rather than in the session record
    rewritten on every turn; :func:`transcript_cut` reads it at a phase boundary.
    """
    return [turn.speaker, text_for_model(turn, settings), ts(turn.sent_at)]


def _clock(state: dict[str, Any]) -> PhaseClock:
    return PhaseClock.from_dict(state["clock"])


def _observed_clock(state: dict[str, Any], s: ProcessorSettings) -> SessionClock:
    """The session clock as this worker may use it for timers (see ``observed_since``)."""
    sclock = SessionClock.from_dict(state["sclock"])
    if s.observed_since is not None and sclock.anchor_wall is not None and sclock.anchor_wall < s.observed_since:
        sclock.anchor_wall = s.observed_since
    return sclock


def _awaiting_started(state: dict[str, Any], clock: PhaseClock, wall: float, s: ProcessorSettings) -> bool:
    """True while a session known only from its turns may still get its ``started`` record.

    ``started`` travels on chat.sessions, the turns on chat.turns: in a burst (a replay,
    a backlog) the turns can be read first, and a turn far past the assumed boundary
    would cut the early phase on a start inferred from the first turn. A later
    ``started`` corrects the start only while no phase is out, so the phases of such a
    session wait the transport grace (wall time) from the moment it was first seen.
    """
    until = _started_grace_until(state, clock, s)
    return until is not None and wall < until


def _started_grace_until(state: dict[str, Any], clock: PhaseClock, s: ProcessorSettings) -> float | None:
    """Wall time until which a session known only from its turns waits for ``started`` (None: it does not)."""
    first = state.get("first_wall")
    return first + s.transport_grace_s if clock.start_assumed and first is not None else None


def _due(state: dict[str, Any], clock: PhaseClock, wall: float, s: ProcessorSettings) -> list[DuePhase]:
    if _awaiting_started(state, clock, wall, s):
        return []
    sclock = _observed_clock(state, s)
    return clock.due(sclock.now(wall, s.clock_rate), s.effective_clock)


def _finish(out: Outcome, clock: PhaseClock, wall: float, s: ProcessorSettings) -> Outcome:
    """Collect due phases; a session that just emitted its last phase is closed."""
    out.requests = _due(out.state, clock, wall, s)
    out.state["clock"] = clock.to_dict()
    return out


def mark_emitted(state: dict[str, Any], phase: str, s: ProcessorSettings) -> list[int]:
    """Record that ``phase``'s request went out; returns turn ids whose text can be dropped."""
    clock = _clock(state)
    clock.mark_emitted(phase)
    state["clock"] = clock.to_dict()
    if clock.closed and state["closed_at"] is None:
        state["closed_at"] = clock.close_at(s.effective_clock) or clock.last_event_at
        return list(ti.ids(state["turn_ranges"]))
    return []


def _begin(state: dict[str, Any] | None, session_id: str, wall: float) -> tuple[Outcome, PhaseClock]:
    """Load (or create) a session for an event; a closed session ignores it."""
    out = Outcome(upgrade_state(state) if state is not None else new_state(session_id))
    if state is None:
        out.state["first_wall"] = wall
    clock = _clock(out.state)
    if clock.closed:
        out.ignored = "session closed"
    return out, clock


def on_turn(state: dict[str, Any] | None, turn: ChatTurn, wall: float, s: ProcessorSettings,
            received_at: float | None = None, source: str | None = None, previous: str = "") -> Outcome:
    """A turn. ``received_at``: the real clock (epoch seconds) when it was read — the shell passes
    ``time.time()`` — so a session's first turns, before any ``started``, are bounded too (see
    :func:`_unanchored_lead`); None skips that bound (tests that drive the core with a made-up wall).
    ``source``: its source header; a turn stamped by another source than the session's owner is refused.
    ``previous``: the text of the turn before, read only by a served rupture-marker detector (its context)."""
    foreign = foreign_turn(Owner.from_dict((state or {}).get("owner")), turn.session_id, source)
    if foreign is not None:
        out = Outcome(state if state is not None else new_state(turn.session_id))
        out.rejected = foreign
        return out
    out, clock = _begin(state, turn.session_id, wall)
    if out.ignored:
        return out
    state, at = out.state, ts(turn.sent_at)
    if ti.contains(state["turn_ranges"], turn.turn_id):
        out.duplicate = True
        return _finish(out, clock, wall, s)
    too_late = _unanchored_lead(clock, at, received_at, s) or _beyond_session(clock, at, s)
    if too_late is not None:
        out.rejected = too_late
        return out
    ti.add(state["turn_ranges"], turn.turn_id)
    state["last_turn_at"] = at if state["last_turn_at"] is None else max(state["last_turn_at"], at)
    state["counselor_id"] = state["counselor_id"] or turn.counselor_id
    state["lang"] = turn.lang
    clock.observe_turn(at, s.clock)
    sclock = SessionClock.from_dict(state["sclock"])
    sclock.observe(at, wall, s.clock_rate)
    state["sclock"] = sclock.to_dict()

    st = sig.SignalState.from_dict(state["signals"])
    sig.update(st, sig.features(turn.turn_id, turn.speaker, turn.text, at), s.signals)
    state["signals"] = st.to_dict()
    figures = sig.compute(st, at, s.signals)
    last = state["last_signal_wall"]
    if last is None or wall - last >= s.signal_min_interval_s:
        out.signal = _signal(state, clock, figures, at)
        state["last_signal_wall"] = wall
        state["pending_signal"] = False
    else:
        state["pending_signal"] = True
    if s.process_alerts and figures.flags:
        d = on_signal_flags(
            state["alerts"], session_id=turn.session_id, counselor_id=state["counselor_id"],
            phase=clock.phase_at(at), flags=figures.flags, figures=_figure_dict(figures),
            settings=s.alerts, now=dt(at), lang=state["lang"],
        )
        state["alerts"], out.alerts = d.state, d.alerts
    elif s.process_alerts and state["alerts"]:
        state["alerts"]["process"]["active"] = []
    rd = rup.on_turn(state.get("ruptures"), _rupture_info(state), turn_id=turn.turn_id, speaker=turn.speaker,
                     text=turn.text, at=turn.sent_at, phase=clock.phase_at(at), flags=figures.flags,
                     settings=s.ruptures, previous=previous)
    state["ruptures"], out.episodes = rd.state, rd.episodes
    return _finish(out, clock, wall, s)


def _session_span_s(s: ProcessorSettings) -> float:
    """How far apart two turns of one session can be before ``started`` says more: a default plan and an idle timeout."""
    return s.clock.default_planned_minutes * 60.0 + s.clock.idle_timeout_s


def _unanchored_lead(clock: PhaseClock, at: float, received_at: float | None, s: ProcessorSettings) -> str | None:
    """Why a turn of a session with no ``started`` yet cannot be taken, or None.

    Before ``started`` the session's start is assumed from its first turn, and a
    later ``started`` or an earlier turn moves it back. So a first turn dated a day
    ahead would, once the real turns or ``started`` came, leave the clock a day past
    every boundary: all three phases cut at turn 1. The first record is bounded by the
    real clock (no session's turns run further ahead of it than a plan and an idle
    timeout, even in a fast replay); the turns after it by the first one, both ways.
    """
    if clock.started_at is not None and not clock.start_assumed:
        return None  # started known: _beyond_session bounds the turns
    span = _session_span_s(s)
    if received_at is not None and at - received_at > span:
        return (f"ChatTurn.sent_at is {at - received_at:.0f} s ahead of the clock before the session's started "
                f"(more than the {span:g} s a session's turns can lead it)")
    if clock.started_at is not None and clock.started_at - at > span:
        return (f"ChatTurn.sent_at is {clock.started_at - at:.0f} s before the session's first turn, before its "
                f"started (more than the {span:g} s of a plan and an idle timeout)")
    return None


def _beyond_session(clock: PhaseClock, at: float, s: ProcessorSettings) -> str | None:
    """Why a turn at ``at`` cannot belong to this session, or None.

    A turn later than both the session's latest event and its planned end by more
    than the idle timeout would have found the session closed had it arrived in
    time; accepting it would instead move the clock past every boundary at once.
    """
    if clock.started_at is None:
        return None
    latest = max(clock.last_event_at or clock.started_at, clock.started_at + clock.planned_s)
    lead = at - latest
    if lead > s.clock.idle_timeout_s:
        return (f"ChatTurn.sent_at is {lead:.0f} s after the session's latest event and planned end "
                f"(more than the {s.clock.idle_timeout_s:g} s idle timeout)")
    return None


def _rupture_info(state: dict[str, Any]) -> rup.SessionInfo:
    return rup.SessionInfo(state["session_id"], state["counselor_id"] or "unknown", state["lang"])


def on_model_drop(state: dict[str, Any], alert: AllianceAlert, s: ProcessorSettings) -> Outcome:
    """The alert policy's drop alert, read back from ``alliance.alerts``: opens or joins a rupture episode.

    Works on a closed session too: the late phase is scored after the session
    ended, so its drop can only join (or become) an episode closed unrepaired.
    """
    out = Outcome(state)
    state["counselor_id"] = state["counselor_id"] or alert.counselor_id
    rd = rup.on_model_drop(state.get("ruptures"), _rupture_info(state), alert, at=alert.created_at,
                           settings=s.ruptures)
    state["ruptures"], out.episodes = rd.state, rd.episodes
    return out


def close_ruptures(state: dict[str, Any]) -> list[RuptureEpisode]:
    """Once the session has closed: its open rupture episode closes as unrepaired (idempotent)."""
    if state.get("closed_at") is None or (state.get("ruptures") or {}).get("ended"):
        return []
    rd = rup.on_session_end(state.get("ruptures"), _rupture_info(state), at=dt(state["closed_at"]))
    state["ruptures"] = rd.state
    return rd.episodes


def on_session_event(state: dict[str, Any] | None, ev: SessionEvent, wall: float, s: ProcessorSettings,
                     source: str | None = None) -> Outcome:
    """A ``chat.sessions`` record from ``source`` (its source header): obeyed only as streams/ownership.py says."""
    verdict = judge(Owner.from_dict((state or {}).get("owner")), ev, source, s.trusted_sources)
    if verdict.refused is not None:
        out = Outcome(state if state is not None else new_state(ev.session_id))
        out.rejected = verdict.refused  # to the dead-letter topic, nothing changed
        return out
    out, clock = _begin(state, ev.session_id, wall)
    if out.ignored:
        return out
    state, at = out.state, ts(ev.at)
    owner = verdict.owner
    assert owner is not None  # an accepted record always leaves an owner
    state["owner"] = owner.to_dict()
    if verdict.assigns:
        state["counselor_id"] = owner.counselor_id
        state["group"] = owner.group
        state["lang"] = ev.lang
    else:  # ended: the end of the session, never a new assignment
        state["counselor_id"] = state["counselor_id"] or owner.counselor_id
    if ev.kind == "reassigned":
        return _finish(out, clock, wall, s)  # a hand-over moves no boundary
    if ev.kind == "started":
        clock.observe_started(at, ev.planned_minutes)
    else:
        clock.observe_ended(at)
    sclock = SessionClock.from_dict(state["sclock"])
    if sclock.anchor_event is None:
        # Only turns move the session clock forward. A session event travels on
        # another topic and can overtake the turns before it; if ``ended`` moved
        # the clock, the phases would be cut before their turns had arrived.
        sclock.observe(at, wall, s.clock_rate)
    state["sclock"] = sclock.to_dict()
    return _finish(out, clock, wall, s)


def on_tick(state: dict[str, Any], wall: float, s: ProcessorSettings) -> Outcome:
    """Timer: phases due by elapsed time, a coalesced signal, forgetting closed sessions."""
    out = Outcome(upgrade_state(state))
    clock = _clock(state)
    if state["pending_signal"] and (state["last_signal_wall"] is None
                                   or wall - state["last_signal_wall"] >= s.signal_min_interval_s):
        st = sig.SignalState.from_dict(state["signals"])
        last_at = state["last_turn_at"] if state["last_turn_at"] is not None else clock.last_event_at or 0.0
        out.signal = _signal(state, clock, sig.compute(st, last_at, s.signals), last_at)
        state["pending_signal"] = False
        state["last_signal_wall"] = wall
    if clock.closed:
        now = _observed_clock(state, s).now(wall, s.clock_rate)
        closed_at = state["closed_at"] or clock.last_event_at or now
        out.forget = now - closed_at >= s.forget_after_s
        return out
    return _finish(out, clock, wall, s)


def tick_needed(state: dict[str, Any], wall: float, s: ProcessorSettings) -> bool:
    """Cheap read-only check for the timer: would :func:`on_tick` do anything now?"""
    clock = _clock(state)
    if state["pending_signal"] and (state["last_signal_wall"] is None
                                   or wall - state["last_signal_wall"] >= s.signal_min_interval_s):
        return True
    if clock.closed:
        now = _observed_clock(state, s).now(wall, s.clock_rate)
        closed_at = state["closed_at"] or clock.last_event_at or now
        return now - closed_at >= s.forget_after_s
    return bool(_due(state, clock, wall, s))


def next_wakeup(state: dict[str, Any], s: ProcessorSettings) -> float | None:
    """Wall time at which :func:`tick_needed` may next become true (``None``: only an event can change it).

    Lets the timer keep a heap of wake-up times instead of scanning every
    session on every tick (10,000 sessions × 4 ticks/s was most of a core).
    Errs early, never late: the timer re-checks with :func:`tick_needed`.
    """
    wakes: list[float] = []
    if state["pending_signal"]:
        wakes.append((state["last_signal_wall"] or 0.0) + s.signal_min_interval_s)
    clock = _clock(state)
    sclock = _observed_clock(state, s)
    if sclock.anchor_event is None or sclock.anchor_wall is None or clock.started_at is None:
        return min(wakes) if wakes else None
    cs = s.effective_clock
    if clock.closed:
        closed_at = state["closed_at"] or clock.last_event_at or sclock.anchor_event
        target = closed_at + s.forget_after_s
    else:
        index = len(clock.emitted)
        end = clock.boundary(index)
        if clock.ended_at is not None:
            end = min(end, clock.ended_at)
        target = end + cs.allowed_lateness_s
        idle = clock.close_at(cs) if clock.ended_at is None else None
        if idle is not None:
            target = min(target, idle)
    wake = sclock.anchor_wall + max(0.0, target - sclock.anchor_event) / s.clock_rate
    if not clock.closed and (until := _started_grace_until(state, clock, s)) is not None:
        wake = max(wake, until)  # see _awaiting_started
    wakes.append(wake)
    return min(wakes)


class _FigureDict(TypedDict):
    """The figures of :class:`signals.Figures` a ProcessSignal carries, as its keyword arguments."""

    client_length_ratio: float | None
    client_latency_s: float | None
    client_idle_s: float | None
    question_streak: int
    directive_density: float | None
    minimal_response_rate: float | None


def _figure_dict(f: sig.Figures) -> _FigureDict:
    return {
        "client_length_ratio": f.client_length_ratio,
        "client_latency_s": f.client_latency_s,
        "client_idle_s": f.client_idle_s,
        "question_streak": f.question_streak,
        "directive_density": f.directive_density,
        "minimal_response_rate": f.minimal_response_rate,
    }


def _signal(state: dict[str, Any], clock: PhaseClock, f: sig.Figures, at: float) -> ProcessSignal:
    upto = ti.last(state["turn_ranges"])
    elapsed = 0.0 if clock.started_at is None else max(0.0, at - clock.started_at)
    return ProcessSignal(
        session_id=state["session_id"], counselor_id=state["counselor_id"], at=dt(at), upto_turn_id=upto,
        phase=clock.phase_at(at), elapsed_s=elapsed, flags=list(f.flags), **_figure_dict(f),
    )


def transcript_cut(state: dict[str, Any], due: DuePhase, mode: TranscriptMode,
                   sent_at: Callable[[int], float | None]) -> list[int]:
    """Turn ids (in turn order) that belong to ``due``'s request.

    ``sent_at(turn_id)`` reads a turn's send time from its text entry; a turn
    whose entry is gone (None) is left out, as its text would be.
    """
    legacy = state.get("legacy_at") or {}
    start = due.start_at if mode == "phase" and due.index > 0 else float("-inf")
    cut = []
    for tid in ti.ids(state["turn_ranges"]):
        at = sent_at(tid)
        if at is None:
            at = legacy.get(str(tid))
        if at is not None and start <= at < due.cut_at:
            cut.append(tid)
    return cut


def _line_bytes(line: TranscriptLine) -> int:
    """Encoded size of one transcript line as it travels (JSON escaping included)."""
    return len(orjson.dumps(line.model_dump(mode="json"))) + 1  # + the list's comma


def text_for_model(turn: ChatTurn, settings: ProcessorSettings) -> str:
    """The text kept for the turn's score requests: redacted when ``redact_before_model`` is on.

    Why once per turn, at the text table: every later request of the session reuses it,
    and the table's changelog (a Kafka topic) then holds no PII either. Signals and
    rupture cues still read the original text in memory; they keep no text.
    """
    if not settings.redact_before_model:
        return turn.text
    text = redact(turn.text).text
    # a token can be longer than what it replaced ("Al" -> "[NAME]"): stay within the contract's limit
    return text.encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore") if len(text) * 4 > MAX_TEXT_BYTES else text


def build_request(
    state: dict[str, Any],
    due: DuePhase,
    lookup: Callable[[int], Sequence[Any] | None],
    mode: TranscriptMode = "cumulative",
    watched: Sequence[Dimension] = WATCHED_DIMENSIONS,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> ScoreRequest:
    """The ScoreRequest for ``due``; ``lookup(turn_id)`` gives the turn's :func:`text_entry` from the text store.

    A request over ``max_bytes`` could never be produced (the broker's record limit),
    and the session would be stuck at that phase. So the oldest turns are dropped
    until it fits — the newest are the most telling, and the scorer trims from the
    front too when a transcript exceeds the model's context — and their number is
    recorded in ``trimmed_turns``.
    """
    entries = {}

    def sent_at(turn_id: int) -> float | None:
        entry = entries[turn_id] = lookup(turn_id)
        return entry[2] if entry is not None and len(entry) > 2 else None  # 2 long: a previous release's entry

    lines = []
    for turn_id in transcript_cut(state, due, mode, sent_at):
        found = entries[turn_id]
        if found is None:
            continue  # text already dropped (cannot happen before the session closes)
        speaker, text = found[0], found[1]
        lines.append(TranscriptLine(turn_id=turn_id, speaker=speaker, text=text))
    upto = max((line.turn_id for line in lines), default=-1)
    request = ScoreRequest(
        request_id=request_id_for(state["session_id"], due.phase),
        session_id=state["session_id"],
        counselor_id=state["counselor_id"],
        phase=due.phase,
        upto_turn_id=upto,
        transcript=lines,
        lang=state["lang"],
        watched=list(watched),
    )
    envelope = len(orjson.dumps(request.model_copy(update={"transcript": []}).model_dump(mode="json"))) + 32
    sizes = [_line_bytes(line) for line in lines]
    total, trimmed = envelope + sum(sizes), 0
    while total > max_bytes and trimmed < len(lines) - 1:  # the newest turn always stays (a text is <= 16 KiB)
        total -= sizes[trimmed]
        trimmed += 1
    if trimmed:
        request = request.model_copy(update={"transcript": lines[trimmed:], "trimmed_turns": trimmed})
    return request
