"""SQLAlchemy 2 models: sessions, predictions (+ items), alerts, acks, turns, events.

Design choices (see docs/store.md):

* Natural keys from the contracts are UNIQUE columns (``session_id``,
  ``request_id`` + model identity, ``alert_id``, ``alert_id`` + ack author), so
  the sink can upsert and a replayed event never adds a row.
* No foreign keys between sessions / predictions / alerts: they arrive on
  different topics with no ordering between them, so a score may be stored
  before its session. Items and predictions *are* tied by a foreign key (they
  come in one event and are written in one transaction).
* Timestamps are stored as UTC and always read back timezone-aware, on SQLite
  (which has no time zones) as on PostgreSQL.
* ``events`` is an append-only journal with a monotonically increasing ``seq``:
  the gateway resumes a client with "everything after seq N".
"""

from __future__ import annotations

__layer__ = "shell"

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names are fixed so migrations can refer to them on every dialect.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(128)
#: Autoincrementing big integer that is still SQLite's rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator):
    """Store UTC; read back aware UTC datetimes (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:  # every model here maps a Table (SQLAlchemy types ``__table__`` as any FromClause)
        __table__: ClassVar[Table]


class ChatSession(Base):
    """One counseling session, from ``chat.sessions`` (started / ended)."""

    __tablename__ = "sessions"

    session_id: Mapped[str] = mapped_column(ID, primary_key=True)
    counselor_id: Mapped[str | None] = mapped_column(ID, index=True)
    group_id: Mapped[str | None] = mapped_column(ID, index=True)
    lang: Mapped[str | None] = mapped_column(String(8))
    planned_minutes: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: the source (ingest's platform name) that owns the session: only its records change this row
    #: (streams/ownership.py); "" for a record without a source header, NULL while nobody claimed it
    owner_source: Mapped[str | None] = mapped_column(ID)


class Prediction(Base):
    """One AllianceScore: a session × phase × model identity, with dimension scores."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint(
            "request_id", "model_name", "model_revision", "prompt_version", "readout",
            name="uq_predictions_request_model",
        ),
        Index("ix_predictions_session_phase", "session_id", "phase"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ID)
    session_id: Mapped[str] = mapped_column(ID)
    counselor_id: Mapped[str | None] = mapped_column(ID, index=True)
    phase: Mapped[str] = mapped_column(String(8))
    upto_turn_id: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(ID)
    model_revision: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(64))
    readout: Mapped[str] = mapped_column(String(16))
    goal: Mapped[float | None] = mapped_column(Float)
    approach: Mapped[float | None] = mapped_column(Float)
    bond: Mapped[float | None] = mapped_column(Float)
    goal_spread: Mapped[float | None] = mapped_column(Float)
    approach_spread: Mapped[float | None] = mapped_column(Float)
    bond_spread: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    #: length of the scored transcript (counts only): covariates of the validation gate.
    transcript_chars: Mapped[int | None] = mapped_column(Integer)
    client_turns: Mapped[int | None] = mapped_column(Integer)
    #: sampled read-out: the scorer's agreement across samples for this prediction.
    consistency: Mapped[dict | None] = mapped_column(JsonDoc)
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)

    items: Mapped[list["PredictionItem"]] = relationship(
        back_populates="prediction", order_by="PredictionItem.item_no", cascade="all, delete-orphan",
        passive_deletes=True,
    )


class PredictionItem(Base):
    """One WAI-SR item of a prediction: expected score, five probabilities, reason."""

    __tablename__ = "prediction_items"

    prediction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(4), primary_key=True)
    item_no: Mapped[int] = mapped_column(Integer)  # 1..12, for ordering Q2 before Q10
    dimension: Mapped[str] = mapped_column(String(16))
    expected: Mapped[float] = mapped_column(Float)
    p1: Mapped[float] = mapped_column(Float)
    p2: Mapped[float] = mapped_column(Float)
    p3: Mapped[float] = mapped_column(Float)
    p4: Mapped[float] = mapped_column(Float)
    p5: Mapped[float] = mapped_column(Float)
    rationale: Mapped[str | None] = mapped_column(Text)
    quotes: Mapped[list[dict] | None] = mapped_column(JsonDoc)
    #: per-sample choices (1..5) in sampled read-out mode, for self-consistency.
    samples: Mapped[list[int] | None] = mapped_column(JsonDoc)

    prediction: Mapped[Prediction] = relationship(back_populates="items")

    @property
    def probs(self) -> list[float]:
        return [self.p1, self.p2, self.p3, self.p4, self.p5]


