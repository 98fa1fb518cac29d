"""Reads from the store: history for the gateway, rows for analytics.

One small class, :class:`StoreRepository`, with no Kafka or web imports. The
gateway-facing reads mirror ``gateway.history.History`` (``since``,
``session_timeline``, ``alerts``) over the ``events`` journal; the adapter that
returns the gateway's own types is :mod:`store.history`. The domain reads
(``phase_timeline``, ``alerts_with_acks``) return the rows behind a drill-down.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from streams.contracts import DIMENSIONS, PHASES

from .models import Alert, AlertAck, ChatSession, CounselorFeedbackRow, Event, Prediction, ValidationRecordRow

if TYPE_CHECKING:
    from streams.contracts import ModelIdentity
    from validation.records import ValidationRecord


@dataclass(frozen=True)
class ModelKey:
    """A model identity as predictions are keyed (validation records use it too, docs/validation.md)."""

    name: str
    revision: str = "local"
    prompt_version: str = "v1"
    readout: str = "expected"

    def __str__(self) -> str:
        return f"{self.name}@{self.revision} prompt={self.prompt_version} readout={self.readout}"

    @classmethod
    def parse(cls, text: str) -> "ModelKey":
        """``name[@revision][:prompt_version][/readout]``, e.g. ``smollm2@local:v1/expected``."""
        rest, _, readout = text.partition("/")
        rest, _, prompt = rest.partition(":")
        name, _, revision = rest.partition("@")
        if not name:
            raise ValueError(f"not a model identity: {text!r} (expected name[@revision][:prompt][/readout])")
        return cls(name, revision or "local", prompt or "v1", readout or "expected")

    def matches(self, p: Prediction) -> bool:
        return (p.model_name, p.model_revision, p.prompt_version, p.readout) == (
            self.name, self.revision, self.prompt_version, self.readout)


@dataclass(frozen=True)
class PhasePoint:
    """One phase of a session's timeline: dimension scores and item details."""

    phase: str
    model: ModelKey
    upto_turn_id: int
    scored_at: datetime
    dimensions: dict[str, float | None]
    items: list[dict]


@dataclass(frozen=True)
class AlertView:
    alert: dict
    acks: list[dict]


@dataclass(frozen=True)
class PredictionRecord:
    """A prediction flattened for analytics (no text)."""

    session_id: str
    counselor_id: str | None
    phase: str
    dimensions: dict[str, float | None]
    items: dict[str, float]
    samples: dict[str, list[int]]
    upto_turn_id: int
    prompt_tokens: int
    transcript_chars: int | None = None
    client_turns: int | None = None
    #: the scorer's own agreement across samples (sampled read-out), if it sent one.
    consistency: dict | None = None


#: the journal kinds a session's look-back needs (the gateway's timeline kinds)
JOURNAL_TIMELINE_KINDS: tuple[str, ...] = ("session", "score", "alert", "ack", "rupture", "feedback")


@dataclass(frozen=True)
class JournalEntry:
    """One ``events`` row: the stored event as JSON and the Kafka record it came from (if any)."""

    seq: int
    kind: str
    stream: str | None  # "<topic>:<partition>"
    record_offset: int | None
    data: dict


@dataclass(frozen=True)
class SessionJournal:
    """A stored session's owner (for the viewer's scope) and its journal entries, oldest first."""

    session_id: str
    counselor_id: str | None
    group: str | None
    entries: list[JournalEntry]


