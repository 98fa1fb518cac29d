"""Replay recorded sessions through the processor's pure core and collect their rupture episodes.

Why: checking the rupture rules on the samples should not need a broker. This
drives :mod:`streams.session_state` exactly as the Faust shell does — turns and
session events in event-time order, phase requests marked emitted, the session
closed by its ``ended`` event or by the timer (a silent session's clock runs on
past its last turn) — with event time as the wall clock. Only model drops are
absent: they need a scorer. The processor test replays a sample through the
real broker and checks that it yields the same episodes.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass, field
from pathlib import Path

from . import session_state as core
from .contracts import AllianceAlert, ChatTurn, RuptureEpisode, SessionEvent
from .errors import BadReplayFile
from .replay_format import ReplayEvent, read_file


def replay_ruptures(path: str | Path, settings: core.ProcessorSettings | None = None) -> list[RuptureEpisode]:
    """Every episode record the processor core emits for the sessions in ``path``, in order."""
    events, bad = read_file(path)
    if bad:
        raise BadReplayFile(f"{path}: {len(bad)} bad line(s), first: {bad[0].source}: {bad[0].reason}")
    return replay_events(events, settings).episodes


@dataclass
class Replayed:
    """What the core emitted for a set of sessions: episode records and alerts (process alerts: no scorer)."""

    episodes: list[RuptureEpisode] = field(default_factory=list)
    alerts: list[AllianceAlert] = field(default_factory=list)


def replay_events(events: list[ReplayEvent], settings: core.ProcessorSettings | None = None) -> Replayed:
    """Drive the processor core over ``events`` (in event-time order) with event time as the clock."""
    s = settings or core.ProcessorSettings(signal_min_interval_s=0.0, transport_grace_s=0.0)
    states: dict[str, dict] = {}
    result = Replayed()
    out = result.episodes

    def apply(outcome: core.Outcome, sid: str) -> None:
        states[sid] = outcome.state
        out.extend(outcome.episodes)
        result.alerts.extend(outcome.alerts)
        for due in outcome.requests:
            core.mark_emitted(outcome.state, due.phase, s)
        out.extend(core.close_ruptures(outcome.state))

    last = 0.0
    for ev in events:
        wall = ev.at.timestamp()
        last = max(last, wall)
        if isinstance(ev.event, ChatTurn):
            apply(core.on_turn(states.get(ev.event.session_id), ev.event, wall, s), ev.event.session_id)
        elif isinstance(ev.event, SessionEvent):
            apply(core.on_session_event(states.get(ev.event.session_id), ev.event, wall, s), ev.event.session_id)
    # the timer: let each session's clock run until it closes (a session with no ``ended`` event)
    for sid in list(states):
        wall = last
        for _ in range(200):
            if states[sid].get("closed_at") is not None:
                break
            wall += 60.0
            apply(core.on_tick(states[sid], wall, s), sid)
    return result


def final_episodes(records: list[RuptureEpisode]) -> list[RuptureEpisode]:
    """The newest version of each episode, in opening order."""
    latest: dict[str, RuptureEpisode] = {}
    for r in records:
        if r.episode_id not in latest or r.version > latest[r.episode_id].version:
            latest[r.episode_id] = r
    return sorted(latest.values(), key=lambda e: (e.session_id, int(e.episode_id.rsplit(":", 1)[1])))
