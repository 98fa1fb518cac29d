"""Event ids, resume cursors and the history the gateway answers reconnects from.

Why ids come from Kafka: an event's id is ``<topic>:<partition>:<offset>`` of the
record it came from. Every gateway replica reads the same records, so the same
event has the same id everywhere, and a restarted gateway that re-reads the
topics hands out the ids it handed out before. A browser that reconnects to any
replica can therefore say exactly what it has seen.

One id is not a position: the gateway reads several topics and partitions, which
have no common order. A client's position is a *cursor*: the highest offset it has
seen per stream (``<topic>:<partition>``). The snapshot starts the cursor at the
gateway's position; each event advances it; resuming replays the visible events
beyond it.

:class:`History` is the one interface behind which the gateway keeps events for
reconnects and drill-downs. :class:`MemoryHistory` is bounded and in-process; the
store (store/) can implement the same four reads over its database. No I/O here.
"""

from __future__ import annotations

__layer__ = "core"

from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Protocol, cast, runtime_checkable

Kind = Literal["session", "score", "signal", "alert", "ack", "rupture", "feedback"]
#: Kinds a session's timeline keeps (signals are many and only the latest matters).
TIMELINE_KINDS: frozenset[str] = frozenset({"session", "score", "alert", "ack", "rupture", "feedback"})

Cursor = dict[str, int]


@dataclass(frozen=True, order=True)
class EventId:
    """``<topic>:<partition>:<offset>``; ``stream`` is ``<topic>:<partition>``."""

    stream: str
    offset: int

    def __str__(self) -> str:
        return f"{self.stream}:{self.offset}"

    @classmethod
    def of(cls, topic: str, partition: int, offset: int) -> "EventId":
        return cls(f"{topic}:{partition}", offset)

    @classmethod
    def parse(cls, text: str) -> "EventId":
        stream, sep, offset = str(text).rpartition(":")
        if not sep or ":" not in stream or not offset.isdigit():
            raise ValueError(f"not an event id (topic:partition:offset): {text!r}")
        return cls(stream, int(offset))


def parse_cursor(raw: object) -> Cursor:
    """Validate a client's cursor ``{"<topic>:<partition>": offset}``; ValueError names the problem."""
    if not isinstance(raw, dict):
        raise ValueError("resume must be an object mapping '<topic>:<partition>' to the last offset seen")
    if len(raw) > 10_000:
        raise ValueError("resume cursor has too many streams")
    out: Cursor = {}
    for stream, offset in raw.items():
        if not isinstance(stream, str) or ":" not in stream or len(stream) > 300:
            raise ValueError(f"resume cursor key {str(stream)[:60]!r} is not '<topic>:<partition>'")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < -1:
            raise ValueError(f"resume cursor offset for {stream!r} must be an integer >= -1")
        out[stream] = offset
    return out


@dataclass(frozen=True)
class StoredEvent:
    """One event as the gateway keeps it: its id, kind, session and JSON-ready payload."""

    id: EventId
    kind: Kind
    session_id: str
    data: dict[str, Any] = field(compare=False)
    #: the record's source header (session records: whose word it is, streams/ownership.py)
    source: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ArchivedSession:
    """A session the gateway no longer holds, as the store kept it: its owner and its events.

    Why the owner comes with it: the viewer's scope (own sessions, the group's) is
    decided on the session's counselor and group, which the gateway forgot too.
    """

    session_id: str
    counselor_id: str | None
    group: str | None
    events: list[StoredEvent]


def archived_event(seq: int, kind: str, stream: str | None, offset: int | None, session_id: str,
                   data: dict[str, Any]) -> StoredEvent:
    """A stored journal entry as a StoredEvent: under its Kafka id when the store knows it (the id it had live)."""
    event_id = EventId(stream, offset) if stream and offset is not None else EventId(f"store:{kind}", seq)
    return StoredEvent(event_id, cast(Kind, kind), session_id, data)  # the journal keeps the kinds of StoredEvent


@dataclass(frozen=True)
class Gap:
    """The history cannot say what the client missed; it needs a fresh snapshot."""

    reason: str


@runtime_checkable
class History(Protocol):
    """What the fan-out needs from a history. Keep it this small (docs/gateway.md)."""

    def append(self, event: StoredEvent) -> None:
        """Record an event (called once per consumed record, in consumption order)."""

    def since(self, cursor: Mapping[str, int]) -> list[StoredEvent] | Gap:
        """Events after ``cursor`` in consumption order, or a Gap if that is not knowable."""

    def session_timeline(self, session_id: str) -> list[StoredEvent]:
        """Session, score, alert and ack events of one session, oldest first."""

    def alerts(self, session_id: str) -> list[StoredEvent]:
        """Alert events of one session, oldest first."""