class StoreRepository:
    def __init__(self, engine: Engine):
        self.engine = engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- sessions, timelines, alerts ------------------------------------------------------------
    def session(self, session_id: str) -> ChatSession | None:
        with self._session() as s:
            return s.get(ChatSession, session_id)

    def sessions(self, *, counselor_id: str | None = None, group_id: str | None = None,
                 limit: int = 1000) -> list[ChatSession]:
        q = select(ChatSession)
        if counselor_id is not None:
            q = q.where(ChatSession.counselor_id == counselor_id)
        if group_id is not None:
            q = q.where(ChatSession.group_id == group_id)
        with self._session() as s:
            return list(s.scalars(q.order_by(ChatSession.started_at.desc()).limit(limit)))

    def phase_timeline(self, session_id: str, model: ModelKey | None = None) -> list[PhasePoint]:
        """Scores per phase (early → late) with items, rationales and quotes.

        With several models in the store and no ``model`` given, the most recent
        prediction per phase wins.
        """
        q = (select(Prediction).where(Prediction.session_id == session_id)
             .options(selectinload(Prediction.items)).order_by(Prediction.scored_at))
        with self._session() as s:
            preds = [p for p in s.scalars(q) if model is None or model.matches(p)]
        latest: dict[str, Prediction] = {}
        for pred in preds:
            latest[pred.phase] = pred
        out = []
        for phase in PHASES:
            p = latest.get(phase)
            if p is None:
                continue
            out.append(PhasePoint(
                phase=phase,
                model=ModelKey(p.model_name, p.model_revision, p.prompt_version, p.readout),
                upto_turn_id=p.upto_turn_id, scored_at=p.scored_at,
                dimensions={d: getattr(p, d) for d in DIMENSIONS},
                items=[dict(item_id=i.item_id, dimension=i.dimension, expected=i.expected, probs=i.probs,
                            rationale=i.rationale, quotes=i.quotes or [], samples=i.samples)
                       for i in p.items],
            ))
        return out

    def journal(self, session_id: str, *, kinds: tuple[str, ...] = JOURNAL_TIMELINE_KINDS,
                limit: int = 2000) -> SessionJournal | None:
        """A session's stored events as the gateway sent them, oldest first (``None``: unknown session).

        What the after-session page reads once the gateway has forgotten the session:
        the ``events`` journal holds each stored session event, score, alert, ack,
        rupture episode version and feedback record with its Kafka position, so the
        gateway can hand them out under the ids it used live.
        """
        with self._session() as s:
            session = s.get(ChatSession, session_id)
            rows = s.execute(select(Event.seq, Event.kind, Event.stream, Event.record_offset, Event.data)
                             .where(Event.session_id == session_id, Event.kind.in_(kinds))
                             .order_by(Event.at, Event.seq).limit(limit)).all()
        if session is None and not rows:
            return None
        counselor = session.counselor_id if session is not None else next(
            (r.data.get("counselor_id") for r in rows if isinstance(r.data, dict) and r.data.get("counselor_id")), None)
        return SessionJournal(session_id, counselor, session.group_id if session is not None else None,
                              [JournalEntry(r.seq, r.kind, r.stream, r.record_offset, r.data) for r in rows])

    def alerts_with_acks(self, session_id: str) -> list[AlertView]:
        with self._session() as s:
            alerts = list(s.scalars(select(Alert).where(Alert.session_id == session_id)
                                    .order_by(Alert.created_at, Alert.alert_id)))
            acks = list(s.scalars(select(AlertAck).where(AlertAck.session_id == session_id)
                                  .order_by(AlertAck.at, AlertAck.id)))
        by_alert: dict[str, list[dict]] = {}
        for a in acks:
            by_alert.setdefault(a.alert_id, []).append(
                dict(alert_id=a.alert_id, session_id=a.session_id, by=a.by, role=a.role, note=a.note, at=a.at))
        cols = [c.key for c in Alert.__table__.columns]
        return [AlertView({c: getattr(a, c) for c in cols}, by_alert.get(a.alert_id, [])) for a in alerts]

    # -- analytics ------------------------------------------------------------------------------
    def model_identities(self) -> list[tuple[ModelKey, int]]:
        """Model identities in the store with their prediction counts, most used first."""
        q = (select(Prediction.model_name, Prediction.model_revision, Prediction.prompt_version,
                    Prediction.readout, func.count()).group_by(
            Prediction.model_name, Prediction.model_revision, Prediction.prompt_version, Prediction.readout))
        with self._session() as s:
            rows = [(ModelKey(*r[:4]), int(r[4])) for r in s.execute(q)]
        return sorted(rows, key=lambda kv: (-kv[1], str(kv[0])))

    def predictions(self, model: ModelKey, *, phase: str | None = None) -> list[PredictionRecord]:
        q = (select(Prediction).where(
            Prediction.model_name == model.name, Prediction.model_revision == model.revision,
            Prediction.prompt_version == model.prompt_version, Prediction.readout == model.readout)
            .options(selectinload(Prediction.items)).order_by(Prediction.session_id, Prediction.id))
        if phase is not None:
            q = q.where(Prediction.phase == phase)
        with self._session() as s:
            preds = list(s.scalars(q))
            counselors = dict(s.execute(select(ChatSession.session_id, ChatSession.counselor_id).where(
                ChatSession.session_id.in_({p.session_id for p in preds}))).all()) if preds else {}
        return [PredictionRecord(
            session_id=p.session_id,
            counselor_id=counselors.get(p.session_id) or p.counselor_id,
            phase=p.phase,
            dimensions={d: getattr(p, d) for d in DIMENSIONS},
            items={i.item_id: i.expected for i in p.items},
            samples={i.item_id: list(i.samples) for i in p.items if i.samples},
            upto_turn_id=p.upto_turn_id, prompt_tokens=p.prompt_tokens,
            transcript_chars=p.transcript_chars, client_turns=p.client_turns, consistency=p.consistency,
        ) for p in preds]

    # -- validation records (docs/validation.md) -----------------------------------------------------------
    def add_validation_record(self, record: "ValidationRecord") -> bool:
        """Store a record; False when the same identity already has a record with that timestamp."""
        from .writes import _insert

        with self.engine.begin() as conn:
            stmt = _insert(conn, ValidationRecordRow).values(**_record_values(record))
            res = conn.execute(stmt.on_conflict_do_nothing(index_elements=[
                "model_name", "model_revision", "prompt_version", "readout", "created_at"]))
            return bool(res.rowcount)

    def validation_records(self, model: "ModelIdentity | ModelKey | None" = None) -> list["ValidationRecord"]:
        """Every stored record (optionally of one identity), newest first."""
        q = select(ValidationRecordRow)
        if model is not None:
            q = q.where(*_identity_filter(model))
        with self._session() as s:
            rows = list(s.scalars(q.order_by(ValidationRecordRow.created_at.desc(), ValidationRecordRow.id.desc())))
        return [_record_from_row(r) for r in rows]

    def latest_record(self, model: "ModelIdentity | ModelKey", level: str = "session") -> "ValidationRecord | None":
        """The newest record of ``level`` (``session``: the alert gate's; ``turn``: the feedback gate's) for
        exactly this identity (name, revision, prompt version, read-out)."""
        q = (select(ValidationRecordRow).where(*_identity_filter(model))
             .order_by(ValidationRecordRow.created_at.desc(), ValidationRecordRow.id.desc()))
        with self._session() as s:
            row = next((r for r in s.scalars(q) if _row_level(r) == level), None)
        return _record_from_row(row) if row is not None else None

    def set_calibration(self, model: "ModelIdentity | ModelKey", calibration: dict) -> "ValidationRecord":
        """Attach a fitted calibration to the identity's newest session-level record (column and record JSON).

        Raises LookupError when the identity has no session-level record yet.
        """
        with self._session() as s, s.begin():
            rows = s.scalars(select(ValidationRecordRow).where(*_identity_filter(model))
                             .order_by(ValidationRecordRow.created_at.desc(), ValidationRecordRow.id.desc())
                             .with_for_update())
            row = next((r for r in rows if _row_level(r) == "session"), None)
            if row is None:
                raise LookupError(f"no validation record for {_identity_text(model)}")
            row.calibration = dict(calibration)
            row.record = {**row.record, "calibration": dict(calibration)}
            s.flush()
            return _record_from_row(row)

    def feedback(self, *, counselor_id: str | None = None, session_id: str | None = None) -> list[CounselorFeedbackRow]:
        """Stored turn-level feedback, oldest first (numbers and names; quotes only within retention)."""
        q = select(CounselorFeedbackRow).order_by(CounselorFeedbackRow.created_at, CounselorFeedbackRow.feedback_id)
        if counselor_id is not None:
            q = q.where(CounselorFeedbackRow.counselor_id == counselor_id)
        if session_id is not None:
            q = q.where(CounselorFeedbackRow.session_id == session_id)
        with self._session() as s:
            return list(s.scalars(q))

    def counts(self) -> dict[str, int]:
        """Row counts per table (for `db current` and tests)."""
        from .models import Base

        with self._session() as s:
            return {name: int(s.scalar(select(func.count()).select_from(t)) or 0)
                    for name, t in Base.metadata.tables.items()}


