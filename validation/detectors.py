"""The rule detectors behind counselor-facing notices, and the gate over them (docs/validation.md#detectors).

Why rules get a gate too: a process-signal note ("withdrawal"), a rupture notice
opened by client markers and the word patterns behind a feedback card speak to a
counselor as surely as a model's alert does, and measured against human coding
they are no better than an unvalidated model (issue 23). So each detector has an
*identity* (name and version: a changed rule is a new detector whose old record
no longer speaks for it) and is held to the same bar as a model: its notices
reach a counselor only once a turn-level validation record of exactly that
identity passes for the code the notice rests on. Until then they go to
supervisors only, marked unvalidated. On a new site no detector is validated.

A site may knowingly open a detector (or one of its codes) to counselors with a
setting (``--open-detector``); the gateway logs it at start and shows it on the
board. Pure: records and events in, yes or no out.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from streams.contracts import AllianceAlert, ModelIdentity, RuptureEpisode

from .records import RecordBook, model_key

#: The readout name a detector's identity carries, so a detector's record never collides with a model's.
DETECTOR_PROMPT_VERSION = "rules"
#: The readout name of a rule detector's *episode* identity: its session-level record (rupture episodes against
#: the coders' per-session rupture codes, ``eval-turns``) is kept apart from its turn-level marker record.
EPISODES_PROMPT_VERSION = "rules.episodes"


@dataclass(frozen=True)
class Detector:
    """One rule detector: a stable name, the version of its rules, and the codes its notices rest on."""

    name: str
    version: str
    codes: tuple[str, ...]
    summary: str
    #: "rules", or "trained" for a detector learnt from a site's codes (``train-turns``; its version is the
    #: hash of its model file, so a retrained or edited model is a new detector with no record)
    kind: str = "rules"

    @property
    def identity(self) -> ModelIdentity:
        """The identity its validation record is filed under (``eval-turns --record --detector NAME``)."""
        prompt = DETECTOR_PROMPT_VERSION if self.kind == "rules" else self.kind
        return ModelIdentity(name=f"{self.kind}.{self.name}", revision=self.version, prompt_version=prompt,
                             readout="expected")

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}" if self.kind == "rules" else f"{self.kind}.{self.name}@{self.version}"


#: The process-signal flags (``streams.signals``): rolling windows of reply length, pace and word rules.
#: Version 2: acknowledgements and questions read against this client's rhythm (issue 23).
PROCESS_SIGNALS = Detector(
    "process-signals", "2",
    ("withdrawal", "slow_replies", "idle", "rushing", "over_directing", "minimal_responses"),
    "process-signal flags over rolling windows (streams/signals.py)")
#: The client rupture-marker rules (``streams.rupture_cues`` + ``streams.ruptures``); codes are episode kinds.
#: Version 2: short acknowledgements are read against this client's own rhythm (issue 23).
RUPTURE_MARKERS = Detector(
    "rupture-markers", "2", ("withdrawal", "confrontation"),
    "client rupture markers that open a rupture episode (streams/rupture_cues.py, streams/ruptures.py)")
#: The counselor word rules behind feedback cards (``scoring.turn_features``). They travel inside the
#: scorer's feedback records, which name them per code (``feature_detectors``), so the feedback gate checks
#: those codes on this detector's record (or, for a code a served trained detector answered, on that one's).
COUNSELOR_WORDS = Detector(
    "counselor-words", "1", ("open_question", "closed_question", "reflection", "directive", "self_disclosure"),
    "word-level counselor features behind feedback cards (scoring/turn_features.py)")

DETECTORS: dict[str, Detector] = {d.name: d for d in (PROCESS_SIGNALS, RUPTURE_MARKERS, COUNSELOR_WORDS)}
#: Detectors whose notices are their own (and so can be opened by setting). The counselor word rules only
#: speak inside a model's feedback card, which the feedback gate decides (validation.gate.feedback_validated).
OPENABLE: tuple[Detector, ...] = (PROCESS_SIGNALS, RUPTURE_MARKERS)

#: What a shell logs (WARNING) for each detector opened to counselors by setting.
OPENED_WARNING = ("detector {what} OPENED to counselors by setting without a passing validation record: its notices "
                  "reach counselors, marked unvalidated on the board (docs/validation.md#detectors)")


def episode_identity(detector: Detector) -> ModelIdentity:
    """The identity a detector's session-level (episode) record is filed under: the detector's name and version."""
    return detector.identity.model_copy(update={"prompt_version": EPISODES_PROMPT_VERSION})


def _passes(book: RecordBook, identity: ModelIdentity, code: str) -> bool:
    try:
        record = book.for_turns(identity)
    except Exception:  # noqa: BLE001 - a record we cannot read validates nothing
        return False
    return record is not None and record.passes(code)


def detector_passes(book: RecordBook | None, detector: Detector, code: str) -> bool:
    """Has this exact detector identity a record against human codes that passes ``code``? False on any doubt.

    The rupture-marker rules have two: their turn-level marker record, and their episode record (the episodes they
    open against the coders' per-session rupture codes); either passing the code validates it.
    """
    if book is None:
        return False
    if _passes(book, detector.identity, code):
        return True
    return detector is RUPTURE_MARKERS and _passes(book, episode_identity(detector), code)


def parse_opened(specs: Iterable[str]) -> frozenset[str]:
    """``--open-detector`` values (``NAME`` or ``NAME:CODE``) checked against the registry.

    Raises ValueError naming the known detectors and codes: a typo must not
    silently leave a rule closed that a site meant to open (or the reverse).
    """
    out: set[str] = set()
    for raw in specs:
        spec = raw.strip()
        name, _, code = spec.partition(":")
        detector = DETECTORS.get(name)
        if detector is None or detector not in OPENABLE:
            raise ValueError(f"no detector {name!r} can be opened (these can: {', '.join(d.name for d in OPENABLE)})")
        if code and code not in detector.codes:
            raise ValueError(f"{name} has no code {code!r} (its codes: {', '.join(detector.codes)})")
        out.add(spec)
    return frozenset(out)


def is_opened(opened: frozenset[str], detector: Detector, code: str) -> bool:
    """Did the site open this detector, or this code of it, by setting?"""
    return detector.name in opened or f"{detector.name}:{code}" in opened


def _get(obj: Mapping[str, Any] | Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def episode_codes(episode: Mapping[str, Any] | Any) -> tuple[str, ...]:
    """The marker codes a markers-opened episode rests on: its kind; a mixed one rests on both families."""
    kind = _get(episode, "kind")
    if kind == "mixed":
        return RUPTURE_MARKERS.codes
    return (str(kind),) if kind in RUPTURE_MARKERS.codes else ()


def marker_detector(episode: Mapping[str, Any] | Any, code: str) -> Detector | None:
    """The detector that answered ``code`` in this episode: a served trained one its record names
    (``marker_detectors``, ``process --rupture-detector``), else the rupture-marker rules; None for a key this
    release cannot read (it then validates nothing)."""
    key = (_get(episode, "marker_detectors") or {}).get(code)
    return RUPTURE_MARKERS if key is None else detector_of_key(str(key), (code,))


def markers_pass(book: RecordBook | None, episode: Mapping[str, Any] | Any) -> bool:
    """Does the detector that answered each code this episode rests on pass for it? (False for none.)"""
    codes = episode_codes(episode)
    return bool(codes) and all((d := marker_detector(episode, c)) is not None and detector_passes(book, d, c)
                               for c in codes)


def gate_process_alert(alert: AllianceAlert, book: RecordBook | None) -> AllianceAlert:
    """A process alert with ``validated`` from the process-signal detector's record (what the processor
    publishes); any other alert unchanged (the model gate, :func:`validation.gate.apply_gate`, sets it)."""
    if alert.kind != "process":
        return alert
    ok = alert.signal is not None and detector_passes(book, PROCESS_SIGNALS, alert.signal)
    return alert if alert.validated == ok else alert.model_copy(update={"validated": ok})


def gate_episode(episode: RuptureEpisode, book: RecordBook | None) -> RuptureEpisode:
    """An episode with ``validated``: its markers passed as a detector, or its model drop was validated."""
    drop_ok = episode.model_drop is not None and episode.model_drop.validated
    ok = drop_ok or ("markers" in episode.sources and markers_pass(book, episode))
    return episode if episode.validated == ok else episode.model_copy(update={"validated": ok})


def opened_alert(alert: Mapping[str, Any] | Any, opened: frozenset[str]) -> bool:
    """Is this (process) alert's detector code opened to counselors by setting?"""
    signal = _get(alert, "signal")
    return _get(alert, "kind") == "process" and bool(signal) and is_opened(opened, PROCESS_SIGNALS, str(signal))


