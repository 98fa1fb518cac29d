"""Idempotent writes of contract events into the store (the sink's core).

Every write is an ``INSERT … ON CONFLICT`` on the event's natural key, with the
dialect's own upsert (SQLite and PostgreSQL both have it), so replaying the
same events leaves exactly the same rows:

* ``SessionEvent`` → ``sessions`` keyed by session_id, only as its owner says
  (streams/ownership.py: the source of the first record owns the session; a record
  from any other source, or from a source not trusted, changes nothing and is
  counted ``skipped``); ``started`` and ``reassigned`` set the session's counselor
  and group, ``ended`` sets ``ended_at`` and only fills gaps, so the records can
  arrive in any order.
* ``AllianceScore`` → ``predictions`` keyed by request_id + model identity, and
  its items; a *newer* score (later ``scored_at``) for the same key replaces the
  older one, an older or identical one changes nothing.
* ``AllianceAlert`` → ``alerts`` keyed by alert_id (alerts are immutable).
* ``AlertAck`` → ``alert_acks`` keyed by (alert_id, by); the first ack time wins.
* ``ChatTurn`` → ``turns`` keyed by (session_id, turn_id), only when enabled.
* ``ClientRating`` → ``ratings`` keyed by rating_id; a new rating of the same
  session and instrument is the next revision (why: store/ratings.py). Not journalled:
  the journal feeds browsers, and a client's answers never reach one.
* ``RuptureEpisode`` → ``rupture_episodes`` keyed by episode_id; a higher
  ``version`` replaces the row, an older or equal one changes nothing (so the
  versions can arrive in any order and twice).
* ``AccessEvent`` → ``access_events`` keyed by event_id, and one
  ``access_event_sessions`` row per session it names (the audit trail). Not
  journalled: the journal feeds browsers, and the audit is for supervisors' queries.
* ``CounselorFeedback`` → ``counselor_feedback`` keyed by feedback_id (immutable, the
  first copy wins); journalled so the after-session page has it after the gateway
  forgot the session (the gate still decides who sees it).

Each stored change also appends to the ``events`` journal (kind + natural key
unique), which is what "events after id N" reads.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from sqlalchemy import Connection, Engine, bindparam, case, delete, func, not_, select

from privacy.events import redact_events
from streams.contracts import (
    DIMENSIONS,
    AccessEvent,
    AlertAck,
    AllianceAlert,
    AllianceScore,
    ChatTurn,
    ClientRating,
    Contract,
    CounselorFeedback,
    RuptureEpisode,
    SessionEvent,
)
from streams.ownership import Owner, judge

from .errors import UnsupportedDatabase
from .models import (
    AccessEventRow,
    AccessEventSession,
    Alert,
    ChatSession,
    CounselorFeedbackRow,
    Event,
    Prediction,
    PredictionItem,
    Rating,
    RuptureEpisodeRow,
    SinkStream,
    Turn,
)
from .models import AlertAck as AckRow


def _insert(conn: Connection, model: type) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model)
    raise UnsupportedDatabase(f"the store supports SQLite and PostgreSQL, not {name}")


_STATEMENTS: dict[tuple[str, str], Any] = {}


def _cached(conn: Connection, name: str, build) -> Any:
    """Upsert statements are built once per dialect (building them costs more than running them)."""
    key = (conn.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class WriteResult:
    """What a batch did, by kind (for logs and tests; never message text)."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, wrote: bool = True) -> None:
        target = self.written if wrote else self.skipped
        target[kind] = target.get(kind, 0) + 1

    def merge(self, other: "WriteResult") -> None:
        for k, v in other.written.items():
            self.written[k] = self.written.get(k, 0) + v
        for k, v in other.skipped.items():
            self.skipped[k] = self.skipped.get(k, 0) + v


@dataclass(frozen=True)
class Origin:
    """Where an event came from: its Kafka record (the gateway's event id)."""

    topic: str
    partition: int
    offset: int
    #: the record's source header (session records: whose word it is, streams/ownership.py)
    source: str | None = None

    @property
    def stream(self) -> str:
        return f"{self.topic}:{self.partition}"


#: the contracts the journal keeps (each one's session_id files it under its session)
Journaled = SessionEvent | AllianceScore | AllianceAlert | AlertAck | RuptureEpisode | CounselorFeedback