def _identity_text(model) -> str:
    return f"{model.name}@{model.revision}:{model.prompt_version}/{model.readout}"


def _identity_filter(model) -> list:
    t = ValidationRecordRow
    return [t.model_name == model.name, t.model_revision == model.revision,
            t.prompt_version == model.prompt_version, t.readout == model.readout]


def _row_level(row) -> str | None:
    """``session`` or ``turn`` from the row's record JSON (absent: ``session``, as every record before
    levels existed); None when the record cannot be read or names no known level."""
    from validation.records import LEVELS

    doc = row.record
    if isinstance(doc, (str, bytes)):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(doc, dict):
        return None
    level = doc.get("level", "session")
    return level if level in LEVELS else None


def _record_values(record) -> dict:
    import orjson

    from .writes import _now

    doc = orjson.loads(record.to_json())  # JSON-safe: NaN -> null, datetimes -> ISO strings
    m = record.model
    return dict(
        model_name=m.name, model_revision=m.revision, prompt_version=m.prompt_version, readout=m.readout,
        created_at=record.created_at, labels_n=record.labels_n, labels_source=record.labels_source,
        goal_passed=record.dimensions["goal"].passed if "goal" in record.dimensions else None,
        approach_passed=record.dimensions["approach"].passed if "approach" in record.dimensions else None,
        bond_passed=record.dimensions["bond"].passed if "bond" in record.dimensions else None,
        record=doc, calibration=doc.get("calibration"), stored_at=_now(),
    )


