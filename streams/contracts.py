"""Event contracts: the pydantic models that travel on every topic (docs/architecture.md#the-contracts).

Why strict models: the stream processor, the scoring worker, the gateway and the
store are separate processes that only share Kafka. The contract is the one thing
they agree on, so it rejects anything ambiguous at the edge (naive timestamps,
unknown speakers, empty or huge texts, missing ids) with a message that names the
field, instead of letting a bad value travel downstream.

Serialisation lives in :mod:`streams.codec`; this module has no I/O.
"""

from __future__ import annotations

__layer__ = "contract"

import hashlib
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, TypeVar, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

#: Largest accepted chat message, in UTF-8 bytes. Longer texts are almost
#: certainly pasted documents, not turns, and would blow up prompt sizes.
MAX_TEXT_BYTES = 16 * 1024
#: Largest encoded ScoreRequest the processor sends. Kafka producers refuse records
#: over ``max.request.size`` (1 MiB by default); a cumulative transcript of a long
#: session exceeds that, so the processor drops the oldest turns to stay below this
#: and counts them in ``ScoreRequest.trimmed_turns``.
MAX_REQUEST_BYTES = 900 * 1024
#: Longest identifier (session, counselor, request, alert ids); the store's id columns are this wide.
MAX_ID_CHARS = 128

Speaker = Literal["counselor", "client"]
Lang = Literal["en", "zh"]
Phase = Literal["early", "middle", "late"]
Dimension = Literal["goal", "approach", "bond"]
PHASES: tuple[Phase, ...] = ("early", "middle", "late")
DIMENSIONS: tuple[Dimension, ...] = ("goal", "approach", "bond")
ITEM_IDS: tuple[str, ...] = tuple(f"Q{i}" for i in range(1, 13))
#: The WAI-SR item -> dimension map (goal Q1-4, approach Q5-8, bond Q9-12): the one definition.
DIMENSION_ITEMS: dict[Dimension, tuple[str, ...]] = {
    "goal": ("Q1", "Q2", "Q3", "Q4"), "approach": ("Q5", "Q6", "Q7", "Q8"), "bond": ("Q9", "Q10", "Q11", "Q12"),
}
ITEM_DIMENSION: dict[str, Dimension] = {item: dim for dim, items in DIMENSION_ITEMS.items() for item in items}
#: Dimensions watched by default: the alert policy raises drop/low alerts on them, the scorer
#: writes "alerts" rationales for their items, the gateway asks validation for them. A
#: processor with other ``watched`` settings names its choice in ``ScoreRequest.watched``.
WATCHED_DIMENSIONS: tuple[Dimension, ...] = ("goal", "bond")

#: Client-rating instruments: ``wai-sr`` (the 12 WAI-SR items, answers 1-5) and ``srs``
#: (this project's own short 4-item session-rating form, answers 0-10; see docs/ratings.md).
Instrument = Literal["wai-sr", "srs"]
SRS_ITEM_IDS: tuple[str, ...] = ("relationship", "goals", "approach", "overall")
#: instrument -> (item ids in form order, lowest answer, highest answer)
INSTRUMENT_ITEMS: dict[str, tuple[tuple[str, ...], int, int]] = {
    "wai-sr": (ITEM_IDS, 1, 5),
    "srs": (SRS_ITEM_IDS, 0, 10),
}
#: Current version of each instrument's form; a rating names the version it answered.
INSTRUMENT_VERSIONS: dict[str, str] = {"wai-sr": "1", "srs": "1"}


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


#: Event times from the chat platform must lie in [EARLIEST_EVENT_AT, now + MAX_FUTURE_S]:
#: one turn dated 9999 would move its session's clock past every phase boundary.
EARLIEST_EVENT_AT = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE_S = 24 * 3600


