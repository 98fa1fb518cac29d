"""Restart policy and health bookkeeping for supervised children (pure, no I/O).

Why separate: the decisions "restart now, later, or give up" and "which part is
unhealthy" are the part worth testing exhaustively; the subprocess handling in
:mod:`alliance_monitor.up` is a thin shell that asks these questions.
"""

from __future__ import annotations

__layer__ = "cli"

from collections import deque
from dataclasses import dataclass, field
from enum import Enum


class State(str, Enum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"  # running but failing its health probe
    BACKOFF = "backoff"  # crashed, waiting to restart
    FAILED = "failed"  # crashed too often; retried only every ``retry_failed_s``
    STOPPED = "stopped"


@dataclass
class RestartPolicy:
    """Exponential backoff; after ``max_restarts`` within ``window_s`` the part is *failed*.

    A failed part is not given up for good: a burst of crashes is usually a
    dependency that is briefly gone (a one-minute Kafka outage crashes every part
    several times), and a part left dead while ``up`` keeps running is an outage
    nobody notices. It is reported failed (unhealthy) and retried every
    ``retry_failed_s``; ``None`` gives up (for callers that want a verdict).
    """

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_restarts: int = 5
    window_s: float = 300.0
    retry_failed_s: float | None = 60.0
    #: a running part whose health probe fails this long is restarted (None: never). Why: a part
    #: whose dependency went away can stay "up" but useless (a consumer that never re-joins, a
    #: feed that never reads again); its own health says so, and a restart is the one cure the
    #: supervisor has. The grace doubles with each such restart that does not bring the part back
    #: to healthy, up to ``max_unhealthy_grace_s``, so a dependency that stays down is not hammered.
    unhealthy_grace_s: float | None = 30.0
    max_unhealthy_grace_s: float = 300.0

    def unhealthy_grace(self, restarts_in_a_row: int) -> float | None:
        """How long a part may stay unhealthy before its next restart (None: never restart it for that)."""
        if self.unhealthy_grace_s is None:
            return None
        return min(self.max_unhealthy_grace_s, self.unhealthy_grace_s * 2 ** restarts_in_a_row)

    def delay(self, recent_crashes: int) -> float:
        if recent_crashes <= 0:
            return 0.0
        return min(self.max_delay_s, self.initial_delay_s * 2 ** (recent_crashes - 1))


@dataclass
class ChildHealth:
    """The life of one child as the supervisor sees it."""

    name: str
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    state: State = State.STOPPED
    crashes: deque = field(default_factory=deque)  # monotonic times of recent crashes
    restarts: int = 0
    last_exit: int | None = None
    restart_at: float | None = None
    detail: str = ""
    #: when the part turned unhealthy (monotonic), and its restarts for that since it was last healthy
    unhealthy_since: float | None = None
    unhealthy_restarts: int = 0

    def started(self, now: float) -> None:
        self.state = State.STARTING
        self.restart_at = None
        self.detail = ""

    def probe(self, ok: bool, detail: str = "", now: float = 0.0) -> bool:
        """Record a health probe at ``now``; return True when the state changed."""
        if self.state not in (State.STARTING, State.HEALTHY, State.UNHEALTHY):
            return False
        new = State.HEALTHY if ok else (State.STARTING if self.state == State.STARTING else State.UNHEALTHY)
        changed = new != self.state
        if new == State.UNHEALTHY and self.state != State.UNHEALTHY:
            self.unhealthy_since = now
        elif new == State.HEALTHY:
            self.unhealthy_since = None
            self.unhealthy_restarts = 0
        self.state = new
        self.detail = "" if ok else detail
        return changed

    def stuck(self, now: float) -> bool:
        """Unhealthy for longer than the grace: time to restart it."""
        grace = self.policy.unhealthy_grace(self.unhealthy_restarts)
        return (self.state == State.UNHEALTHY and self.unhealthy_since is not None and grace is not None
                and now - self.unhealthy_since >= grace)

    def restarting_unhealthy(self) -> None:
        self.unhealthy_restarts += 1
        self.unhealthy_since = None
        self.restarts += 1

    def exited(self, code: int, now: float) -> State:
        """A child exited unexpectedly: schedule a restart or give up."""
        self.last_exit = code
        while self.crashes and now - self.crashes[0] > self.policy.window_s:
            self.crashes.popleft()
        self.crashes.append(now)
        if len(self.crashes) > self.policy.max_restarts:
            self.state = State.FAILED
            retry = self.policy.retry_failed_s
            self.restart_at = None if retry is None else now + retry
            self.detail = f"exited {len(self.crashes)} times in {self.policy.window_s:.0f}s (last code {code})"
            if retry is not None:
                self.detail += f"; retrying every {retry:g}s"
            return self.state
        self.state = State.BACKOFF
        self.restart_at = now + self.policy.delay(len(self.crashes))
        self.detail = f"exited with code {code}"
        return self.state

    def due(self, now: float) -> bool:
        return (self.state in (State.BACKOFF, State.FAILED) and self.restart_at is not None
                and now >= self.restart_at)

    def restarting(self) -> None:
        self.restarts += 1


def status_line(children: list[ChildHealth]) -> str:
    """One line naming every part and its state, unhealthy ones first."""
    order = {State.FAILED: 0, State.UNHEALTHY: 1, State.BACKOFF: 2, State.STARTING: 3, State.HEALTHY: 4,
             State.STOPPED: 5}
    parts = []
    for c in sorted(children, key=lambda c: (order[c.state], c.name)):
        extra = f" ({c.detail})" if c.detail else ""
        restarts = f" restarts={c.restarts}" if c.restarts else ""
        parts.append(f"{c.name}: {c.state.value}{restarts}{extra}")
    return " | ".join(parts)


def all_healthy(children: list[ChildHealth]) -> bool:
    return all(c.state == State.HEALTHY for c in children)