def opened_episode(episode: Mapping[str, Any] | Any, opened: frozenset[str]) -> bool:
    """Is this markers-opened episode's detector opened to counselors by setting, for every code it rests on?
    Only the rules can be opened: a code a served trained detector answered needs that detector's record."""
    codes = episode_codes(episode)
    return ("markers" in (_get(episode, "sources") or ()) and bool(codes)
            and all(marker_detector(episode, c) is RUPTURE_MARKERS and is_opened(opened, RUPTURE_MARKERS, c)
                    for c in codes))


def detector_of_key(key: str, codes: Iterable[str] = ()) -> Detector | None:
    """The detector a :attr:`Detector.key` names (a feedback record's ``feature_detectors``): a registered rule
    detector, an earlier version of one, or a trained one (with ``codes``, the codes it was seen answering).
    None for a key this release cannot read: it then validates nothing."""
    head, sep, version = key.rpartition("@")
    if not sep or not head or not version:
        return None
    kind, dot, name = head.partition(".")
    if not dot:
        rule = DETECTORS.get(head)
        if rule is None:
            return None
        return rule if rule.version == version else Detector(head, version, tuple(codes), rule.summary)
    parent = DETECTORS.get(name)
    if kind != "trained" or parent is None:
        return None
    return Detector(name, version, tuple(codes), f"trained on a site's codes, standing in for {parent.key}",
                    kind="trained")