def _plausible_time(value: datetime) -> datetime:
    if value < EARLIEST_EVENT_AT:
        raise ValueError(f"{value.isoformat()} is before {EARLIEST_EVENT_AT.date()}")
    if value > datetime.now(timezone.utc) + timedelta(seconds=MAX_FUTURE_S):
        raise ValueError(f"{value.isoformat()} is more than {MAX_FUTURE_S // 3600} h in the future")
    return value


#: control and format characters (NUL, line breaks, zero-width, bidi overrides, BOM, soft hyphen):
#: none belongs in an identifier — NUL cannot be stored in PostgreSQL at all, the others make
#: an id invisible or display as another one on the board.
_CONTROL_OR_FORMAT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]")


def _check_id(value: str) -> str:
    if _CONTROL_OR_FORMAT.search(value):
        raise ValueError("must not contain control or invisible format characters")
    return value


def _check_text(value: str) -> str:
    visible = value.strip()
    if not visible or all(unicodedata.category(c) == "Cf" for c in visible):
        raise ValueError("must not be empty, only whitespace or only invisible characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    size = len(value.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"is {size} bytes, more than the {MAX_TEXT_BYTES}-byte limit")
    return value


#: An identifier: non-empty, visible, no surrounding whitespace or control characters, bounded.
Id = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_ID_CHARS, pattern=r"^\S(.*\S)?$"),
    AfterValidator(_check_id),
]
#: A timezone-aware instant, normalised to UTC. Naive datetimes are rejected
#: because event time drives the phase clock and a guessed zone shifts phases.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
#: An event time from the chat platform (turns, session events): UTC and plausible.
EventTime = Annotated[AwareDatetime, AfterValidator(_to_utc), AfterValidator(_plausible_time)]
Text = Annotated[str, AfterValidator(_check_text)]
Score = Annotated[float, Field(ge=1.0, le=5.0)]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Contract(BaseModel):
    """Base for every event: immutable, strict about unknown fields and types."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, str_strip_whitespace=False)


class ChatTurn(Contract):
    """One chat message, as the chat platform publishes it to ``chat.turns``."""

    session_id: Id
    turn_id: Annotated[int, Field(ge=0, strict=True)]
    speaker: Speaker
    text: Text
    sent_at: EventTime
    counselor_id: Id
    lang: Lang = "en"


class SessionEvent(Contract):
    """Session lifecycle on ``chat.sessions``: ``started``, any ``reassigned``, then ``ended``.

    ``reassigned`` is a counselor hand-over: the session's new ``counselor_id`` and
    ``group`` from the platform that owns the session (streams/ownership.py); it
    moves no phase boundary.
    """

    session_id: Id
    kind: Literal["started", "reassigned", "ended"]
    at: EventTime
    counselor_id: Id
    planned_minutes: Annotated[float, Field(gt=0, le=600)] = 50
    group: Id | None = None
    lang: Lang = "en"


class TranscriptLine(Contract):
    """A turn as it appears inside a score request (no ids the model needs)."""

    turn_id: Annotated[int, Field(ge=0)]
    speaker: Speaker
    text: Text


class ScoreRequest(Contract):
    """Ask the scoring worker for one phase of one session (``alliance.requests``).

    ``request_id`` is ``session_id:phase`` so a retried or replayed request is
    recognisably the same request (idempotent downstream).
    """

    request_id: Id
    session_id: Id
    counselor_id: Id | None = None
    phase: Phase
    upto_turn_id: Annotated[int, Field(ge=-1)]
    transcript: list[TranscriptLine]
    lang: Lang = "en"
    created_at: UtcDatetime = Field(default_factory=utcnow)
    #: the dimensions the processor's alert policy watches; the scorer writes "alerts"
    #: rationales for their items. None (older producers): ``WATCHED_DIMENSIONS``.
    watched: list[Dimension] | None = None
    #: oldest turns of the cut left out to keep the request under MAX_REQUEST_BYTES
    #: (the scorer tells the model "[n earlier turns omitted]").
    trimmed_turns: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _request_id_matches(self) -> "ScoreRequest":
        return _check_request_id(self)


def derived_id(*parts: str) -> str:
    """``parts`` joined by ``:``, always at most :data:`MAX_ID_CHARS` long.

    Why: request and alert ids are built from the session id, which may itself be
    :data:`MAX_ID_CHARS` long. When the plain join does not fit, the session part is
    cut and followed by ``~`` and a digest of the whole join, so the id stays
    deterministic (a replay derives the same id: idempotence downstream), unique,
    and still starts with a readable prefix of the session id.
    """
    joined = ":".join(parts)
    if len(joined) <= MAX_ID_CHARS:
        return joined
    digest = hashlib.sha256(joined.encode("utf-8")).hexdigest()[:20]
    tail = "".join(f":{p}" for p in parts[1:])
    head = parts[0][: max(1, MAX_ID_CHARS - len(tail) - len(digest) - 1)].rstrip()
    return f"{head}~{digest}{tail}"[:MAX_ID_CHARS]


#: the two contracts named ``session_id:phase``
_Named = TypeVar("_Named", "ScoreRequest", "AllianceScore")


def request_id_for(session_id: str, phase: str) -> str:
    return derived_id(session_id, phase)


def _check_request_id(event: _Named) -> _Named:
    """A request and its score are named ``session_id:phase``: a repeat is recognisably the same."""
    expected = request_id_for(event.session_id, event.phase)
    if event.request_id != expected:
        raise ValueError(f"request_id must be {expected!r} (session_id:phase), got {event.request_id!r}")
    return event


class Quote(Contract):
    """A quotation the model gave as its reason; ``verified`` says it occurs in the chat."""

    text: str
    verified: bool


class ItemScore(Contract):
    """One WAI-SR item: the five option probabilities and their expected value."""

    item_id: Annotated[str, Field(pattern=r"^Q([1-9]|1[0-2])$")]
    dimension: Dimension
    expected: Score
    probs: Annotated[list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=5, max_length=5)]
    rationale: str | None = None
    quotes: list[Quote] = Field(default_factory=list)
    #: sampled read-out only: the parsed choice (1..5) of each sample, so the store
    #: can report self-consistency (ICC, Fleiss' kappa) across samples.
    samples: list[Annotated[int, Field(ge=1, le=5)]] | None = None

    @field_validator("probs")
    @classmethod
    def _probs_sum_to_one(cls, probs: list[float]) -> list[float]:
        total = sum(probs)
        if abs(total - 1.0) > 1e-3:
            raise ValueError(f"must sum to 1 (got {total:.4f})")
        return probs


class DimensionScore(Contract):
    """Mean of a dimension's four items; ``spread`` is the mean per-item std dev."""

    score: Score
    spread: Annotated[float, Field(ge=0.0)] = 0.0