def _journal(conn: Connection, kind: str, ref: str, ev: Journaled, at: datetime, origin: Origin | None) -> None:
    stmt = _cached(conn, "journal",
                   lambda: _insert(conn, Event).on_conflict_do_nothing(index_elements=["kind", "ref"]))
    conn.execute(stmt, dict(
        kind=kind, ref=ref, session_id=ev.session_id, at=at,
        stream=origin.stream if origin else None, record_offset=origin.offset if origin else None,
        data=ev.model_dump(mode="json"),
    ))


def record_positions(conn: Connection, origins: list[Origin]) -> None:
    """Remember the first and highest offset stored per stream (see models.SinkStream)."""
    spans: dict[str, tuple[int, int]] = {}
    for o in origins:
        lo, hi = spans.get(o.stream, (o.offset, o.offset))
        spans[o.stream] = (min(lo, o.offset), max(hi, o.offset))
    t = SinkStream.__table__
    for stream, (lo, hi) in sorted(spans.items()):
        stmt = _insert(conn, SinkStream).values(stream=stream, first_offset=lo, high_offset=hi)
        ex = stmt.excluded
        conn.execute(stmt.on_conflict_do_update(index_elements=["stream"], set_=dict(
            first_offset=case((ex.first_offset < t.c.first_offset, ex.first_offset), else_=t.c.first_offset),
            high_offset=case((ex.high_offset > t.c.high_offset, ex.high_offset), else_=t.c.high_offset),
        )))


#: ``sessions.owner_source`` of a session claimed by a record without a source header (NULL: no
#: owner known yet, e.g. a row written before the column existed: its next record claims it)
NO_SOURCE = ""


def session_owner(conn: Connection, session_id: str) -> Owner | None:
    """The session's owner as the store knows it (None: nobody has claimed it)."""
    t = ChatSession.__table__
    row = conn.execute(select(t.c.owner_source, t.c.counselor_id, t.c.group_id)
                       .where(t.c.session_id == session_id)).first()
    if row is None or row.owner_source is None or row.counselor_id is None:
        return None
    return Owner(row.owner_source or None, row.counselor_id, row.group_id)


def write_session_event(conn: Connection, ev: SessionEvent, origin: Origin | None = None,
                        trusted: frozenset[str] = frozenset()) -> bool:
    """Store a session record if its source owns the session (streams/ownership.py); False: it changed nothing."""
    source = origin.source if origin else None
    verdict = judge(session_owner(conn, ev.session_id), ev, source, trusted)
    if verdict.refused is not None or verdict.owner is None:
        return False
    owner = verdict.owner
    t = ChatSession.__table__
    values = dict(
        session_id=ev.session_id, counselor_id=owner.counselor_id, group_id=owner.group, lang=ev.lang,
        planned_minutes=ev.planned_minutes, updated_at=ev.at,
        started_at=ev.at if ev.kind == "started" else None,
        ended_at=ev.at if ev.kind == "ended" else None,
        owner_source=NO_SOURCE if owner.source is None else owner.source,
    )
    stmt = _insert(conn, ChatSession).values(**values)
    ex = stmt.excluded
    latest = case((ex.updated_at > t.c.updated_at, ex.updated_at), else_=t.c.updated_at)
    if ev.kind == "started":  # the owner's started is authoritative for the session's fields
        set_ = dict(counselor_id=ex.counselor_id, group_id=ex.group_id, lang=ex.lang,
                    planned_minutes=ex.planned_minutes, started_at=ex.started_at, updated_at=latest,
                    owner_source=ex.owner_source)
    elif ev.kind == "reassigned":  # a hand-over: the new counselor and group, nothing of the clock
        set_ = dict(counselor_id=ex.counselor_id, group_id=ex.group_id, updated_at=latest,
                    owner_source=ex.owner_source)
    else:  # ended: record the end, fill only what is missing
        set_ = dict(ended_at=ex.ended_at, updated_at=latest,
                    counselor_id=func.coalesce(t.c.counselor_id, ex.counselor_id),
                    group_id=func.coalesce(t.c.group_id, ex.group_id),
                    lang=func.coalesce(t.c.lang, ex.lang),
                    planned_minutes=func.coalesce(t.c.planned_minutes, ex.planned_minutes),
                    owner_source=func.coalesce(t.c.owner_source, ex.owner_source))
    conn.execute(stmt.on_conflict_do_update(index_elements=["session_id"], set_=set_))
    # a hand-over can happen more than once: each is its own journal entry
    ref = f"{ev.session_id}:{ev.kind}" + (f":{ev.at.isoformat()}" if ev.kind == "reassigned" else "")
    _journal(conn, "session", ref, ev, ev.at, origin)
    return True


