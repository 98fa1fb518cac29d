"""The audit trail's core: which views the gateway records, and the record it publishes.

Sans-I/O like gateway/hub.py: the hub calls :meth:`AccessLog.record` when a
viewer is shown sessions (a board snapshot, a resume, a subscribe, a timeline
drill-down); the shell drains :meth:`AccessLog.take` after each step and
publishes every record as an :class:`streams.contracts.AccessEvent` on
``alliance.access``. Nothing here reads a clock or a socket.

Why ids of the form ``replica:connection:n``: a record must keep its id when the
producer retries it (the sink stores it once), and two gateway replicas, or one
replica before and after a restart, must never produce the same id. The shell
gives each run a random replica id; the rest is counted here.
"""

from __future__ import annotations

__layer__ = "core"

import itertools
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from streams.contracts import MAX_ACCESS_SESSIONS, MAX_ID_CHARS, AccessAction, AccessEvent

from .auth import Viewer

#: records held for the shell; more means nobody drains them (a gateway without Kafka).
MAX_PENDING = 10_000


@dataclass(frozen=True)
class AccessRecord:
    """One view, before the shell stamps the time: who, what, which sessions."""

    event_id: str
    action: AccessAction
    viewer: Viewer
    session_ids: tuple[str, ...] = ()
    sessions_shown: int = 0


def _label(value: str, fallback: str) -> str:
    """A name as the contract takes it: bounded, no edge whitespace (tokens may carry anything)."""
    text = " ".join(str(value).split())[:MAX_ID_CHARS].strip()
    return text or fallback


def access_event(record: AccessRecord, at: datetime, replica: str | None = None) -> AccessEvent:
    """The contract record for ``record``, viewed at ``at`` (the shell's wall clock)."""
    v = record.viewer
    scope = "" if v.role == "counselor" else ("all" if v.all_groups else ",".join(sorted(v.groups)))[:512]
    return AccessEvent(
        event_id=record.event_id, action=record.action, viewer=_label(v.name, v.role), role=v.role,
        counselor_id=v.counselor_id if v.role == "counselor" else None, scope=scope,
        key_id=_label(v.key_id, "") or None, token_id=_label(v.token_id, "") or None,
        session_ids=list(record.session_ids), sessions_shown=record.sessions_shown,
        replica=replica, at=at,
    )


class AccessLog:
    """Views waiting to be published, in order; bounded so an undrained log cannot grow."""

    def __init__(self, replica: str = "local", max_pending: int = MAX_PENDING):
        self.replica = replica
        self.max_pending = max_pending
        self.pending: deque[AccessRecord] = deque()
        self.dropped = 0  #: records pushed out because nobody drained them
        self._seq = itertools.count(1)

    def record(self, conn_id: int, action: AccessAction, viewer: Viewer, session_ids: tuple[str, ...] = (),
               sessions_shown: int = 0) -> list[AccessRecord]:
        """Queue the view; a subscribe to many sessions is split to fit the contract's limit."""
        chunks = [session_ids[i:i + MAX_ACCESS_SESSIONS]
                  for i in range(0, len(session_ids), MAX_ACCESS_SESSIONS)] or [()]
        out = []
        for chunk in chunks:
            rec = AccessRecord(f"{self.replica}:{conn_id}:{next(self._seq)}", action, viewer, chunk,
                               sessions_shown or len(chunk))
            if len(self.pending) >= self.max_pending:
                self.pending.popleft()
                self.dropped += 1
            self.pending.append(rec)
            out.append(rec)
        return out

    def take(self) -> list[AccessRecord]:
        """Everything queued since the last call (the shell publishes it)."""
        out = list(self.pending)
        self.pending.clear()
        return out