class ModelIdentity(Contract):
    """What produced a score. Validation records (docs/validation.md) key on all four fields."""

    name: Id
    revision: str = "local"
    prompt_version: str = "v1"
    #: "head": a trained read-out head on the model's frozen features (``scoring/head.py``).
    readout: Literal["expected", "sampled", "head"] = "expected"


class AllianceScore(Contract):
    """The scoring worker's answer for one request (``alliance.scores``)."""

    request_id: Id
    session_id: Id
    counselor_id: Id | None = None
    phase: Phase
    upto_turn_id: Annotated[int, Field(ge=-1)]
    items: Annotated[list[ItemScore], Field(min_length=1, max_length=12)]
    dimensions: dict[Dimension, DimensionScore]
    model: ModelIdentity
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    cached_tokens: Annotated[int, Field(ge=0)] = 0
    latency_ms: Annotated[float, Field(ge=0)] = 0.0
    scored_at: UtcDatetime = Field(default_factory=utcnow)
    #: sampled read-out only: agreement across the n samples over the items
    #: ("icc" = ICC(2,1), "fleiss_kappa", "samples"); None in expected mode or when undefined.
    consistency: dict[str, float | None] | None = None
    #: length of the scored transcript (counts only): the covariates the validation
    #: gate controls for (docs/validation.md); see ``validation.stats.length_covariates``.
    transcript_chars: Annotated[int, Field(ge=0)] | None = None
    client_turns: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "AllianceScore":
        return _check_request_id(self)

    def item(self, item_id: str) -> ItemScore | None:
        return next((i for i in self.items if i.item_id == item_id), None)