def model_key(score: AllianceScore) -> dict[str, str]:
    m = score.model
    return dict(model_name=m.name, model_revision=m.revision, prompt_version=m.prompt_version, readout=m.readout)


def write_score(conn: Connection, ev: AllianceScore, origin: Origin | None = None) -> bool:
    """Upsert a prediction and its items; False if a newer version is already stored."""
    t = Prediction.__table__
    key = model_key(ev)
    dims = {d: ev.dimensions.get(d) for d in DIMENSIONS}
    values = dict(
        request_id=ev.request_id, session_id=ev.session_id, counselor_id=ev.counselor_id, phase=ev.phase,
        upto_turn_id=ev.upto_turn_id, **key,
        goal=dims["goal"].score if dims["goal"] else None,
        approach=dims["approach"].score if dims["approach"] else None,
        bond=dims["bond"].score if dims["bond"] else None,
        goal_spread=dims["goal"].spread if dims["goal"] else None,
        approach_spread=dims["approach"].spread if dims["approach"] else None,
        bond_spread=dims["bond"].spread if dims["bond"] else None,
        prompt_tokens=ev.prompt_tokens, cached_tokens=ev.cached_tokens, latency_ms=ev.latency_ms,
        transcript_chars=getattr(ev, "transcript_chars", None), client_turns=getattr(ev, "client_turns", None),
        consistency=getattr(ev, "consistency", None),
        scored_at=ev.scored_at, stored_at=_now(),
    )
    def build_upsert():
        stmt = _insert(conn, Prediction)
        ex = stmt.excluded
        updatable = {k: ex[k] for k in values if k not in ("stored_at", *key, "request_id")}
        return stmt.on_conflict_do_update(index_elements=["request_id", *key], set_=updatable,
                                          where=ex.scored_at > t.c.scored_at)

    conn.execute(_cached(conn, "prediction", build_upsert), values)
    lookup = _cached(conn, "prediction_id", lambda: select(t.c.id, t.c.scored_at).where(
        t.c.request_id == bindparam("k_request_id"), *[t.c[k] == bindparam(f"k_{k}") for k in key]))
    row = conn.execute(lookup, {"k_request_id": ev.request_id, **{f"k_{k}": v for k, v in key.items()}}).one()
    if row.scored_at != ev.scored_at:
        return False  # a newer prediction for this key is stored; keep it
    it = PredictionItem.__table__
    rows = [dict(
        prediction_id=row.id, item_id=item.item_id, item_no=int(item.item_id[1:]),
        dimension=item.dimension, expected=item.expected,
        p1=item.probs[0], p2=item.probs[1], p3=item.probs[2], p4=item.probs[3], p5=item.probs[4],
        rationale=item.rationale, quotes=[q.model_dump() for q in item.quotes],
        samples=list(item.samples) if item.samples else None,
    ) for item in ev.items]
    def build_items():
        istmt = _insert(conn, PredictionItem)
        return istmt.on_conflict_do_update(
            index_elements=["prediction_id", "item_id"],
            set_={k: istmt.excluded[k] for k in rows[0] if k not in ("prediction_id", "item_id")})

    conn.execute(_cached(conn, "items", build_items), rows)  # one executemany for all items
    conn.execute(delete(it).where(it.c.prediction_id == row.id,
                                  not_(it.c.item_id.in_([i.item_id for i in ev.items]))))
    ref = "|".join([ev.request_id, *key.values(), ev.scored_at.isoformat()])
    _journal(conn, "score", ref, ev, ev.scored_at, origin)
    return True


def write_alert(conn: Connection, ev: AllianceAlert, origin: Origin | None = None) -> None:
    stmt = _insert(conn, Alert).values(
        alert_id=ev.alert_id, session_id=ev.session_id, counselor_id=ev.counselor_id,
        dimension=ev.dimension, kind=ev.kind, severity=ev.severity, previous=ev.previous,
        current=ev.current, phase=ev.phase, evidence=[e.model_dump(mode="json") for e in ev.evidence],
        message=ev.message, model=ev.model, validated=ev.validated, created_at=ev.created_at,
        stored_at=_now(),
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["alert_id"]))
    _journal(conn, "alert", ev.alert_id, ev, ev.created_at, origin)