def detectors_in_use(feature_detectors: Iterable[Mapping[str, str]]) -> list[Detector]:
    """The detectors other than this release's rules that feedback records name (their ``feature_detectors``),
    each with the codes it answered, in first-seen order: a trained detector a scorer serves."""
    codes: dict[str, list[str]] = {}
    for mapping in feature_detectors:
        for code, key in mapping.items():
            seen = codes.setdefault(key, [])
            if code not in seen:
                seen.append(code)
    rules = {d.key for d in DETECTORS.values()}
    out = [detector_of_key(key, tuple(found)) for key, found in codes.items() if key not in rules]
    return [d for d in out if d is not None]


def detector_status(book: RecordBook | None, detector: Detector, code: str,
                    opened: frozenset[str] = frozenset()) -> str:
    """validated / opened (by setting; rule detectors only) / unvalidated."""
    if detector_passes(book, detector, code):
        return "validated"
    return "opened" if detector.kind == "rules" and is_opened(opened, detector, code) else "unvalidated"


def status_rows(book: RecordBook | None, opened: frozenset[str] = frozenset(),
                in_use: Iterable[Detector] = ()) -> list[dict[str, Any]]:
    """One row per detector and code: validated / opened by setting / unvalidated (``models status``, the board):
    the rule detectors, then ``in_use`` (trained detectors a scorer serves, :func:`detectors_in_use`)."""
    rows = []
    for d in (*DETECTORS.values(), *in_use):
        for code in d.codes:
            rows.append({"detector": d.key, "kind": d.kind, "identity": model_key(d.identity), "code": code,
                         "status": detector_status(book, d, code, opened)})
    return rows


def detector_table(book: RecordBook | None, opened: frozenset[str] = frozenset(),
                   in_use: Iterable[Detector] = ()) -> list[dict[str, Any]]:
    """The board's detector table: one entry per detector — the rule detectors, then ``in_use`` — with its
    identity (the record it is judged on) and each code's state (validated / opened / unvalidated)."""
    return [{"detector": d.key, "kind": d.kind, "identity": model_key(d.identity), "summary": d.summary,
             "codes": {c: detector_status(book, d, c, opened) for c in d.codes}}
            for d in (*DETECTORS.values(), *in_use)]


def _records_of(book: RecordBook, detector: Detector) -> list[Any]:
    """The records a detector is judged on: its turn-level record and (rupture-marker rules) its episode record."""
    ids = [detector.identity] + ([episode_identity(detector)] if detector is RUPTURE_MARKERS else [])
    out = []
    for identity in ids:
        try:
            record = book.for_turns(identity)
        except Exception:  # noqa: BLE001 - a record we cannot read is no record
            record = None
        if record is not None:
            out.append(record)
    return out


def recorded_detectors(book: RecordBook | None) -> list[Detector]:
    """The trained detectors the book holds a turn-level record for (``eval-turns --detector trained.… --record``),
    each with the codes its record judged, in key order."""
    out: dict[str, Detector] = {}
    for record in book or ():
        name, prompt = record.model.name, record.model.prompt_version
        if record.level != "turn" or prompt != "trained" or not name.startswith("trained."):
            continue
        detector = detector_of_key(f"{name}@{record.model.revision}", tuple(record.dimensions))
        if detector is not None:
            out.setdefault(detector.key, detector)
    return [out[k] for k in sorted(out)]


def record_rows(book: RecordBook | None) -> list[dict[str, Any]]:
    """``models status``: one row per detector — the rule detectors, then every trained detector with a record —
    with the identity its record is filed under, the date of its newest record (None: no record) and its codes
    passed, failed (judged and not passed) and not judged."""
    rows = []
    for d in (*DETECTORS.values(), *recorded_detectors(book)):
        records = _records_of(book, d) if book is not None else []
        judged = {c for r in records for c in r.dimensions}
        passed = [c for c in d.codes if detector_passes(book, d, c)]
        rows.append({"detector": d.key, "kind": d.kind, "identity": model_key(d.identity),
                     "date": max(r.created_at for r in records).date().isoformat() if records else None,
                     "passed": passed, "failed": [c for c in d.codes if c in judged and c not in passed],
                     "unjudged": [c for c in d.codes if c not in judged]})
    return rows