class ProcessSignal(Contract):
    """Cheap per-turn process figures over rolling windows (docs/streams.md#process-signals).

    Every figure is optional: early in a session there is no baseline yet, and
    "unknown" must not read as "fine" or "bad".
    """

    session_id: Id
    counselor_id: Id | None = None
    at: UtcDatetime
    upto_turn_id: Annotated[int, Field(ge=-1)]
    phase: Phase
    elapsed_s: Annotated[float, Field(ge=0)] = 0.0
    #: recent client reply length divided by the client's own baseline length.
    client_length_ratio: float | None = None
    #: median seconds the client took to answer a counselor turn, recent window.
    client_latency_s: float | None = None
    #: seconds since the client last wrote.
    client_idle_s: float | None = None
    #: consecutive counselor questions without a reflection in between.
    question_streak: Annotated[int, Field(ge=0)] = 0
    #: share of recent counselor turns that give directives / advice.
    directive_density: float | None = None
    #: share of recent client turns that are minimal ("ok", "idk", "嗯").
    minimal_response_rate: float | None = None
    #: names of the figures currently outside their normal band.
    flags: list[str] = Field(default_factory=list)


class Evidence(Contract):
    """Why an alert fired: an item that moved, with the model's reason and quotes."""

    item_id: str | None = None
    dimension: str
    previous: float | None = None
    current: float | None = None
    delta: float | None = None
    rationale: str | None = None
    quotes: list[Quote] = Field(default_factory=list)
    note: str | None = None


class AllianceAlert(Contract):
    """A change the counselor or supervisor should know about (``alliance.alerts``)."""

    alert_id: Id
    session_id: Id
    counselor_id: Id
    dimension: Literal["goal", "approach", "bond", "process"]
    kind: Literal["drop", "low", "recovered", "process"]
    severity: Literal["info", "warning", "critical"]
    previous: float | None = None
    current: float | None = None
    phase: Phase
    evidence: list[Evidence] = Field(default_factory=list)
    message: str = ""
    model: str | None = None
    #: False while the producing model has no passing validation record (docs/validation.md).
    validated: bool = False
    created_at: UtcDatetime = Field(default_factory=utcnow)
    #: process alerts only: the signal flag that fired (e.g. "rushing"); None for model alerts.
    signal: str | None = None


class AlertAck(Contract):
    """Someone acknowledged an alert ("someone is on it"), on ``alliance.acks``.

    Acks travel through Kafka (not gateway memory) so every gateway replica and
    the store see the same acks, with the same event ids.
    """

    alert_id: Id
    session_id: Id
    by: Id
    role: Literal["counselor", "supervisor"]
    note: Annotated[str, StringConstraints(max_length=280)] | None = None
    at: UtcDatetime = Field(default_factory=utcnow)


def check_answers(instrument: str, answers: dict[str, int]) -> list[str]:
    """Problems with a set of answers for ``instrument`` (empty: complete and in range)."""
    spec = INSTRUMENT_ITEMS.get(instrument)
    if spec is None:
        return [f"unknown instrument {instrument!r}; known: {', '.join(INSTRUMENT_ITEMS)}"]
    ids, low, high = spec
    problems = []
    unknown = [k for k in answers if k not in ids]
    if unknown:
        problems.append(f"not items of {instrument}: {', '.join(map(str, unknown))} (items: {', '.join(ids)})")
    missing = [i for i in ids if i not in answers]
    if missing:
        problems.append(f"missing {', '.join(missing)} ({instrument} needs all {len(ids)} items)")
    for item in ids:
        value = answers.get(item)
        if value is not None and not low <= value <= high:
            problems.append(f"{item}={value} is outside {low}..{high}")
    return problems