def write_ack(conn: Connection, ev: AlertAck, origin: Origin | None = None) -> None:
    stmt = _insert(conn, AckRow).values(
        alert_id=ev.alert_id, session_id=ev.session_id, by=ev.by, role=ev.role, note=ev.note, at=ev.at,
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["alert_id", "acked_by"]))
    _journal(conn, "ack", f"{ev.alert_id}|{ev.by}", ev, ev.at, origin)


def write_rupture(conn: Connection, ev: RuptureEpisode, origin: Origin | None = None) -> bool:
    """Upsert an episode; False when this or a newer version is already stored."""
    t = RuptureEpisodeRow.__table__
    values = dict(
        episode_id=ev.episode_id, session_id=ev.session_id, counselor_id=ev.counselor_id, version=ev.version,
        kind=ev.kind, status=ev.status, closed=ev.closed, sources=list(ev.sources), phase=ev.phase, lang=ev.lang,
        opened_at=ev.opened_at, opened_turn_id=ev.opened_turn_id, closed_at=ev.closed_at,
        markers=[m.model_dump(mode="json") for m in ev.markers],
        repair_moves=[m.model_dump(mode="json") for m in ev.repair_moves],
        reengaged_turn_id=ev.reengaged_turn_id,
        model_drop=ev.model_drop.model_dump(mode="json") if ev.model_drop else None,
        validated=ev.validated, updated_at=ev.at, stored_at=_now(),
    )

    def build():
        stmt = _insert(conn, RuptureEpisodeRow)
        ex = stmt.excluded
        return stmt.on_conflict_do_update(index_elements=["episode_id"],
                                          set_={k: ex[k] for k in values if k != "episode_id"},
                                          where=ex.version > t.c.version)

    result = conn.execute(_cached(conn, "rupture", build), values)
    _journal(conn, "rupture", f"{ev.episode_id}|v{ev.version}", ev, ev.at, origin)
    return bool(result.rowcount)


def write_feedback(conn: Connection, ev: CounselorFeedback, origin: Origin | None = None) -> bool:
    """Store one feedback record; False if its feedback_id is already stored."""
    row = dict(feedback_id=ev.feedback_id, session_id=ev.session_id, counselor_id=ev.counselor_id, phase=ev.phase,
               turn_id=ev.turn_id, lang=ev.lang, quote=ev.quote, next_move=ev.next_move,
               principles=dict(ev.principles), patterns=dict(ev.patterns), features=dict(ev.features),
               pattern=ev.pattern, pattern_source=ev.pattern_source, principle=ev.principle,
               model_name=ev.model.name, model_revision=ev.model.revision, validated=ev.validated,
               created_at=ev.created_at, stored_at=_now())
    stmt = _cached(conn, "feedback", lambda: _insert(conn, CounselorFeedbackRow).on_conflict_do_nothing(
        index_elements=["feedback_id"]))
    wrote = bool(conn.execute(stmt, row).rowcount)
    _journal(conn, "feedback", ev.feedback_id, ev, ev.created_at, origin)
    return wrote


def write_turn(conn: Connection, ev: ChatTurn) -> None:
    stmt = _insert(conn, Turn).values(
        session_id=ev.session_id, turn_id=ev.turn_id, speaker=ev.speaker, text=ev.text,
        sent_at=ev.sent_at, counselor_id=ev.counselor_id, lang=ev.lang,
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["session_id", "turn_id"]))


def write_rating(conn: Connection, ev: ClientRating) -> bool:
    """Store a rating as the next revision of its session + instrument; False if already stored.

    Ratings of one session share a partition (keyed by session id) and the sink
    writes a partition in order, so "next revision" is well defined; the unique
    (session, instrument, revision) constraint catches anything else.
    """
    t = Rating.__table__  # why revisions, not upserts: store/ratings.py
    if conn.execute(select(t.c.id).where(t.c.rating_id == ev.rating_id)).first() is not None:
        return False
    last = conn.execute(select(func.max(t.c.revision)).where(
        t.c.session_id == ev.session_id, t.c.instrument == ev.instrument)).scalar()
    conn.execute(t.insert().values(
        rating_id=ev.rating_id, session_id=ev.session_id, instrument=ev.instrument,
        instrument_version=ev.instrument_version, revision=(last or 0) + 1, answers=dict(ev.answers),
        lang=ev.lang, source=ev.source, link_id=ev.link_id, submitted_at=ev.submitted_at,
        stored_at=datetime.now(timezone.utc),
    ))
    return True