@runtime_checkable
class ScopedHistory(Protocol):
    """A history that answers a resume in time proportional to what the viewer may see.

    Why: ``since`` walks every event after the cursor and the hub then checks each
    one's visibility, so a counselor's ``resume`` over 50,000 events of other
    people's sessions cost 100+ ms of the event loop. A scoped history indexes its
    events by session and stream, knows each session's owner, and counts before it
    collects, so a cursor far behind costs a count, not a walk.
    """

    def assign(self, session_id: str, counselor_id: str | None, group: str | None) -> None:
        """The session's owner as the hub now knows it (called after every append)."""

    def since_for(self, cursor: Mapping[str, int], counselor_id: str | None, groups: Collection[str],
                  all_groups: bool, limit: int) -> list[StoredEvent] | Gap:
        """Events after ``cursor`` of the sessions in this scope, in consumption order; a Gap when the
        cursor is out of range or more than ``limit`` events would be replayed."""


class _Tail:
    """One session's events in one stream, oldest first: offsets ascending (bisect), evicted from the head."""

    __slots__ = ("head", "items", "offsets")

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.items: list[tuple[int, StoredEvent]] = []
        self.head = 0

    def append(self, seq: int, event: StoredEvent) -> None:
        self.offsets.append(event.id.offset)
        self.items.append((seq, event))

    def pop_head(self) -> None:
        self.head += 1
        if self.head >= 64 and self.head * 2 >= len(self.items):  # amortised: compact now and then
            del self.offsets[:self.head]
            del self.items[:self.head]
            self.head = 0

    def __len__(self) -> int:
        return len(self.items) - self.head

    def after(self, offset: int) -> int:
        """Index of the first item with an offset above ``offset``."""
        return bisect_right(self.offsets, offset, lo=self.head)