class ClientRating(Contract):
    """A client's own post-session answers (``chat.ratings``): the labels models are validated on.

    No message text, but clinical: the client's view of their counselor. A second
    rating of the same session and instrument is a *revision* (the store numbers
    them; the latest counts); the same ``rating_id`` again is the same rating.
    """

    rating_id: Id
    session_id: Id
    instrument: Instrument
    instrument_version: Id = "1"
    #: item id -> answer (WAI-SR: Q1..Q12, 1-5; srs: relationship/goals/approach/overall, 0-10)
    answers: dict[str, Annotated[int, Field(strict=True)]]
    lang: Lang = "en"
    submitted_at: UtcDatetime
    source: Literal["platform", "survey"]
    #: the survey link this came from (survey ratings): each link is used once.
    link_id: Id | None = None

    @model_validator(mode="after")
    def _answers_complete(self) -> "ClientRating":
        problems = check_answers(self.instrument, self.answers)
        if problems:
            raise ValueError("answers: " + "; ".join(problems))
        if self.instrument_version != INSTRUMENT_VERSIONS[self.instrument]:
            raise ValueError(f"instrument_version {self.instrument_version!r} is not a known version of "
                             f"{self.instrument} (known: {INSTRUMENT_VERSIONS[self.instrument]!r})")
        if self.source == "survey" and self.link_id is None:
            raise ValueError("link_id is required when source is 'survey'")
        return self


class SurveyLink(Contract):
    """A survey link minted when a session ended (``chat.survey_links``), for the chat
    platform to deliver to the client. The URL is a bearer credential for one rating."""

    link_id: Id
    session_id: Id
    url: Annotated[str, StringConstraints(min_length=8, max_length=4096)]
    instrument: Instrument = "wai-sr"
    lang: Lang = "en"
    expires_at: UtcDatetime
    created_at: UtcDatetime = Field(default_factory=utcnow)


RuptureKind = Literal["withdrawal", "confrontation", "mixed", "untyped"]
RuptureStatus = Literal["open", "repair_attempted", "repaired", "unrepaired"]


class RuptureMarker(Contract):
    """One turn that marks a rupture or its repair: the turn id and the cue's name (no text)."""

    turn_id: Annotated[int, Field(ge=0)]
    speaker: Speaker
    family: Literal["withdrawal", "confrontation", "repair"]
    cue: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ModelDrop(Contract):
    """The alert policy's drop alert that opened or joined a rupture episode."""

    alert_id: Id
    dimension: Dimension
    phase: Phase
    previous: float | None = None
    current: float | None = None
    model: str | None = None
    #: copied from the alert: True only when the model passed the validation gate.
    validated: bool = False


#: A turn detector's key (validation/detectors.py ``Detector.key``): ``counselor-words@1`` for the word rules,
#: ``trained.counselor-words@3f2a9c01b7de`` for one a site trained (``train-turns``).
DetectorKey = Annotated[str, StringConstraints(min_length=3, max_length=MAX_ID_CHARS,
                                               pattern=r"^([a-z]+\.)?[a-z][a-z0-9-]*@[A-Za-z0-9._-]+$")]


