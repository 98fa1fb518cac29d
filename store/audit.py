"""Reading the audit trail: who viewed which session, for a supervisor's question.

The sink writes ``access_events`` (one row per view) and ``access_event_sessions``
(the sessions a view named) from ``alliance.access`` (store/writes.py). This
module answers "who opened session X", "what did viewer Y look at", "everything
since Monday", newest first up to a limit. It returns ids, names and times:
the trail holds no chat text and no scores.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, exists, select

from .models import AccessEventRow, AccessEventSession

#: rows ``audit`` prints unless told otherwise.
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class AccessView:
    """One stored view, with the sessions it named."""

    event_id: str
    viewed_at: datetime
    viewer: str
    role: str
    action: str
    session_ids: tuple[str, ...]
    sessions_shown: int
    counselor_id: str | None
    scope: str
    key_id: str | None
    token_id: str | None
    part: str
    replica: str | None

    def as_dict(self) -> dict:
        return {"event_id": self.event_id, "viewed_at": self.viewed_at.isoformat(), "viewer": self.viewer,
                "role": self.role, "action": self.action, "session_ids": list(self.session_ids),
                "sessions_shown": self.sessions_shown, "counselor_id": self.counselor_id, "scope": self.scope,
                "key_id": self.key_id, "token_id": self.token_id, "part": self.part, "replica": self.replica}


def query_access(engine: Engine, *, session: str | None = None, viewer: str | None = None,
                 since: datetime | None = None, action: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> list[AccessView]:
    """The newest ``limit`` views matching every filter given, returned oldest first.

    ``session`` matches views that named the session (``timeline``, ``subscribe``);
    ``board`` and ``resume`` views name no session (they record how many were shown).
    """
    a, s = AccessEventRow.__table__, AccessEventSession.__table__
    q = select(a)
    if session is not None:
        q = q.where(exists().where(s.c.event_id == a.c.event_id, s.c.session_id == session))
    if viewer is not None:
        q = q.where(a.c.viewer == viewer)
    if since is not None:
        q = q.where(a.c.viewed_at >= since)
    if action is not None:
        q = q.where(a.c.action == action)
    q = q.order_by(a.c.viewed_at.desc(), a.c.event_id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
        named: dict[str, list[str]] = {}
        ids = [r["event_id"] for r in rows]
        for i in range(0, len(ids), 500):  # bounded IN lists
            for eid, sid in conn.execute(select(s.c.event_id, s.c.session_id)
                                         .where(s.c.event_id.in_(ids[i:i + 500])).order_by(s.c.session_id)):
                named.setdefault(eid, []).append(sid)
    return [AccessView(event_id=r["event_id"], viewed_at=r["viewed_at"], viewer=r["viewer"], role=r["role"],
                       action=r["action"], session_ids=tuple(named.get(r["event_id"], ())),
                       sessions_shown=r["sessions_shown"], counselor_id=r["counselor_id"], scope=r["scope"],
                       key_id=r["key_id"], token_id=r["token_id"], part=r["part"], replica=r["replica"])
            for r in reversed(rows)]