class MemoryHistory:
    """Bounded in-memory :class:`History`, and a :class:`ScopedHistory`.

    ``max_events`` bounds the replay log; ``max_sessions`` and ``per_session``
    bound the timelines. When old events are evicted the history remembers, per
    stream, the first offset it can still answer from, so a client behind that
    point is told there is a gap instead of silently missing events.
    """

    def __init__(self, max_events: int = 50_000, max_sessions: int = 5_000, per_session: int = 200):
        self.max_events = max_events
        self.max_sessions = max_sessions
        self.per_session = per_session
        self._streams: dict[str, deque[tuple[int, StoredEvent]]] = {}
        self._order: deque[str] = deque()  # stream of each retained event, oldest first
        self._seq = 0
        #: per stream: the lowest offset this history can answer from.
        self.covered_from: dict[str, int] = {}
        #: per stream: the highest offset appended (or start - 1).
        self.high: dict[str, int] = {}
        self._sessions: OrderedDict[str, deque[StoredEvent]] = OrderedDict()
        #: the scope index: every retained event by session and stream, each session's owner
        self._tails: dict[str, dict[str, _Tail]] = {}
        self._owner: dict[str, tuple[str | None, str | None]] = {}
        self._by_counselor: dict[str, set[str]] = {}
        self._by_group: dict[str, set[str]] = {}

    # -- writing ----------------------------------------------------------------
    def mark_start(self, stream: str, first_offset: int) -> None:
        """The consumer starts reading ``stream`` at ``first_offset`` (nothing before is known)."""
        if stream not in self._streams or not self._streams[stream]:
            self.covered_from[stream] = first_offset
            self.high[stream] = max(self.high.get(stream, -1), first_offset - 1)

    def append(self, event: StoredEvent) -> None:
        stream = event.id.stream
        log = self._streams.setdefault(stream, deque())
        if stream not in self.covered_from:
            self.covered_from[stream] = event.id.offset
        self._seq += 1
        log.append((self._seq, event))
        self._tails.setdefault(event.session_id, {}).setdefault(stream, _Tail()).append(self._seq, event)
        self._order.append(stream)
        self.high[stream] = max(self.high.get(stream, -1), event.id.offset)
        while len(self._order) > self.max_events:
            old_stream = self._order.popleft()
            _, old = self._streams[old_stream].popleft()
            self.covered_from[old_stream] = old.id.offset + 1
            self._evict_tail(old.session_id, old_stream)
        if event.kind in TIMELINE_KINDS:
            timeline = self._sessions.get(event.session_id)
            if timeline is None:
                timeline = self._sessions[event.session_id] = deque(maxlen=self.per_session)
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(event.session_id)
            timeline.append(event)

    def _evict_tail(self, session_id: str, stream: str) -> None:
        tails = self._tails.get(session_id)
        tail = tails.get(stream) if tails else None
        if tails is None or tail is None:
            return
        tail.pop_head()
        if not tail:
            del tails[stream]
            if not tails:  # nothing of the session is left: it leaves the scope index too
                del self._tails[session_id]
                self._unassign(session_id)

    def assign(self, session_id: str, counselor_id: str | None, group: str | None) -> None:
        owner = (counselor_id, group)
        if session_id not in self._tails or self._owner.get(session_id) == owner:
            return
        self._unassign(session_id)
        self._owner[session_id] = owner
        if counselor_id is not None:
            self._by_counselor.setdefault(counselor_id, set()).add(session_id)
        if group is not None:
            self._by_group.setdefault(group, set()).add(session_id)

    def _unassign(self, session_id: str) -> None:
        counselor_id, group = self._owner.pop(session_id, (None, None))
        for index, key in ((self._by_counselor, counselor_id), (self._by_group, group)):
            bucket = index.get(key) if key is not None else None
            if bucket is not None:
                bucket.discard(session_id)
                if not bucket:
                    del index[key]  # type: ignore[arg-type]  # key is not None when a bucket was found

    # -- reading ----------------------------------------------------------------
    def _out_of_range(self, cursor: Mapping[str, int]) -> Gap | None:
        for stream, start in self.covered_from.items():
            seen = cursor.get(stream, -1)
            if seen + 1 < start:
                return Gap(f"events of {stream} after offset {seen} are no longer in this gateway's history")
        for stream, seen in cursor.items():
            if stream in self.high and seen > self.high[stream]:
                return Gap(f"your position in {stream} ({seen}) is ahead of this gateway ({self.high[stream]}); "
                           "the event log was reset or this replica is behind")
        return None

    def since(self, cursor: Mapping[str, int]) -> list[StoredEvent] | Gap:
        gap = self._out_of_range(cursor)
        if gap is not None:
            return gap
        picked: list[tuple[int, StoredEvent]] = []
        for stream, log in self._streams.items():
            seen = cursor.get(stream, -1)
            for seq, event in reversed(log):
                if event.id.offset <= seen:
                    break
                picked.append((seq, event))
        picked.sort(key=lambda p: p[0])
        return [e for _, e in picked]

    def since_for(self, cursor: Mapping[str, int], counselor_id: str | None, groups: Collection[str],
                  all_groups: bool, limit: int) -> list[StoredEvent] | Gap:
        """Like :meth:`since`, for one viewer's scope, bounded by ``limit``.

        Cost: an all-groups supervisor walks each stream back to the cursor (stopping
        past ``limit``); anyone else bisects the streams of the sessions in scope
        (counted first, collected only when within ``limit``). Either way proportional
        to what the viewer may see, never to the whole history.
        """
        gap = self._out_of_range(cursor)
        if gap is not None:
            return gap
        too_many = Gap(f"more than {limit} events since your cursor; here is a fresh snapshot")
        picked: list[tuple[int, StoredEvent]] = []
        if all_groups:
            for stream, log in self._streams.items():
                seen = cursor.get(stream, -1)
                for seq, event in reversed(log):
                    if event.id.offset <= seen:
                        break
                    picked.append((seq, event))
                    if len(picked) > limit:
                        return too_many
        else:
            ranges: list[tuple[_Tail, int]] = []
            total = 0
            for session_id in self._sessions_of(counselor_id, groups):
                for stream, tail in self._tails.get(session_id, {}).items():
                    first = tail.after(cursor.get(stream, -1))
                    if first < len(tail.items):
                        ranges.append((tail, first))
                        total += len(tail.items) - first
                        if total > limit:
                            return too_many
            for tail, first in ranges:
                picked.extend(tail.items[first:])
        picked.sort(key=lambda p: p[0])
        return [e for _, e in picked]

    def _sessions_of(self, counselor_id: str | None, groups: Iterable[str]) -> Iterable[str]:
        if counselor_id is not None:
            return self._by_counselor.get(counselor_id, ())
        seen: set[str] = set()
        for group in groups:
            seen |= self._by_group.get(group, set())
        return seen

    def session_timeline(self, session_id: str) -> list[StoredEvent]:
        return list(self._sessions.get(session_id, ()))

    def alerts(self, session_id: str) -> list[StoredEvent]:
        return [e for e in self._sessions.get(session_id, ()) if e.kind == "alert"]

    def __len__(self) -> int:
        return len(self._order)
