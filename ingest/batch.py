"""The pure core of ingestion: a posted batch -> records to produce, duplicates, and a reason per rejection.

A record is one line of the replay format (docs/replay-format.md): a turn, a
session event, or a whole session. It is validated by the same contracts as
everything on Kafka (``streams.replay_format.parse_line``), so nothing reaches the
topics over HTTP that a Kafka producer could not have sent. Idempotency: a turn
is identified by platform/``session_id``/``turn_id``, a session event by
platform/``session_id``/``kind`` (a hand-over also by its time); a key already
delivered (or earlier in the same batch) is a duplicate, acknowledged and not
produced again. The platform is part of the key: another platform's records can
never make one platform's records look delivered.

Ownership (streams/ownership.py, as ingest sees it): a session id belongs to the
first platform that posts a record of it; a record of that session from another
platform is rejected with its reason, per record, and nothing of it is produced.
"""

from __future__ import annotations

__layer__ = "core"

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from streams.contracts import ChatTurn
from streams.errors import ContractError
from streams.replay_format import ReplayEvent, parse_line

MAX_RECORDS = 500


@dataclass(frozen=True)
class Outcome:
    index: int
    status: str  # accepted | duplicate | rejected
    error: str | None = None
    events: tuple[ReplayEvent, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.error:
            out["error"] = self.error
        return out


def idempotency_key(event: ReplayEvent, platform: str) -> str:
    """The key that recognises a repeat of ``event`` from ``platform`` (never another platform's record)."""
    e = event.event
    if isinstance(e, ChatTurn):
        return f"{platform}:turn:{e.session_id}:{e.turn_id}"
    if e.kind == "reassigned":  # a session may be handed over more than once
        return f"{platform}:session:{e.session_id}:{e.kind}:{e.at.isoformat()}"
    return f"{platform}:session:{e.session_id}:{e.kind}"


class Delivered:
    """Keys already produced, bounded (oldest forgotten first): the idempotency window."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class SessionPlatforms:
    """Which platform owns each session id ingest has produced records of, bounded (oldest forgotten first)."""

    def __init__(self, capacity: int = 200_000):
        self.capacity = capacity
        self._owner: OrderedDict[str, str] = OrderedDict()

    def get(self, session_id: str) -> str | None:
        return self._owner.get(session_id)

    def claim(self, session_id: str, platform: str) -> None:
        """``platform`` produced a record of ``session_id``: it owns it (the first claim stands)."""
        self._owner.setdefault(session_id, platform)
        self._owner.move_to_end(session_id)
        while len(self._owner) > self.capacity:
            self._owner.popitem(last=False)

    def __len__(self) -> int:
        return len(self._owner)


def foreign_session_error(session_id: str) -> str:
    """Why a record was refused: its session id is another platform's (whose is not said)."""
    return (f"session {session_id[:128]} belongs to another platform: a session id is owned by the first "
            "platform that posts it; use ids unique to your platform (e.g. prefixed with its name)")


def records_of(body: Any) -> list[Any]:
    """The records of a posted body: ``{"records": [...]}``, a JSON list, or one record."""
    if isinstance(body, dict) and "records" in body:
        records = body["records"]
        if not isinstance(records, list):
            raise ContractError("batch", ["records: expected a list"])
        return records
    if isinstance(body, list):
        return body
    return [body]


def plan_batch(records: list[Any], delivered: Delivered, platform: str,
               owners: SessionPlatforms | None = None) -> list[Outcome]:
    """Validate each record from ``platform``, refuse another platform's sessions and sort out duplicates;
    never raises for a bad record. The shell claims the sessions of what it produced (``owners.claim``)."""
    seen: set[str] = set()
    out: list[Outcome] = []
    for i, record in enumerate(records):
        try:
            events = parse_line(record, f"record {i}", i)
        except ContractError as err:
            out.append(Outcome(i, "rejected", str(err)))
            continue
        foreign = next((ev.session_id for ev in events
                        if owners is not None and owners.get(ev.session_id) not in (None, platform)), None)
        if foreign is not None:
            out.append(Outcome(i, "rejected", foreign_session_error(foreign)))
            continue
        fresh = []
        for ev in events:
            key = idempotency_key(ev, platform)
            if key in delivered or key in seen:
                continue
            seen.add(key)
            fresh.append(ev)
        out.append(Outcome(i, "accepted" if fresh else "duplicate", events=tuple(fresh)))
    return out
