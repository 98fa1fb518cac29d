"""The hub: live state, snapshots, resume, client messages, fan-out for every connection.

Sans-I/O (in the spirit of python-websockets' own design): nothing here reads a
socket, a topic or the clock. The shell (gateway/server.py) feeds consumed
records into :meth:`Hub.apply`, client messages into :meth:`Hub.handle`, and
drains each :class:`Connection`'s ``outbox``. Every decision — who may see what,
what a snapshot contains, whether a reconnect can be served, when a slow client
is cut off — is made here, where a test can check it in microseconds.

The messages themselves are gateway/client_messages.py; who may see what,
gateway/visibility.py; a session's summary and risk, gateway/summary.py.

Audit: every view of sessions (snapshot, resume, subscribe, timeline, and the first live
frame with content of a session a connection was not yet shown) is queued in
:attr:`Hub.access` (gateway/access.py), naming the sessions, for the shell to publish to
``alliance.access``.
"""

from __future__ import annotations

__layer__ = "core"

import itertools
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import orjson

from streams.ownership import Owner, judge_fields
from validation.gate import unvalidated_dimensions

from .access import AccessLog
from .auth import Viewer
from .client_messages import (
    CLOSE_RATE_LIMITED,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_UNAUTHORIZED,
    AckRequest,
    ArchiveRequest,
    Hello,
    dumps,
)
from .connection import Connection
from .history import ArchivedSession, Cursor, EventId, Gap, History, ScopedHistory, StoredEvent
from .policy import Policy
from .summary import SessionState, later_phase, policy_fields
from .visibility import (
    alert_is_gated,
    alert_view,
    counselor_score,
    episode_for_counselor,
    episode_gate,
    episode_is_gated,
    feedback_is_gated,
    sees_session,
)

#: turn-level feedback records kept per session in the live state (the newest).
FEEDBACK_PER_SESSION = 12

#: session owners remembered after their sessions are pruned (a forged record for a forgotten
#: session must not claim it); the oldest are forgotten first past this many.
OWNERS_KEPT = 100_000

#: event kinds that carry session content (scores with item reasons and quotes, alerts with evidence,
#: episodes, turn feedback, ack notes): the first one of a session a connection receives is audited
CONTENT_KINDS: frozenset[str] = frozenset({"score", "alert", "rupture", "feedback", "ack"})

#: tokens whose reconnect bucket is kept before full ones are forgotten (x4 triggers a sweep)
RECONNECT_TOKENS_KEPT = 10_000

#: the key of the all-groups supervisors' one bucket in the subscription index
ALL_GROUPS = object()