class RuptureEpisode(Contract):
    """A rupture episode on ``alliance.ruptures``: one record per change, newest ``version`` wins.

    Opened by client rupture markers (``sources`` has "markers") and/or by the
    model's drop alert ("model"); typed from the client's markers; ``repaired``
    when the counselor addressed it *and* the client re-engaged; at session end
    an episode still open is closed as ``unrepaired``. Carries turn ids and cue
    names only, never message text.
    """

    episode_id: Id
    session_id: Id
    counselor_id: Id
    version: Annotated[int, Field(ge=1)]
    kind: RuptureKind
    status: RuptureStatus
    closed: bool = False
    sources: Annotated[list[Literal["markers", "model"]], Field(min_length=1, max_length=2)]
    phase: Phase
    lang: Lang = "en"
    opened_at: UtcDatetime
    opened_turn_id: Annotated[int, Field(ge=-1)]
    markers: list[RuptureMarker] = Field(default_factory=list)
    #: process flags (alliance.signals) active when the episode opened.
    flags: list[str] = Field(default_factory=list)
    repair_moves: list[RuptureMarker] = Field(default_factory=list)
    reengaged_turn_id: Annotated[int, Field(ge=0)] | None = None
    closed_at: UtcDatetime | None = None
    model_drop: ModelDrop | None = None
    #: marker code (withdrawal / confrontation) -> the key of the detector served in place of the marker rules
    #: that answered it (``process --rupture-detector``), for the codes such a detector answered; a code with
    #: no entry was answered by the rupture-marker rules. The detector gate judges each code on the record of
    #: the detector that answered it. Empty on records written before it existed (the rules alone).
    marker_detectors: dict[Literal["withdrawal", "confrontation"], DetectorKey] = Field(default_factory=dict)
    #: a model-only episode is a model output: True only when its drop alert was validated.
    validated: bool = False
    #: one concrete next move for the counselor, in the session's language.
    suggestion: str = ""
    at: UtcDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _consistent(self) -> "RuptureEpisode":
        if ("model" in self.sources) != (self.model_drop is not None):
            raise ValueError("sources has 'model' exactly when model_drop is set")
        if self.status in ("repaired", "unrepaired") and not self.closed:
            raise ValueError(f"a {self.status} episode must be closed")
        return self


PrincipleKey = Literal["empathy", "relevance", "conciseness", "safety", "self_exploration", "autonomy",
                       "change_stage"]
PatternKey = Literal["passive_response", "boundary_overstepping"]


class CounselorFeedback(Contract):
    """Turn-level feedback on one counselor turn (``alliance.feedback``): a model output.

    ``principles`` and ``patterns`` are the model's ratings (1-5, expected value
    over the option tokens); ``features`` are word-level facts about the turn,
    each answered by a turn detector (``feature_detectors``). ``pattern`` names the poor-alliance pattern the turn shows (from the
    features, else from the ratings), ``principle`` the one to work on, and
    ``next_move`` one concrete move that quotes the counselor's own turn
    (``quote``: counselor text, never the client's).
    """

    feedback_id: Id
    session_id: Id
    counselor_id: Id
    phase: Phase
    turn_id: Annotated[int, Field(ge=0)]
    lang: Lang = "en"
    quote: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    principles: dict[PrincipleKey, Score]
    patterns: dict[PatternKey, Score]
    features: dict[str, bool] = Field(default_factory=dict)
    #: which detector answered each code in ``features`` (code -> detector key): the word rules, or a trained
    #: detector the scorer serves (``score --turn-detector``). The feedback gate judges each such code on that
    #: detector's own record. Empty on records written before it existed: their features were the word rules,
    #: judged on the model's record.
    feature_detectors: dict[str, DetectorKey] = Field(default_factory=dict)
    pattern: PatternKey | None = None
    pattern_source: Literal["features", "model"] | None = None
    principle: PrincipleKey
    next_move: Annotated[str, StringConstraints(min_length=1, max_length=600)]
    model: ModelIdentity
    #: False until turn-level measures pass a validation against a site's human codes.
    validated: bool = False
    prompt_tokens: Annotated[int, Field(ge=0)] = 0
    cached_tokens: Annotated[int, Field(ge=0)] = 0
    latency_ms: Annotated[float, Field(ge=0)] = 0.0
    created_at: UtcDatetime = Field(default_factory=utcnow)

    def rating(self, key: str) -> float | None:
        """The rating of a principle or a pattern, by its key (None when this record has none)."""
        if key in self.principles:
            return self.principles[key]
        return self.patterns.get(cast(PatternKey, key))