class Alert(Base):
    """An AllianceAlert from ``alliance.alerts``."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str] = mapped_column(ID, index=True)
    counselor_id: Mapped[str] = mapped_column(ID, index=True)
    dimension: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    previous: Mapped[float | None] = mapped_column(Float)
    current: Mapped[float | None] = mapped_column(Float)
    phase: Mapped[str] = mapped_column(String(8))
    evidence: Mapped[list[dict] | None] = mapped_column(JsonDoc)
    message: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(ID)
    validated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AlertAck(Base):
    """"Someone is on it": one row per alert and person; a repeat ack keeps the first time."""

    __tablename__ = "alert_acks"
    __table_args__ = (UniqueConstraint("alert_id", "acked_by", name="uq_alert_acks_alert_by"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ID, index=True)
    session_id: Mapped[str] = mapped_column(ID, index=True)
    by: Mapped[str] = mapped_column("acked_by", ID)
    role: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(280))
    at: Mapped[datetime] = mapped_column("acked_at", UtcDateTime)


class RuptureEpisodeRow(Base):
    """The newest version of a RuptureEpisode from ``alliance.ruptures`` (turn ids and cue names, no text)."""

    __tablename__ = "rupture_episodes"

    episode_id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str] = mapped_column(ID, index=True)
    counselor_id: Mapped[str] = mapped_column(ID, index=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    sources: Mapped[list[str]] = mapped_column(JsonDoc)
    phase: Mapped[str] = mapped_column(String(8))
    lang: Mapped[str | None] = mapped_column(String(8))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    opened_turn_id: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    markers: Mapped[list[dict] | None] = mapped_column(JsonDoc)
    repair_moves: Mapped[list[dict] | None] = mapped_column(JsonDoc)
    reengaged_turn_id: Mapped[int | None] = mapped_column(Integer)
    model_drop: Mapped[dict | None] = mapped_column(JsonDoc)
    validated: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CounselorFeedbackRow(Base):
    """One turn-level CounselorFeedback from ``alliance.feedback`` (a model output about a counselor turn).

    Why stored: the after-session page and ``report --feedback`` need a session's
    feedback after the gateway has forgotten it. ``quote`` and ``next_move`` quote the
    counselor's own turn, so they are text under retention (``store/retention.py``)
    and redacted by the sink like every other stored text; the ratings and the
    chosen principle/pattern are numbers and names and stay.
    """

    __tablename__ = "counselor_feedback"

    feedback_id: Mapped[str] = mapped_column(ID, primary_key=True)
    session_id: Mapped[str] = mapped_column(ID, index=True)
    counselor_id: Mapped[str] = mapped_column(ID, index=True)
    phase: Mapped[str] = mapped_column(String(8))
    turn_id: Mapped[int] = mapped_column(Integer)
    lang: Mapped[str | None] = mapped_column(String(8))
    quote: Mapped[str | None] = mapped_column(Text)
    next_move: Mapped[str | None] = mapped_column(Text)
    principles: Mapped[dict] = mapped_column(JsonDoc)
    patterns: Mapped[dict] = mapped_column(JsonDoc)
    features: Mapped[dict | None] = mapped_column(JsonDoc)
    pattern: Mapped[str | None] = mapped_column(String(32))
    pattern_source: Mapped[str | None] = mapped_column(String(16))
    principle: Mapped[str] = mapped_column(String(32))
    model_name: Mapped[str] = mapped_column(ID)
    model_revision: Mapped[str | None] = mapped_column(String(128))
    validated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Turn(Base):
    """A chat turn (message text). Only stored when ALLIANCE_STORE_TURNS=1; purged by retention."""

    __tablename__ = "turns"

    session_id: Mapped[str] = mapped_column(ID, primary_key=True)
    turn_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    speaker: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    counselor_id: Mapped[str | None] = mapped_column(ID)
    lang: Mapped[str | None] = mapped_column(String(8))


class TurnCodeRow(Base):
    """One coder's code set of one turn, recorded on the ``/code`` page (validation/codebook.py).

    ``codes`` is a list of code names for a turn; for the session's own code
    (``turn_id`` = ``validation.codebook.SESSION_TURN``) it is ``{"rupture": null |
    {"type", "repaired"}}``. Names and flags only, never text: not under retention.
    A coder who codes a turn again replaces their own row (the key has the coder).
    """

    __tablename__ = "turn_codes"

    session_id: Mapped[str] = mapped_column(ID, primary_key=True)
    turn_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    coder_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    speaker: Mapped[str] = mapped_column(String(16))
    codes: Mapped[Any] = mapped_column(JsonDoc)
    coded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Event(Base):
    """Append-only journal of stored events, for history and "events after a cursor".

    Event ids follow the gateway (gateway/history.py): ``<topic>:<partition>:<offset>``
    of the Kafka record the sink consumed (``stream`` + ``record_offset``); events
    written without Kafka have none. ``ref`` is the natural key of what was stored
    (plus its version for scores), unique per ``kind``: a replayed or re-produced
    event adds nothing. ``data`` is the event as JSON, as the gateway sends it.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("kind", "ref", name="uq_events_kind_ref"),
        Index("ix_events_stream_offset", "stream", "record_offset"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # session | score | alert | ack | rupture | feedback
    ref: Mapped[str] = mapped_column(String(512))
    session_id: Mapped[str] = mapped_column(ID, index=True)
    stream: Mapped[str | None] = mapped_column(String(300))
    record_offset: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[dict] = mapped_column(JsonDoc)


class SinkStream(Base):
    """Per ``<topic>:<partition>``: the first and highest offset the sink has stored.

    Lets the history tell a client whose cursor is older than what the store
    knows (or ahead of it) that it needs a fresh snapshot, instead of silently
    missing events.
    """

    __tablename__ = "sink_streams"

    stream: Mapped[str] = mapped_column(String(300), primary_key=True)
    first_offset: Mapped[int] = mapped_column(BigInteger)
    high_offset: Mapped[int] = mapped_column(BigInteger)


class ValidationRecordRow(Base):
    """One ``validation.records.ValidationRecord``: a model identity's verdict on one label set.

    Why both columns and JSON: the identity, date, label-set size and the
    pass/fail per dimension are columns so ``models status`` and SQL can list
    and filter them; ``record`` is the full record (every figure, the reasons,
    the settings) exactly as ``ValidationRecord.to_json`` wrote it, and is what
    the gate reads back. ``calibration`` is the fitted map (``calibrate``),
    nullable. Rows are append-only history; the newest per identity counts
    (``RecordBook``). ``(identity, created_at)`` is unique so writing the same
    record twice adds nothing.
    """

    __tablename__ = "validation_records"
    __table_args__ = (
        UniqueConstraint("model_name", "model_revision", "prompt_version", "readout", "created_at",
                         name="uq_validation_records_model_created"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(ID)
    model_revision: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(64))
    readout: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    labels_n: Mapped[int] = mapped_column(Integer)
    labels_source: Mapped[str | None] = mapped_column(String(500))
    goal_passed: Mapped[bool | None] = mapped_column(Boolean)
    approach_passed: Mapped[bool | None] = mapped_column(Boolean)
    bond_passed: Mapped[bool | None] = mapped_column(Boolean)
    record: Mapped[dict] = mapped_column(JsonDoc)
    calibration: Mapped[dict | None] = mapped_column(JsonDoc)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Rating(Base):
    """A ``ClientRating`` from ``chat.ratings``: a client's own answers (clinical; no message text).

    ``rating_id`` is unique (a replayed rating adds nothing). A second rating of the
    same session and instrument is stored as the next ``revision``; the latest
    revision is the one evaluation reads. ``link_id`` is unique: a survey link
    gives one rating, even if two gateways both accepted a submission.
    """

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("session_id", "instrument", "revision", name="uq_ratings_session_instrument_revision"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rating_id: Mapped[str] = mapped_column(ID, unique=True)
    session_id: Mapped[str] = mapped_column(ID, index=True)
    instrument: Mapped[str] = mapped_column(String(16))
    instrument_version: Mapped[str] = mapped_column(String(128))
    revision: Mapped[int] = mapped_column(Integer)
    answers: Mapped[dict] = mapped_column(JsonDoc)
    lang: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    link_id: Mapped[str | None] = mapped_column(ID, unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccessEventRow(Base):
    """One view from the audit trail (``alliance.access``): who looked, how, when, through which part.

    Keyed by the record's ``event_id`` (a re-delivered record adds no row). The
    sessions a view named are rows of :class:`AccessEventSession`, so "who viewed
    session X" is an index lookup on every database. No chat text, no scores.
    """

    __tablename__ = "access_events"

    event_id: Mapped[str] = mapped_column(ID, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    viewer: Mapped[str] = mapped_column(ID, index=True)
    role: Mapped[str] = mapped_column(String(16))
    counselor_id: Mapped[str | None] = mapped_column(ID)
    scope: Mapped[str] = mapped_column(String(512))
    key_id: Mapped[str | None] = mapped_column(ID)
    token_id: Mapped[str | None] = mapped_column(ID)
    sessions_shown: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(16))
    replica: Mapped[str | None] = mapped_column(ID)
    viewed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccessEventSession(Base):
    """A session named by an audit record (``subscribe``: each focused session; ``timeline``: the one)."""

    __tablename__ = "access_event_sessions"

    event_id: Mapped[str] = mapped_column(ID, ForeignKey("access_events.event_id"), primary_key=True)
    session_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)


ALL_TABLES = ("sessions", "predictions", "prediction_items", "alerts", "alert_acks", "turns", "events", "sink_streams",
              "validation_records", "ratings", "rupture_episodes", "access_events", "access_event_sessions",
              "counselor_feedback", "turn_codes")
