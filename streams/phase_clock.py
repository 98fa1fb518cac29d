"""Per-session phase clock on event time (docs/streams.md#phases-and-the-clock). Pure: no Faust, no Kafka.

Why event time: a replay at 60× must cross the same boundaries, with the same
transcript cuts, as the live session did. Wall time only enters through
:class:`SessionClock`, which turns "no event has arrived for a while" into an
event-time estimate so a silent client still gets its boundaries (a timer).

Rules, all on event time (seconds since the epoch, floats):

* early / middle / late end at 1/3, 2/3, 3/3 of ``planned_minutes`` after
  ``started``, or at ``ended`` (or the idle close), whichever comes first;
* a phase is *due* once the session clock is ``allowed_lateness_s`` past its end,
  so a turn that is a little late on the wire (or on the other topic) still
  lands in the right cut; a turn far past a boundary makes it due at once;
* phases are emitted in order, each exactly once (:meth:`PhaseClock.mark_emitted`);
* a turn before any ``started`` event starts the session at that turn with the
  default plan (50 min); a later ``started`` corrects start and plan as long as
  no phase has been emitted yet (and still corrects the plan afterwards);
* a session that never sends ``ended`` is closed ``idle_timeout_s`` after its last
  event: its remaining phases are cut at that moment.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contracts import Phase

PHASES: tuple[Phase, ...] = ("early", "middle", "late")
DEFAULT_PLANNED_MINUTES = 50.0


@dataclass(frozen=True)
class ClockSettings:
    """Tunables of the phase clock (event-time seconds)."""

    #: how long past a phase end a late turn is still placed in that phase's cut.
    allowed_lateness_s: float = 10.0
    #: a session with no event for this long is closed as if it had ended.
    idle_timeout_s: float = 30 * 60.0
    default_planned_minutes: float = DEFAULT_PLANNED_MINUTES


@dataclass(frozen=True)
class DuePhase:
    """A phase whose boundary has been crossed: emit its request with turns < ``cut_at``."""

    phase: Phase
    index: int  # 0, 1, 2
    start_at: float  # beginning of this phase (for the phase-local mode)
    cut_at: float  # end of this phase: turns strictly before it belong to the cut
    reason: str  # "time" | "ended" | "idle"


@dataclass
class PhaseClock:
    """The phase state of one session; serialisable with :meth:`to_dict`."""

    started_at: float | None = None
    planned_minutes: float = DEFAULT_PLANNED_MINUTES
    start_assumed: bool = False  # started inferred from the first turn
    ended_at: float | None = None
    last_event_at: float | None = None
    emitted: list[str] = field(default_factory=list)

    # --- observing events -------------------------------------------------
    def observe_started(self, at: float, planned_minutes: float) -> None:
        if self.started_at is None or (not self.emitted and (self.start_assumed or at < self.started_at)):
            self.started_at = at
        self.planned_minutes = planned_minutes
        self.start_assumed = False
        self._touch(at)

    def observe_turn(self, at: float, settings: ClockSettings = ClockSettings()) -> None:
        if self.started_at is None:
            self.started_at = at
            self.planned_minutes = settings.default_planned_minutes
            self.start_assumed = True
        elif self.start_assumed and not self.emitted and at < self.started_at:
            self.started_at = at  # an earlier turn arrived late: the session began then
        self._touch(at)

    def observe_ended(self, at: float) -> None:
        if self.started_at is None:  # ended with nothing before it: an empty session
            self.started_at = at
            self.start_assumed = True
        self.ended_at = at if self.ended_at is None else min(self.ended_at, at)
        self._touch(at)

    def _touch(self, at: float) -> None:
        self.last_event_at = at if self.last_event_at is None else max(self.last_event_at, at)

    # --- questions ------------------------------------------------------------
    @property
    def planned_s(self) -> float:
        return self.planned_minutes * 60.0

    def boundary(self, index: int) -> float:
        """Planned end of phase ``index`` (0..2), ignoring ``ended``."""
        assert self.started_at is not None
        return self.started_at + self.planned_s * (index + 1) / 3.0

    def close_at(self, settings: ClockSettings) -> float | None:
        """When the session ends: ``ended``, else the idle close (``None``: not yet known)."""
        if self.ended_at is not None:
            return self.ended_at
        if self.last_event_at is None:
            return None
        return self.last_event_at + settings.idle_timeout_s

    def phase_at(self, at: float) -> Phase:
        """The phase an event at ``at`` falls in (``late`` after the plan)."""
        if self.started_at is None:
            return "early"
        for i, name in enumerate(PHASES):
            if at < self.boundary(i):
                return name
        return "late"

    @property
    def closed(self) -> bool:
        return len(self.emitted) == len(PHASES)

    def due(self, now: float, settings: ClockSettings = ClockSettings()) -> list[DuePhase]:
        """Phases whose end the session clock ``now`` has passed (plus lateness), in order.

        Pure: call :meth:`mark_emitted` for each one actually sent.
        """
        if self.started_at is None:
            return []
        out: list[DuePhase] = []
        idle_close = None if self.last_event_at is None else self.last_event_at + settings.idle_timeout_s
        for i, name in enumerate(PHASES):
            if name in self.emitted:
                continue
            end = self.boundary(i)
            reason = "time"
            if self.ended_at is not None and self.ended_at <= end:
                end, reason = self.ended_at, "ended"
            elif self.ended_at is None and idle_close is not None and idle_close <= end and now >= idle_close:
                end, reason = idle_close, "idle"
            if reason == "idle":
                due = True  # the idle timeout is itself the grace period
            else:
                due = now >= end + settings.allowed_lateness_s
            if not due:
                break  # phases go out in order
            start = self.started_at if i == 0 else min(self.boundary(i - 1), end)
            out.append(DuePhase(name, i, start, end, reason))
        return out

    def mark_emitted(self, phase: str) -> None:
        if phase not in self.emitted:
            self.emitted.append(phase)

    # --- persistence -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose: dataclasses.asdict deep-copies and was the hottest call per turn
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PhaseClock":
        if not data:
            return cls()
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class SessionClock:
    """Maps wall time to a session's event time; never goes backwards.

    ``now = anchor_event + (wall - anchor_wall) × rate`` where the anchor is the
    latest event time seen. ``rate`` is how fast event time runs per wall
    second: 1 live, the replay speed (e.g. 60) when replaying. It only matters
    while a session is silent: every event re-anchors the clock. Both anchors
    are persisted, so a restarted worker continues the same estimate.
    """

    anchor_event: float | None = None
    anchor_wall: float | None = None

    def observe(self, event_at: float, wall: float, rate: float) -> None:
        if self.anchor_event is None or event_at >= self.now(wall, rate):
            self.anchor_event, self.anchor_wall = event_at, wall
        # an event behind the running estimate leaves the clock where it is

    def now(self, wall: float, rate: float) -> float:
        if self.anchor_event is None or self.anchor_wall is None:
            return float("-inf")
        return self.anchor_event + max(0.0, wall - self.anchor_wall) * rate

    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose: dataclasses.asdict deep-copies and was the hottest call per turn
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SessionClock":
        return cls(**(data or {}))
