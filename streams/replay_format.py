"""The replay file format: recorded sessions as JSON Lines (docs/replay-format.md).

Part of the contract layer (the formats every part agrees on): ``replay`` and
the demo publish these files, ``score-file`` scores them. Blank lines and lines
starting with ``#`` are skipped (headers, comments). Every other line is one of:

* a **turn**: a ``ChatTurn`` object (has ``speaker``);
* a **session event**: a ``SessionEvent`` object (has ``kind``);
* a **whole session**: ``{"session_id", "counselor_id", "started_at",
  "planned_minutes"?, "lang"?, "group"?, "ended_at"?, "turns": [{"speaker",
  "text", "sent_at"}, ...]}``; turn ids are numbered 0.. in order, and a
  ``started`` (and ``ended``, when given) event is emitted.

Events of all files are merged by event time, so several sessions replay side
by side as they happened, and the wall-clock gap between two events is the
event-time gap divided by ``speed`` (:func:`schedule`).
"""

from __future__ import annotations

__layer__ = "contract"

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

from .codec import json_lines, validate
from .contracts import ChatTurn, SessionEvent
from .errors import ContractError
from .topics import CHAT_SESSIONS, CHAT_TURNS


@dataclass(frozen=True)
class ReplayEvent:
    """One event to publish, with where it came from (for error reports)."""

    topic: str
    event: ChatTurn | SessionEvent
    at: datetime
    source: str  # "file:line"
    order: int  # tie-breaker: position in its file

    @property
    def session_id(self) -> str:
        return self.event.session_id


@dataclass(frozen=True)
class BadLine:
    source: str  # "file:line"
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def _event_time(event: ChatTurn | SessionEvent) -> datetime:
    return event.sent_at if isinstance(event, ChatTurn) else event.at


def parse_line(data: object, source: str, order: int) -> list[ReplayEvent]:
    """Turn one decoded JSON value into replay events, raising ContractError."""
    if not isinstance(data, dict):
        raise ContractError("line", [f"expected a JSON object, got {type(data).__name__}"])
    if "turns" in data:
        return _expand_session(data, source, order)
    if "speaker" in data:
        turn = validate(ChatTurn, data)
        return [ReplayEvent(CHAT_TURNS.name, turn, turn.sent_at, source, order)]
    if "kind" in data:
        ev = validate(SessionEvent, data)
        return [ReplayEvent(CHAT_SESSIONS.name, ev, ev.at, source, order)]
    raise ContractError(
        "line", ["not a turn (no 'speaker'), a session event (no 'kind') or a session (no 'turns')"]
    )


def _expand_session(data: dict[str, Any], source: str, order: int) -> list[ReplayEvent]:
    data = dict(data)
    turns = data.pop("turns")
    if not isinstance(turns, list):
        raise ContractError("session", ["session.turns: expected a list"])
    started_at = data.pop("started_at", None)
    ended_at = data.pop("ended_at", None)
    data.pop("header", None)
    common = {k: data[k] for k in ("session_id", "counselor_id") if k in data}
    lang = data.get("lang", "en")
    start = validate(
        SessionEvent,
        {**common, "kind": "started", "at": started_at, "lang": lang,
         **{k: data[k] for k in ("planned_minutes", "group") if k in data}},
    )
    out = [ReplayEvent(CHAT_SESSIONS.name, start, start.at, source, order)]
    problems: list[str] = []
    for i, t in enumerate(turns):
        if not isinstance(t, dict):
            problems.append(f"turns[{i}]: expected an object")
            continue
        try:
            turn = validate(ChatTurn, {**common, "lang": lang, "turn_id": t.get("turn_id", i), **t})
        except ContractError as err:
            problems.extend(f"turns[{i}] {p}" for p in err.problems)
            continue
        out.append(ReplayEvent(CHAT_TURNS.name, turn, turn.sent_at, source, order + i + 1))
    if problems:
        raise ContractError("session", problems)
    if ended_at is not None:
        end = validate(SessionEvent, {**common, "kind": "ended", "at": ended_at, "lang": lang,
                                      "planned_minutes": start.planned_minutes, "group": start.group})
        out.append(ReplayEvent(CHAT_SESSIONS.name, end, end.at, source, order + len(turns) + 1))
    return out


def read_file(path: str | Path) -> tuple[list[ReplayEvent], list[BadLine]]:
    """Parse one replay file; bad lines are returned, never raised."""
    path = Path(path)
    events: list[ReplayEvent] = []
    bad: list[BadLine] = []
    for line in json_lines(path):
        if line.error is not None:
            bad.append(BadLine(line.source, line.error))
            continue
        try:
            events.extend(parse_line(line.data, line.source, line.lineno * 100_000))
        except ContractError as err:
            bad.append(BadLine(line.source, str(err)))
    return events, bad


def merge(streams: Iterable[list[ReplayEvent]]) -> list[ReplayEvent]:
    """All events in event-time order; within a file, file order breaks ties."""
    keyed = [sorted(s, key=lambda e: (e.at, e.order)) for s in streams]
    return list(heapq.merge(*keyed, key=lambda e: e.at))


def schedule(events: list[ReplayEvent], speed: float) -> list[float]:
    """Wall-clock offsets (seconds from the start) for each event.

    ``speed`` is how many times faster than real time; ``float('inf')`` means
    as fast as possible (all offsets 0).
    """
    if not events:
        return []
    if speed <= 0:
        raise ValueError("speed must be positive")
    t0 = events[0].at
    if speed == float("inf"):
        return [0.0] * len(events)
    return [max(0.0, (e.at - t0).total_seconds() / speed) for e in events]


def rebase(events: list[ReplayEvent], new_start: datetime) -> list[ReplayEvent]:
    """Shift every event time by the same amount so the first event is at ``new_start``."""
    if not events:
        return events
    shift: timedelta = new_start - events[0].at
    out = []
    for e in events:
        field = "sent_at" if isinstance(e.event, ChatTurn) else "at"
        moved = e.event.model_copy(update={field: _event_time(e.event) + shift})
        out.append(ReplayEvent(e.topic, moved, e.at + shift, e.source, e.order))
    return out


def iter_files(paths: Iterable[str]) -> Iterator[Path]:
    for p in paths:
        path = Path(p)
        if path.is_dir():
            yield from sorted(x for x in path.iterdir() if x.suffix == ".jsonl")
        else:
            yield path
