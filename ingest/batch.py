"""The pure core of ingestion: a posted batch -> records to produce, duplicates, and a reason per rejection.

A record is one line of the replay format (docs/replay-format.md): a turn, a
session event, or a whole session. It is validated by the same contracts as
everything on Kafka (``streams.replay_format.parse_line``), so nothing reaches the
topics over HTTP that a Kafka producer could not have sent. Idempotency: a turn
is identified by ``session_id``/``turn_id``, a session event by
``session_id``/``kind``; a key already delivered (or earlier in the same batch)
is a duplicate, acknowledged and not produced again.
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


def idempotency_key(event: ReplayEvent) -> str:
    e = event.event
    if isinstance(e, ChatTurn):
        return f"turn:{e.session_id}:{e.turn_id}"
    return f"session:{e.session_id}:{e.kind}"


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


def plan_batch(records: list[Any], delivered: Delivered) -> list[Outcome]:
    """Validate each record and sort out duplicates; never raises for a bad record."""
    seen: set[str] = set()
    out: list[Outcome] = []
    for i, record in enumerate(records):
        try:
            events = parse_line(record, f"record {i}", i)
        except ContractError as err:
            out.append(Outcome(i, "rejected", str(err)))
            continue
        fresh = []
        for ev in events:
            key = idempotency_key(ev)
            if key in delivered or key in seen:
                continue
            seen.add(key)
            fresh.append(ev)
        out.append(Outcome(i, "accepted" if fresh else "duplicate", events=tuple(fresh)))
    return out