class Hub:
    """Live state + fan-out for every connection of one gateway process."""

    def __init__(self, history: History, policy: Policy | None = None, *, replica: str = "local",
                 trusted_sources: frozenset[str] = frozenset()):
        self.history = history
        #: sources whose session records may claim a session (empty: every source); streams/ownership.py
        self.trusted_sources = trusted_sources
        #: who owns each session (kept past :meth:`prune`, bounded by OWNERS_KEPT)
        self.owners: OrderedDict[str, Owner] = OrderedDict()
        #: the history's scope index, when it keeps one (resume in time proportional to the viewer's scope)
        self._scoped: ScopedHistory | None = history if isinstance(history, ScopedHistory) else None
        self.policy = policy or Policy()
        #: views to publish to the audit trail (gateway/access.py); the shell drains it
        self.access = AccessLog(replica)
        self.sessions: dict[str, SessionState] = {}
        self.position: Cursor = {}
        self.connections: dict[int, Connection] = {}
        #: the subscription index (who may see what), kept by :meth:`open` / :meth:`close`:
        #: counselors by counselor_id, supervisors by each of their groups, all-groups
        #: supervisors apart. :meth:`apply` visits only the connections a session's
        #: (counselor, group) selects; the key is the viewer's scope, never a session, so
        #: a session whose owner becomes known later needs no re-indexing.
        self._by_counselor: dict[str, dict[int, Connection]] = {}
        self._by_group: dict[str, dict[int, Connection]] = {}
        self._all_groups: dict[object, dict[int, Connection]] = {}  # one bucket, under ALL_GROUPS
        #: live sessions by owner (counselor, group), kept by :meth:`_update_state` and :meth:`prune`, so a
        #: snapshot for a counselor or a group supervisor visits their sessions, not the organisation's
        self._live_by_counselor: dict[str, dict[str, None]] = {}
        self._live_by_group: dict[str, dict[str, None]] = {}
        self._ids = itertools.count(1)
        #: ``visits``: connections :meth:`apply` looked at (the index keeps it to those in scope);
        #: ``refused_sessions``: session records not from the session's owner (or an untrusted source);
        #: ``resume_scanned``: events resumes looked at (the history's scope index keeps it to the viewer's)
        self.stats = {"events": 0, "duplicates": 0, "cut_slow": 0, "frames": 0, "resumed": 0, "gaps": 0,
                      "visits": 0, "refused_sessions": 0, "reconnects_refused": 0,
                      "resume_scanned": 0}
        #: per token: connections left in its reconnect bucket and when it was last refilled
        self._reconnects: dict[str, tuple[float, float]] = {}
        #: the shell can read sessions this hub forgot from the store (``timeline`` → ArchiveRequest)
        self.archive_enabled = False

    # -- connections -----------------------------------------------------------------
    def open(self, hello: Hello, server_time: float) -> Connection:
        """Register a connection and queue its welcome and snapshot (or resume) in one step.

        No await happens between building the snapshot and registering the
        connection, so no event can fall between the two.
        """
        conn = Connection(id=next(self._ids), viewer=hello.viewer)
        tid = hello.viewer.token_id
        if tid and sum(1 for c in self.connections.values()
                       if c.viewer.token_id == tid and not c.closing) >= self.policy.max_connections_per_token:
            conn.close(CLOSE_RATE_LIMITED, f"too many connections for this token "
                                           f"(at most {self.policy.max_connections_per_token})")
            return conn
        wait = self._reconnect_wait(tid, server_time)
        if wait > 0:
            conn.close(CLOSE_RATE_LIMITED, f"reconnecting too often with this token; wait {wait:.0f} s")
            return conn
        self.connections[conn.id] = conn
        self._index(conn)
        conn.backlog.append(dumps({"type": "welcome", "viewer": hello.viewer.as_dict(), "server_time": server_time,
                                   "max_queue": self.policy.max_queue}))
        if hello.resume is None:
            self._push_snapshot(conn)
            return conn
        if not hello.resume:  # "I have seen nothing": the snapshot is the whole answer, and the cheapest
            self.stats["gaps"] += 1
            conn.backlog.append(dumps({"type": "gap", "reason": "no position to resume from; "
                                                               "here is a fresh snapshot"}))
            self._push_snapshot(conn)
            return conn
        missed = self._missed(conn.viewer, hello.resume)
        if isinstance(missed, Gap):
            self.stats["gaps"] += 1
            conn.backlog.append(dumps({"type": "gap", "reason": missed.reason}))
            self._push_snapshot(conn)
            return conn
        limit = self.policy.max_resume
        picked: list[StoredEvent] = []
        self.stats["resume_scanned"] += len(missed)
        for event in missed:  # visibility only (cheap); encoding happens in render()
            if event.id.offset <= hello.resume.get(event.id.stream, -1) or not self._visible(conn, event):
                continue
            picked.append(event)
            if len(picked) > limit:
                self.stats["gaps"] += 1
                conn.backlog.append(dumps({"type": "gap", "reason": f"more than {limit} events since your cursor; "
                                                                   "here is a fresh snapshot"}))
                self._push_snapshot(conn)
                return conn
        self.stats["resumed"] += 1
        shown = sorted({e.session_id for e in picked})
        self.access.record(conn.id, "resume", conn.viewer, tuple(shown), sessions_shown=len(shown))
        conn.audited.update(shown)
        conn.cursor = dict(hello.resume)
        conn.backlog.append(dumps({"type": "resumed", "missed": len(picked)}))
        for event in picked:
            conn.backlog.append(event)
            conn.cursor[event.id.stream] = event.id.offset
            conn.sent_events += 1
        # everything up to the gateway's position has now been considered
        for stream, offset in self.position.items():
            conn.cursor[stream] = max(conn.cursor.get(stream, -1), offset)
        conn.backlog.append(dumps({"type": "position", "cursor": conn.cursor}))
        return conn

    def _missed(self, viewer: Viewer, cursor: Cursor) -> list[StoredEvent] | Gap:
        """The events after ``cursor`` this viewer's scope may hold: from the scope index when the history
        keeps one (gateway/history.py, ScopedHistory), else every event (the hub filters them)."""
        scoped = self._scoped
        if scoped is None:
            return self.history.since(cursor)
        counselor = viewer.role == "counselor"
        if counselor and viewer.counselor_id is None:
            return []
        return scoped.since_for(cursor, viewer.counselor_id if counselor else None,
                                      () if counselor else viewer.groups, viewer.all_groups and not counselor,
                                      self.policy.max_resume)

    def _reconnect_wait(self, token_id: str, now: float) -> float:
        """Seconds this token must wait before another connection (0: it may connect now).

        A token bucket per token: ``reconnect_burst`` connections at once, refilled at
        ``reconnect_rate`` per second. Why: every connect costs a snapshot or a resume;
        one token reconnecting in a loop held the loop for the whole organisation.
        """
        p = self.policy
        if not token_id or p.reconnect_rate <= 0:
            return 0.0
        tokens, at = self._reconnects.get(token_id, (float(p.reconnect_burst), now))
        tokens = min(float(p.reconnect_burst), tokens + max(0.0, now - at) * p.reconnect_rate)
        if tokens < 1.0:
            self._reconnects[token_id] = (tokens, now)
            self.stats["reconnects_refused"] += 1
            return max(1.0, (1.0 - tokens) / p.reconnect_rate)
        self._reconnects[token_id] = (tokens - 1.0, now)
        if len(self._reconnects) > 4 * RECONNECT_TOKENS_KEPT:  # forget tokens that are full again
            full = p.reconnect_burst / p.reconnect_rate
            self._reconnects = {t: v for t, v in self._reconnects.items() if now - v[1] < full}
        return 0.0

    def render(self, conn: Connection, item: str | StoredEvent) -> str:
        """The frame for a backlog item: control frames are ready, missed events are encoded now."""
        if isinstance(item, str):
            return item
        return self._encode(item, conn.viewer) or ""

    def _room(self) -> int:
        # control frames at connect time may exceed a tiny max_queue; never cut a fresh client for them
        return max(self.policy.max_queue, 4)

    def close(self, conn: Connection) -> None:
        if self.connections.pop(conn.id, None) is not None:
            self._unindex(conn)

    def _scope_keys(self, viewer: Viewer) -> list[tuple[dict[Any, dict[int, Connection]], Any]]:
        """The (index, key) pairs of the buckets a viewer belongs in (mirrors :func:`sees_session`)."""
        if viewer.role == "counselor":
            return [] if viewer.counselor_id is None else [(self._by_counselor, viewer.counselor_id)]  # none: no session
        if viewer.all_groups:
            return [(self._all_groups, ALL_GROUPS)]
        return [(self._by_group, g) for g in viewer.groups]

    def _index(self, conn: Connection) -> None:
        for index, key in self._scope_keys(conn.viewer):
            index.setdefault(key, {})[conn.id] = conn

    def _unindex(self, conn: Connection) -> None:
        for index, key in self._scope_keys(conn.viewer):
            bucket = index.get(key)
            if bucket is not None:
                bucket.pop(conn.id, None)
                if not bucket:
                    del index[key]  # no empty buckets left behind by short-lived viewers

    def audience(self, session_id: str, data: dict[str, Any] | None = None) -> list[Connection]:
        """The connections that may see a session: those whose scope covers its counselor or group.

        The owner comes from the live state, else from the event (``data``), exactly as
        :meth:`_visible` decides; a session whose owner is unknown reaches only the
        all-groups supervisors. The per-kind gate for counselors is left to :meth:`_visible`.
        """
        state = self.sessions.get(session_id)
        data = data or {}
        counselor_id = state.counselor_id if state else data.get("counselor_id")
        group = state.group if state else data.get("group")
        out = list(self._all_groups.get(ALL_GROUPS, {}).values())
        if counselor_id is not None and counselor_id in self._by_counselor:
            out.extend(self._by_counselor[counselor_id].values())
        if group is not None and group in self._by_group:
            out.extend(self._by_group[group].values())
        return out

    def _push_snapshot(self, conn: Connection) -> None:
        viewer = conn.viewer
        counselor = viewer.role == "counselor"
        shared = policy_fields(self.policy, counselor)  # once per snapshot, not per session
        sessions = [s.summary(self.policy, counselor, shared) for s in self._sessions_in_scope(viewer)]
        sessions.sort(key=lambda s: -s["risk"])
        ids = tuple(s["session_id"] for s in sessions)
        self.access.record(conn.id, "board", viewer, ids, sessions_shown=len(ids))
        conn.audited.update(ids)
        conn.cursor = dict(self.position)
        conn.backlog.append(dumps({"type": "snapshot", "sessions": sessions, "cursor": conn.cursor}))

    # -- events ---------------------------------------------------------------------
    def apply(self, event: StoredEvent, now: float, wall: float | None = None) -> list[Connection]:
        """Take one consumed event: update state and history, fan out; return touched connections.

        ``now`` is the shell's (monotonic) clock; ``wall`` the wall clock in epoch
        seconds, used to date the event by its own time (see :func:`event_age`).
        """
        stream, offset = event.id.stream, event.id.offset
        if offset <= self.position.get(stream, -1):
            self.stats["duplicates"] += 1  # re-delivered record (at-least-once): already applied
            return []
        self.position[stream] = offset
        if event.kind == "session" and not self._owned_by_its_source(event):
            self.stats["refused_sessions"] += 1  # changes nothing: no state, no history, no frame
            return []
        self.stats["events"] += 1
        self._update_state(event, now - event_age(event, wall))
        self.history.append(event)
        if self._scoped is not None:
            state = self.sessions[event.session_id]
            self._scoped.assign(event.session_id, state.counselor_id, state.group)
        touched = []
        live: list[Connection] = []  # connections shown this session's content for the first time
        cache: dict[bool, str | None] = {}
        audience = self.audience(event.session_id, event.data)
        self.stats["visits"] += len(audience)
        for conn in audience:
            if conn.closing:
                continue
            counselor = conn.viewer.role == "counselor"
            if counselor not in cache:
                cache[counselor] = self._encode(event, conn.viewer)
            frame = cache[counselor]
            if frame is None or not self._visible(conn, event):
                continue
            if conn.focus is not None and event.session_id not in conn.focus:
                conn.cursor[stream] = max(conn.cursor.get(stream, -1), offset)
                continue
            if self._deliver(conn, event, frame):
                touched.append(conn)
                if event.kind in CONTENT_KINDS and event.session_id not in conn.audited:
                    live.append(conn)
            elif conn.closing:
                self.stats["cut_slow"] += 1
                touched.append(conn)
        for conn in live:  # once per connection and session, not per frame
            conn.audited.add(event.session_id)
            self.access.record(conn.id, "live", conn.viewer, (event.session_id,))
        return touched

    def _owned_by_its_source(self, event: StoredEvent) -> bool:
        """Is this session record its owner's word (streams/ownership.py)? Remembers a new owner."""
        data = event.data
        verdict = judge_fields(self.owners.get(event.session_id), str(data.get("kind")), event.session_id,
                               str(data.get("counselor_id")), data.get("group"), event.source, self.trusted_sources)
        if verdict.refused is not None or verdict.owner is None:
            return False
        self.owners[event.session_id] = verdict.owner
        self.owners.move_to_end(event.session_id)
        while len(self.owners) > OWNERS_KEPT:
            self.owners.popitem(last=False)
        return True

    def _deliver(self, conn: Connection, event: StoredEvent, frame: str) -> bool:
        stream, offset = event.id.stream, event.id.offset
        if offset <= conn.cursor.get(stream, -1):
            return False  # the client has it already (e.g. from another replica)
        if not conn.push(frame, self.policy.max_queue):
            return False
        conn.cursor[stream] = offset
        conn.sent_events += 1
        self.stats["frames"] += 1
        return True

    def _visible(self, conn: Connection, event: StoredEvent) -> bool:
        state = self.sessions.get(event.session_id)
        counselor_id = state.counselor_id if state else event.data.get("counselor_id")
        group = state.group if state else event.data.get("group")
        if not sees_session(conn.viewer, counselor_id, group):
            return False
        if conn.viewer.role != "counselor":
            return True
        return self._passes_gate(event, lambda alert_id: (
            state is not None and (alert := state.alerts.get(alert_id)) is not None
            and not alert_is_gated(alert, self.policy)))

    def _passes_gate(self, event: StoredEvent, alert_shown: Callable[[str], bool]) -> bool:
        """May a counselor see this event of a session in scope? The validation gate per kind: model
        outputs only when validated; an ack only with its alert (``alert_shown(alert_id)``)."""
        if event.kind == "alert":
            return not alert_is_gated(event.data, self.policy)
        if event.kind == "rupture":
            return not episode_is_gated(event.data, self.policy)
        if event.kind == "feedback":
            return not feedback_is_gated(event.data, self.policy)
        if event.kind == "ack":
            return alert_shown(event.data.get("alert_id", ""))
        return True

    def _encode(self, event: StoredEvent, viewer: Viewer) -> str | None:
        state = self.sessions.get(event.session_id)
        counselor = viewer.role == "counselor"
        summary = state.summary(self.policy, counselor) if state else None
        return dumps({"type": "event", "id": str(event.id), "kind": event.kind, "session_id": event.session_id,
                      "data": self._data_for(event, counselor), "summary": summary})

    def _data_for(self, event: StoredEvent, counselor: bool) -> dict[str, Any]:
        """The event's payload as this audience may see it: alerts with their ``gate`` label, scores gated,
        and a counselor's rupture episode leaves out an unvalidated model drop."""
        if event.kind == "alert":
            return alert_view(event.data, self.policy)
        if event.kind == "rupture":
            view = {**event.data, "gate": episode_gate(event.data, self.policy)}
            return episode_for_counselor(view, self.policy) if counselor else view
        if not counselor or event.kind != "score" or self.policy.unvalidated_to_counselors:
            return event.data
        state = self.sessions.get(event.session_id)
        model = event.data.get("model") or None
        if state is not None and state.model_identity == model:
            withheld = state.withheld(self.policy)
        else:  # an older score of another model (resume, timeline): decide for its own model
            withheld = unvalidated_dimensions(self.policy.record_book, model)
        return counselor_score(event.data, withheld)

    def _update_state(self, event: StoredEvent, seen: float) -> None:
        """``seen``: when the event happened, on the shell's clock (not when it was consumed)."""
        state = self.sessions.get(event.session_id)
        if state is None:
            state = self.sessions[event.session_id] = SessionState(event.session_id, last_seen=seen)
        owner = (state.counselor_id, state.group)
        self._update_fields(state, event, seen)
        if (state.counselor_id, state.group) != owner:
            self._reindex_owner(event.session_id, owner, (state.counselor_id, state.group))

    def _reindex_owner(self, session_id: str, old: tuple[str | None, str | None],
                       new: tuple[str | None, str | None]) -> None:
        for index, before, after in ((self._live_by_counselor, old[0], new[0]), (self._live_by_group, old[1], new[1])):
            if before == after:
                continue
            if before is not None and before in index:
                index[before].pop(session_id, None)
                if not index[before]:
                    del index[before]
            if after is not None:
                index.setdefault(after, {})[session_id] = None

    def _sessions_in_scope(self, viewer: Viewer) -> list[SessionState]:
        """The live sessions this viewer may see: from the owner index, except for all-groups supervisors."""
        if viewer.role == "supervisor" and viewer.all_groups:
            return list(self.sessions.values())
        if viewer.role == "counselor":
            ids: dict[str, None] = dict(self._live_by_counselor.get(viewer.counselor_id or "", {}))
        else:
            ids = {}
            for group in sorted(viewer.groups):
                ids.update(self._live_by_group.get(group, {}))
        states = [self.sessions[sid] for sid in ids if sid in self.sessions]
        return [st for st in states if sees_session(viewer, st.counselor_id, st.group)]

    def _update_fields(self, state: SessionState, event: StoredEvent, seen: float) -> None:
        data = event.data
        state.last_seen = max(state.last_seen, seen)
        if data.get("counselor_id") and state.counselor_id is None:
            state.counselor_id = data["counselor_id"]
        if event.kind == "session":
            owner = self.owners.get(event.session_id)  # set by _owned_by_its_source for this very record
            if data.get("kind") != "ended" and owner is not None:  # ended never re-assigns
                state.counselor_id, state.group = owner.counselor_id, owner.group
                state.lang = data.get("lang") or state.lang
            elif state.counselor_id is None and owner is not None:
                state.counselor_id, state.group = owner.counselor_id, owner.group
            if data.get("kind") == "started":
                state.started_at = data.get("at")
                state.planned_minutes = data.get("planned_minutes")
                state.phase = state.phase or "early"
            elif data.get("kind") == "ended":
                state.ended_at = data.get("at")
                state.ended_seen = seen
        elif event.kind == "score":
            dims = data.get("dimensions") or {}
            state.scores[data["phase"]] = {d: round(float(v["score"]), 3) for d, v in dims.items()}
            state.model = (data.get("model") or {}).get("name")
            if (data.get("model") or None) != state.model_identity:
                state.model_identity = data.get("model") or None
                state._validated = None
            state.phase = later_phase(state.phase, data.get("phase"))
        elif event.kind == "signal":
            state.signal = {k: v for k, v in data.items() if k not in ("session_id", "counselor_id")}
            state.phase = later_phase(state.phase, data.get("phase"))
        elif event.kind == "alert":
            state.alerts[data["alert_id"]] = alert_view(data, self.policy)
            state.alerts.move_to_end(data["alert_id"])
            while len(state.alerts) > self.policy.alerts_per_session:
                state.alerts.popitem(last=False)
        elif event.kind == "rupture":
            known = state.ruptures.get(data["episode_id"])
            if known is None or data.get("version", 0) > known.get("version", 0):
                state.ruptures[data["episode_id"]] = data  # versions may arrive twice or out of order
            while len(state.ruptures) > self.policy.alerts_per_session:
                state.ruptures.popitem(last=False)
        elif event.kind == "feedback":
            state.feedback[data["feedback_id"]] = data
            state.feedback.move_to_end(data["feedback_id"])
            while len(state.feedback) > FEEDBACK_PER_SESSION:
                state.feedback.popitem(last=False)
        elif event.kind == "ack":
            acks = state.acks.setdefault(data["alert_id"], [])
            acks.append({"by": data.get("by"), "role": data.get("role"), "at": data.get("at"),
                         "note": data.get("note"), "id": str(event.id)})

    # -- client messages ------------------------------------------------------------
    def _allowed(self, conn: Connection, now: float) -> bool:
        """Token bucket: ``msg_rate`` per second, bursts of ``msg_burst``."""
        p = self.policy
        if conn.tokens is None:
            conn.tokens, conn.refilled_at = float(p.msg_burst), now
        conn.tokens = min(float(p.msg_burst), conn.tokens + max(0.0, now - conn.refilled_at) * p.msg_rate)
        conn.refilled_at = now
        if conn.tokens >= 1.0:
            conn.tokens -= 1.0
            return True
        conn.refused += 1
        if conn.refused > p.msg_burst:
            conn.outbox.clear()
            conn.backlog.clear()
            conn.close(CLOSE_RATE_LIMITED, f"too many messages (more than {p.msg_rate:g}/s); slow down and reconnect")
        else:
            self._error(conn, "rate_limited", f"more than {p.msg_rate:g} messages per second; this one was ignored")
        return False

    def handle(self, conn: Connection, raw: str | bytes, now: float | None = None
               ) -> Sequence[AckRequest | ArchiveRequest]:
        """A message from an authenticated client; replies go to its outbox.

        ``now`` (the shell's clock) enables the per-connection rate limit.
        """
        if conn.closing or (now is not None and not self._allowed(conn, now)):
            return []
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._error(conn, "bad_message", "messages must be JSON objects")
            return []
        if not isinstance(msg, dict):
            self._error(conn, "bad_message", "messages must be JSON objects")
            return []
        kind = msg.get("type")
        if kind == "ping":
            conn.push(dumps({"type": "pong", "ref": msg.get("ref")}), self._room())
        elif kind == "subscribe":
            self._subscribe(conn, msg.get("sessions"))
        elif kind == "timeline":
            return self._timeline(conn, msg.get("session_id"))
        elif kind == "ack":
            return self._ack(conn, msg)
        elif kind == "hello":
            self._error(conn, "bad_message", "already authenticated")
        else:
            self._error(conn, "bad_message", f"unknown message type {str(kind)[:40]!r}")
        return []

    def _error(self, conn: Connection, code: str, message: str, **extra: Any) -> None:
        conn.push(dumps({"type": "error", "code": code, "message": message, **extra}), self._room())

    def can_see_session(self, viewer: Viewer, session_id: str) -> bool:
        state = self.sessions.get(session_id)
        return state is not None and sees_session(viewer, state.counselor_id, state.group)

    def _subscribe(self, conn: Connection, sessions: object) -> None:
        if sessions is None:
            if conn.focus is not None:  # back to the whole board: every session in scope is shown again
                ids = tuple(s.session_id for s in self._sessions_in_scope(conn.viewer))
                self.access.record(conn.id, "board", conn.viewer, ids, sessions_shown=len(ids))
                conn.audited.update(ids)
            conn.focus = None
            conn.push(dumps({"type": "subscribed", "sessions": None}), self._room())
            return
        if not isinstance(sessions, list) or not all(isinstance(s, str) for s in sessions) or len(sessions) > 1000:
            self._error(conn, "bad_message", "subscribe takes {\"sessions\": [session ids] | null}")
            return
        refused = [s for s in sessions if not self.can_see_session(conn.viewer, s)]
        if refused:
            # Same answer for "someone else's" and "unknown": no probing for session ids.
            self._error(conn, "forbidden", "not visible to you: " + ", ".join(refused[:10]), sessions=refused)
            return
        added = tuple(sorted(set(sessions) - (conn.focus or set())))
        if added:  # a repeated subscribe shows nothing new: no second record
            self.access.record(conn.id, "subscribe", conn.viewer, added)
        conn.focus = set(sessions)
        conn.push(dumps({"type": "subscribed", "sessions": sorted(conn.focus)}), self._room())

    def _timeline(self, conn: Connection, session_id: object) -> list[ArchiveRequest]:
        if isinstance(session_id, str) and session_id not in self.sessions and self.archive_enabled \
                and 0 < len(session_id) <= 128:
            return [ArchiveRequest(conn.id, session_id)]  # forgotten here; the store may have it
        if not isinstance(session_id, str) or not self.can_see_session(conn.viewer, session_id):
            self._error(conn, "forbidden", f"not visible to you: {str(session_id)[:128]}")
            return []
        self._answer_timeline(conn, session_id, [e for e in self.history.session_timeline(session_id)
                                                 if self._visible(conn, e)])
        return []

    def _answer_timeline(self, conn: Connection, session_id: str, events: list[StoredEvent], **extra: Any) -> None:
        """Send the visible events of one session as a ``timeline`` and record the view (the audit)."""
        counselor = conn.viewer.role == "counselor"
        shown = [{"id": str(e.id), "kind": e.kind, "data": self._data_for(e, counselor)} for e in events]
        self.access.record(conn.id, "timeline", conn.viewer, (session_id,))
        conn.push(dumps({"type": "timeline", "session_id": session_id, "events": shown, **extra}), self._room())

    def archived_timeline(self, conn: Connection, session_id: str, archived: ArchivedSession | None) -> None:
        """Answer a ``timeline`` from the store's copy of a session (``None``: the store does not know it).

        The same rules as live: the viewer's scope on the session's counselor and group
        (an unknown session gets the same answer as someone else's: no probing), the
        validation gate per event for a counselor, an ack only with its visible alert.
        """
        if conn.closing:
            return
        if archived is None or not sees_session(conn.viewer, archived.counselor_id, archived.group):
            self._error(conn, "forbidden", f"not visible to you: {session_id[:128]}")
            return
        events = archived.events
        if conn.viewer.role == "counselor":
            shown_alerts = {e.data.get("alert_id") for e in events
                            if e.kind == "alert" and self._passes_gate(e, lambda _: False)}
            events = [e for e in events if self._passes_gate(e, shown_alerts.__contains__)]
        self._answer_timeline(conn, session_id, events, archived=True)

    def _ack(self, conn: Connection, msg: dict[str, Any]) -> list[AckRequest]:
        alert_id, note = msg.get("alert_id"), msg.get("note")
        if note is not None and (not isinstance(note, str) or len(note) > 280):
            self._error(conn, "bad_message", "note must be a string of at most 280 characters")
            return []
        for state in self.sessions.values():
            alert = state.alerts.get(alert_id) if isinstance(alert_id, str) else None
            if alert is None or not isinstance(alert_id, str):
                continue
            event = StoredEvent(EventId("ack", 0), "alert", state.session_id, alert)
            if not self._visible(conn, event):
                break
            conn.push(dumps({"type": "ack_sent", "alert_id": alert_id}), self._room())
            if any(a.get("by") == conn.viewer.name for a in state.acks.get(alert_id, ())):
                return []  # already acked by this person: no second record (bounds the acks topic)
            return [AckRequest(alert_id, state.session_id, conn.viewer.name, conn.viewer.role, note or None)]
        self._error(conn, "forbidden", f"no alert {str(alert_id)[:128]} visible to you")
        return []

    # -- housekeeping ---------------------------------------------------------------
    def heartbeat(self) -> list[Connection]:
        """Tell every client the gateway's position so its cursor stays current."""
        touched = []
        for conn in self.connections.values():
            if conn.closing:
                continue
            for stream, offset in self.position.items():
                conn.cursor[stream] = max(conn.cursor.get(stream, -1), offset)
            if conn.push(dumps({"type": "position", "cursor": conn.cursor}), self.policy.max_queue) or conn.closing:
                touched.append(conn)
        return touched

    def expire_tokens(self, now: float) -> list[Connection]:
        touched = []
        for conn in self.connections.values():
            if not conn.closing and conn.viewer.expires_at and now >= conn.viewer.expires_at:
                conn.outbox.clear()
                conn.backlog.clear()
                conn.close(CLOSE_TOKEN_EXPIRED, "token expired; get a new token and reconnect")
                touched.append(conn)
        return touched

    def revoke(self, token_ids: frozenset[str]) -> list[Connection]:
        """Close every connection whose token was revoked since it connected."""
        touched = []
        for conn in self.connections.values():
            if not conn.closing and conn.viewer.token_id and conn.viewer.token_id in token_ids:
                conn.outbox.clear()
                conn.backlog.clear()
                conn.close(CLOSE_UNAUTHORIZED, "token revoked")
                touched.append(conn)
        return touched

    def prune(self, now: float) -> list[str]:
        """Forget ended and stale sessions (their history stays in History)."""
        gone = [sid for sid, s in self.sessions.items()
                if (s.ended_seen is not None and now - s.ended_seen > self.policy.ended_keep_s)
                or now - s.last_seen > self.policy.stale_after_s]
        for sid in gone:
            state = self.sessions.pop(sid)
            self._reindex_owner(sid, (state.counselor_id, state.group), (None, None))
        return gone


#: the time field of each event kind's payload
_TIME_FIELDS = ("at", "scored_at", "created_at")
_MAX_AGE_S = 366 * 86400.0


def event_age(event: StoredEvent, wall: float | None) -> float:
    """Seconds between the event's own time and ``wall`` (0 when unknown or in the future).

    Why: a restarted gateway re-reads 30 days of records within seconds. Dating a
    session by *consume* time made every session of the last month look active for
    another ``stale_after_s``; dating it by event time lets :meth:`Hub.prune` drop
    the dead ones at once.
    """
    if wall is None:
        return 0.0
    for name in _TIME_FIELDS:
        raw = event.data.get(name)
        if isinstance(raw, str):
            try:
                at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                continue
            if at.tzinfo is None:
                at = at.replace(tzinfo=timezone.utc)
            return min(max(0.0, wall - at.timestamp()), _MAX_AGE_S)
    return 0.0