def _record_from_row(row) -> "ValidationRecord":
    """The record as stored; the ``calibration`` column is authoritative (``calibrate`` updates it)."""
    from validation.records import ValidationRecord

    rec = ValidationRecord.model_validate(row.record)
    if rec.calibration != row.calibration:
        rec = rec.model_copy(update={"calibration": row.calibration})
    return rec


def pick_model(identities: list[tuple[ModelKey, int]], wanted: str | None) -> ModelKey:
    """The model to analyse: the one asked for, else the one with the most predictions."""
    if not identities:
        raise LookupError("the store holds no predictions yet")
    if wanted:
        key = ModelKey.parse(wanted)
        matches = [k for k, _ in identities if k == key] or [
            k for k, _ in identities if k.name == key.name and ("@" not in wanted or k.revision == key.revision)]
        if not matches:
            names = ", ".join(str(k) for k, _ in identities)
            raise LookupError(f"no predictions by model {wanted!r}; the store has: {names}")
        return matches[0]
    return identities[0][0]


def stored_request_ids(db: Engine, identity: "ModelIdentity", request_ids: list[str]) -> set[str]:
    """Which of ``request_ids`` already have a prediction by exactly this model identity
    (``score-corpus`` skips them, so a rerun continues where Ctrl-C stopped)."""
    wanted = list(dict.fromkeys(request_ids))
    found: set[str] = set()
    t = Prediction.__table__
    with db.connect() as conn:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = conn.execute(select(t.c.request_id).where(
                t.c.request_id.in_(chunk), t.c.model_name == identity.name,
                t.c.model_revision == identity.revision, t.c.prompt_version == identity.prompt_version,
                t.c.readout == identity.readout))
            found.update(r[0] for r in rows)
    return found