#: Most sessions one access record names (a ``subscribe`` takes at most this many).
MAX_ACCESS_SESSIONS = 1000
#: What a viewer did: ``board`` (a snapshot of every session in scope: summaries),
#: ``resume`` (missed events of sessions in scope replayed after a reconnect),
#: ``subscribe`` (focused the board on the named sessions), ``timeline`` (drill-down:
#: the full history of one session, with scores, item reasons and quotes), ``live``
#: (a connection's first live frame with session content — a score, alert, episode,
#: feedback or ack — of sessions its snapshot or resume did not already name).
#: ``coding`` (a load of sampled turns, with their context, on the coding page).
#: Every action names the sessions it showed in ``session_ids``.
AccessAction = Literal["board", "resume", "subscribe", "timeline", "live", "coding"]
#: A display name or key id as it reaches the audit: bounded, non-empty, no edge whitespace.
Label = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS, pattern=r"^\S(.*\S)?$")]


class AccessEvent(Contract):
    """Who viewed which sessions, on ``alliance.access``: the audit trail a supervisor queries.

    Why a stream record and not a direct database write: the gateway replicas hold
    no database connection, and the sink already writes idempotently with a
    dead-letter for what it refuses. No chat text and no scores: only who, what
    action, which session ids, when and through which part. ``event_id`` is unique
    per view (replica id, connection, count), so a re-delivered record adds no row.
    """

    event_id: Id
    action: AccessAction
    #: the token's subject (the name shown on acks)
    viewer: Label
    role: Literal["counselor", "supervisor"]
    #: counselors: their counselor id; supervisors: None
    counselor_id: Id | None = None
    #: the scope a supervisor's token grants ("all" or the groups), for reading the record later
    scope: Annotated[str, StringConstraints(max_length=512)] = ""
    #: key id (``kid``) that signed the token, and the token's id (``jti``, for revocation)
    key_id: Label | None = None
    token_id: Label | None = None
    #: the sessions viewed (a view of more than MAX_ACCESS_SESSIONS is split over several records)
    session_ids: Annotated[list[Id], Field(max_length=MAX_ACCESS_SESSIONS)] = Field(default_factory=list)
    #: how many sessions the view showed (``board``: the snapshot; ``resume``: sessions with missed events)
    sessions_shown: Annotated[int, Field(ge=0)] = 0
    #: which part served the view, and which replica of it
    part: Literal["gateway"] = "gateway"
    replica: Id | None = None
    at: UtcDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _sessions_match_action(self) -> "AccessEvent":
        if self.action == "timeline" and len(self.session_ids) != 1:
            raise ValueError("a timeline view names exactly one session in session_ids")
        if self.action in ("subscribe", "live") and not self.session_ids:
            raise ValueError(f"a {self.action} view names at least one session in session_ids")
        return self


class DeadLetter(Contract):
    """What went to a ``.dlq`` topic: where it came from, why, and the raw bytes."""

    source_topic: str
    reason: str
    raw: str  # the original value; base64 when it was not valid UTF-8
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    key: str | None = None
    partition: int | None = None
    offset: int | None = None
    at: UtcDatetime = Field(default_factory=utcnow)


#: Every contract by name, for codecs, the CLI and docs.
CONTRACTS: dict[str, type[Contract]] = {
    m.__name__: m
    for m in (ChatTurn, SessionEvent, ScoreRequest, AllianceScore, ProcessSignal, AllianceAlert, AlertAck,
              ClientRating, SurveyLink, RuptureEpisode, CounselorFeedback, AccessEvent, DeadLetter)
}
