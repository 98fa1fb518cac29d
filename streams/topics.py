"""The topic catalog: every topic the system uses, in one place.

Every topic is keyed by ``session_id`` (docs/architecture.md#data-flow), so one session's events
stay ordered on one partition; the audit topic ``alliance.access`` is keyed by viewer. Retention is short on purpose for topics that
carry message text: transcripts are clinical data.
"""

from __future__ import annotations

__layer__ = "contract"

from dataclasses import dataclass, field

from . import environment
from .contracts import (
    AccessEvent,
    AlertAck,
    AllianceAlert,
    AllianceScore,
    ChatTurn,
    ClientRating,
    Contract,
    CounselorFeedback,
    DeadLetter,
    ProcessSignal,
    RuptureEpisode,
    ScoreRequest,
    SessionEvent,
    SurveyLink,
)

DAY_MS = 24 * 3600 * 1000


def dlq_name(topic: str) -> str:
    """The dead-letter topic of ``topic`` (also for test topics with a suffix)."""
    return f"{topic}.dlq"


def _env_int(name: str, default: int) -> int:
    raw = (environment.get(name, "") or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if value < 1:
        from .errors import StreamsError

        raise StreamsError(f"{name} must be a whole number >= 1, not {raw!r}")
    return value


def default_partitions() -> int:
    """Partitions per topic; ``ALLIANCE_PARTITIONS`` overrides (production: more)."""
    return _env_int("ALLIANCE_PARTITIONS", 4)


def replication_factor() -> int:
    """Replicas per created topic; ``ALLIANCE_REPLICATION_FACTOR`` (1 suits one broker, 3 a cluster)."""
    return _env_int("ALLIANCE_REPLICATION_FACTOR", 1)


def offset_reset() -> str:
    """Where a consumer group without committed offsets starts: ``ALLIANCE_OFFSET_RESET`` (earliest|latest).

    Earliest by default: a new group (first deploy, renamed group) reads what is
    retained rather than silently skipping it.
    """
    value = (environment.get("ALLIANCE_OFFSET_RESET", "") or "").strip().lower() or "earliest"
    if value not in ("earliest", "latest"):
        from .errors import StreamsError

        raise StreamsError(f"ALLIANCE_OFFSET_RESET must be earliest or latest, not {value!r}")
    return value


@dataclass(frozen=True)
class TopicSpec:
    name: str
    contract: type[Contract]
    retention_ms: int
    carries_text: bool
    description: str
    compacted: bool = False
    partitions: int | None = None  # None: default_partitions()
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return dlq_name(self.name)

    def topic_configs(self) -> dict[str, str]:
        cfg = {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": "compact" if self.compacted else "delete",
        }
        cfg.update(self.configs)
        return cfg

    def partition_count(self) -> int:
        return self.partitions or default_partitions()


#: Kafka record header naming who produced a chat record: the platform name ingest knows from the
#: platform's token. The gateway believes a session's counselor and group only from configured
#: sources (``gateway --trusted-source``). A header is as forgeable as the record it rides on:
#: Kafka ACLs must let only the platform and ingest principals write chat.sessions
#: (docs/security-and-operations.md#who-may-assign-sessions).
SOURCE_HEADER = "alliance-source"

CHAT_TURNS = TopicSpec("chat.turns", ChatTurn, 7 * DAY_MS, True, "chat messages from the platform")
CHAT_SESSIONS = TopicSpec("chat.sessions", SessionEvent, 30 * DAY_MS, False, "session started/ended")
SCORE_REQUESTS = TopicSpec(
    "alliance.requests", ScoreRequest, 7 * DAY_MS, True, "phase-boundary requests for the scorer"
)
SCORES = TopicSpec("alliance.scores", AllianceScore, 30 * DAY_MS, True, "WAI-SR predictions with rationales")
SIGNALS = TopicSpec("alliance.signals", ProcessSignal, 1 * DAY_MS, False, "rolling process signals")
ALERTS = TopicSpec("alliance.alerts", AllianceAlert, 30 * DAY_MS, True, "alerts for counselors and supervisors")

ACKS = TopicSpec("alliance.acks", AlertAck, 30 * DAY_MS, False, "alert acknowledgements from the gateway")
RUPTURES = TopicSpec("alliance.ruptures", RuptureEpisode, 30 * DAY_MS, False,
                     "rupture episodes: markers, type, repair (turn ids, no text)")

#: No message text, but clinical: each record is a client's own answers about their counselor.
#: Same retention as chat.sessions; only the sink and the survey service read it, never a browser.
RATINGS = TopicSpec("chat.ratings", ClientRating, 30 * DAY_MS, False,
                    "client ratings (WAI-SR / session form): no message text, but clinical")
#: Each record is a bearer link to one survey; links live at most 7 days, so does the topic.
SURVEY_LINKS = TopicSpec("chat.survey_links", SurveyLink, 7 * DAY_MS, False,
                         "survey links for the chat platform to deliver to clients")

FEEDBACK = TopicSpec("alliance.feedback", CounselorFeedback, 30 * DAY_MS, True,
                     "turn-level counselor feedback (quotes the counselor's own turn)")

#: The audit trail: who viewed which sessions (no text). The one topic keyed by the *viewer*
#: (a record may name many sessions), so one person's views stay in order. The store keeps
#: the rows for ALLIANCE_AUDIT_RETENTION_DAYS; the topic only has to outlast a sink outage.
ACCESS = TopicSpec("alliance.access", AccessEvent, 30 * DAY_MS, False,
                   "audit trail: who viewed which sessions (ids only, no text)")

TOPICS: tuple[TopicSpec, ...] = (CHAT_TURNS, CHAT_SESSIONS, SCORE_REQUESTS, SCORES, SIGNALS, ALERTS, ACKS, RATINGS,
                                 SURVEY_LINKS, RUPTURES, FEEDBACK, ACCESS)
BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}

#: Dead-letter companions: same retention as their source (they hold its raw bytes).
DLQ_TOPICS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(t.dlq, DeadLetter, t.retention_ms, t.carries_text, f"rejected records of {t.name}") for t in TOPICS
)


def all_topics() -> tuple[TopicSpec, ...]:
    return TOPICS + DLQ_TOPICS


def spec(name: str) -> TopicSpec:
    for t in all_topics():
        if t.name == name:
            return t
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(t.name for t in all_topics())}")
