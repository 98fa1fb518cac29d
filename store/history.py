"""The store as a ``gateway.history.History``: reconnects and drill-downs from the database.

Why an adapter: the gateway's in-memory history forgets on restart and is
bounded; this one answers from the ``events`` journal the sink fills, with the
same event ids (``<topic>:<partition>:<offset>``). ``append`` writes through the
same idempotent path as the sink, so both can feed it. The store keeps no
``alliance.signals`` (only the latest matters, and the gateway has them).
"""

from __future__ import annotations

from typing import Mapping

from sqlalchemy import Engine

from streams.codec import validate
from streams.contracts import AlertAck, AllianceAlert, AllianceScore, SessionEvent

from .repository import CursorGap, JournalEvent, StoreRepository
from .writes import Origin, write_event

_CONTRACT = {"session": SessionEvent, "score": AllianceScore, "alert": AllianceAlert, "ack": AlertAck}


class StoreHistory:
    """Implements the four reads/writes of ``gateway.history.History`` over the store."""

    def __init__(self, engine: Engine):
        self.repo = StoreRepository(engine)
        self.engine = engine

    @staticmethod
    def _to_gateway(e: JournalEvent):
        from gateway.history import EventId, StoredEvent

        event_id = EventId(e.stream, e.offset) if e.stream is not None else EventId("store:0", e.seq)
        return StoredEvent(id=event_id, kind=e.kind, session_id=e.session_id, data=e.data)  # type: ignore[arg-type]

    def append(self, event) -> None:
        contract = _CONTRACT.get(event.kind)
        if contract is None:
            return  # signals are not stored
        topic, _, partition = event.id.stream.rpartition(":")
        with self.engine.begin() as conn:
            write_event(conn, validate(contract, event.data),
                        origin=Origin(topic, int(partition), event.id.offset) if partition.isdigit() else None)

    def since(self, cursor: Mapping[str, int]):
        from gateway.history import Gap

        got = self.repo.since(cursor)
        if isinstance(got, CursorGap):
            return Gap(got.reason)
        return [self._to_gateway(e) for e in got]

    def session_timeline(self, session_id: str):
        return [self._to_gateway(e) for e in self.repo.session_events(session_id)]

    def alerts(self, session_id: str):
        return [self._to_gateway(e) for e in self.repo.session_events(session_id, kinds=["alert"])]
