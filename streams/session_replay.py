"""Replay one coded session's turns through the processor's pure core: its rupture episodes and its flags.

Why here and not a copy of the rules: a session-level or window-level validation
record must speak for exactly what the processor runs. So the turns go through
:func:`streams.session_state.on_turn` — process signals (``streams.signals``), the
client flags handed to the rupture rules, episodes (``streams.ruptures``) — in
turn order with event time as the clock, and the session is closed at its last
turn (an episode still open closes as unrepaired, as the processor closes it).
Only model drops are absent: they need a scorer, and the detectors judged here
are the rules. Pure: turns in, episodes and per-turn flags out; no text is kept.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from . import ruptures as rup
from . import session_state as core
from .contracts import ChatTurn, RuptureEpisode

#: the processor's settings for a replay: one ProcessSignal per turn (nothing coalesced), no transport grace
REPLAY_SETTINGS = core.ProcessorSettings(signal_min_interval_s=0.0, transport_grace_s=0.0, process_alerts=False)


@dataclass(frozen=True)
class ReplayTurn:
    """One turn of a session as the replay needs it (the text is read once, by the rules, and dropped)."""

    turn_id: int
    speaker: str  # "counselor" | "client"
    text: str
    at: datetime  # timezone-aware event time


@dataclass
class ReplayedSession:
    session_id: str
    #: the newest version of each episode the rules opened, in opening order
    episodes: list[RuptureEpisode] = field(default_factory=list)
    #: the process flags up after each replayed turn, by turn id
    flags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: turns the core refused or ignored (a duplicate id, a turn far past the session)
    skipped: int = 0


def replay_session(session_id: str, turns: Sequence[ReplayTurn], *, counselor_id: str = "coded",
                   lang: str = "en", settings: core.ProcessorSettings = REPLAY_SETTINGS) -> ReplayedSession:
    """The episodes and flags the processor core yields for ``turns`` (sorted here by turn id)."""
    out = ReplayedSession(session_id)
    state: dict[str, Any] | None = None
    latest: dict[str, RuptureEpisode] = {}
    last_at: datetime | None = None
    for t in sorted(turns, key=lambda t: t.turn_id):
        turn = ChatTurn(session_id=session_id, turn_id=t.turn_id, speaker="client" if t.speaker == "client"
                        else "counselor", text=t.text, sent_at=t.at, counselor_id=counselor_id,
                        lang="zh" if lang == "zh" else "en")
        outcome = core.on_turn(state, turn, t.at.timestamp(), settings)
        if outcome.rejected or outcome.ignored or outcome.duplicate:
            out.skipped += 1
            if outcome.rejected:
                continue
        state = outcome.state
        if outcome.duplicate or outcome.ignored:
            continue
        last_at = t.at if last_at is None else max(last_at, t.at)
        out.flags[t.turn_id] = tuple(outcome.signal.flags) if outcome.signal is not None else ()
        for ep in outcome.episodes:
            latest[ep.episode_id] = ep
    if state is not None and last_at is not None:
        info = rup.SessionInfo(session_id, state["counselor_id"] or counselor_id, state["lang"])
        for ep in rup.on_session_end(state.get("ruptures"), info, at=last_at).episodes:
            latest[ep.episode_id] = ep
    out.episodes = sorted(latest.values(), key=lambda e: int(e.episode_id.rsplit(":", 1)[1]))
    return out