def write_access(conn: Connection, ev: AccessEvent) -> bool:
    """Store one audit record and the sessions it names; False if its event_id is already stored."""
    row = dict(event_id=ev.event_id, action=ev.action, viewer=ev.viewer, role=ev.role,
               counselor_id=ev.counselor_id, scope=ev.scope, key_id=ev.key_id, token_id=ev.token_id,
               sessions_shown=ev.sessions_shown, part=ev.part, replica=ev.replica, viewed_at=ev.at,
               stored_at=_now())
    stmt = _cached(conn, "access", lambda: _insert(conn, AccessEventRow).on_conflict_do_nothing(
        index_elements=["event_id"]))
    if not conn.execute(stmt, row).rowcount:
        return False
    sessions = sorted(set(ev.session_ids))
    if sessions:
        conn.execute(_cached(conn, "access_sessions", lambda: _insert(conn, AccessEventSession).on_conflict_do_nothing(
            index_elements=["event_id", "session_id"])), [dict(event_id=ev.event_id, session_id=s) for s in sessions])
    return True


def write_event(conn: Connection, ev: Contract, *, store_turns: bool = False,
                origin: Origin | None = None, trusted: frozenset[str] = frozenset()) -> tuple[str, bool]:
    """Write one event; returns (kind, whether anything was stored). ``trusted``: the sources whose
    session records may claim a session (empty: every source; streams/ownership.py)."""
    if isinstance(ev, SessionEvent):
        return "session", write_session_event(conn, ev, origin, trusted)
    if isinstance(ev, AllianceScore):
        return "score", write_score(conn, ev, origin)
    if isinstance(ev, AllianceAlert):
        write_alert(conn, ev, origin)
        return "alert", True
    if isinstance(ev, AlertAck):
        write_ack(conn, ev, origin)
        return "ack", True
    if isinstance(ev, ClientRating):
        return "rating", write_rating(conn, ev)
    if isinstance(ev, RuptureEpisode):
        return "rupture", write_rupture(conn, ev, origin)
    if isinstance(ev, AccessEvent):
        return "access", write_access(conn, ev)
    if isinstance(ev, CounselorFeedback):
        return "feedback", write_feedback(conn, ev, origin)
    if isinstance(ev, ChatTurn):
        if store_turns:
            write_turn(conn, ev)
            return "turn", True
        return "turn", False
    raise TypeError(f"the store does not keep {type(ev).__name__} events")


def write_events(conn: Connection, events: Sequence[Contract], *, store_turns: bool = False,
                 origins: list[Origin] | None = None, trusted: frozenset[str] = frozenset()) -> WriteResult:
    """Write a batch on one connection (the caller owns the transaction)."""
    result = WriteResult()
    for i, ev in enumerate(events):
        kind, wrote = write_event(conn, ev, store_turns=store_turns, origin=origins[i] if origins else None,
                                  trusted=trusted)
        result.add(kind, wrote)
    if origins:
        record_positions(conn, origins)
    return result


def write_in_one_transaction(db: Engine, events: Sequence[Contract], *, redact: bool = True) -> WriteResult:
    """Write ``events`` in one transaction of their own (``score-corpus`` commits one session at a time),
    with their quotes and rationales redacted like the sink's (privacy/)."""
    if redact:
        events, _ = redact_events(events)
    with db.begin() as conn:
        return write_events(conn, events)


def purge_turns(conn: Connection, older_than_days: float, *, now: datetime | None = None) -> int:
    """Delete stored chat turns sent more than ``older_than_days`` ago; returns the count."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be >= 0")
    cutoff = (now or _now()) - timedelta(days=older_than_days)
    t = Turn.__table__
    return conn.execute(delete(t).where(t.c.sent_at < cutoff)).rowcount or 0


__all__ = ["Origin", "record_positions", "WriteResult", "write_event", "write_events", "purge_turns", "model_key", "UnsupportedDatabase"]
