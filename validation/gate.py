"""The validation gate's routing (docs/validation.md): who may see an alert, a score, an episode, a card.

The one place that decides: the processor sets ``validated`` on each alert
(:func:`apply_gate`), the gateway routes by it (:func:`reaches_counselor`,
:func:`withheld_from_counselors`), the scorer flags turn-level feedback
(:func:`feedback_validated`). A model's output reaches a counselor only once its
own validation record (:mod:`validation.records`) passes for that dimension or
code; the decision behind a record is :mod:`validation.verdict`. Pure: records
and events in, yes or no out.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from streams.contracts import DIMENSIONS, AllianceAlert, ModelIdentity

from .detectors import detector_of_key, detector_passes
from .records import RecordBook, ValidationRecord, model_key

#: What the counselor panel shows instead of an unvalidated model's alerts.
VALIDATION_MODE_NOTICE = ("This session is being monitored in validation mode: the model has not yet been "
                          "validated on this site's client ratings, so its alerts go to supervisors only.")
#: What a shell should log (at WARNING) when the gate is switched off.
GATE_OFF_WARNING = ("validation gate DISABLED by setting: alerts from unvalidated models will reach counselors "
                    "(docs/validation.md)")
UNVALIDATED = "unvalidated"


@dataclass(frozen=True)
class Audience:
    """Who may receive one alert, and how it is marked."""

    supervisors: bool
    counselor: bool
    validated: bool
    mark: str | None  # "unvalidated" or None
    reason: str


def _get(alert: AllianceAlert | Mapping[str, Any], name: str) -> Any:
    return alert.get(name) if isinstance(alert, Mapping) else getattr(alert, name, None)


# --- routing: the one place that decides who sees an alert ------------------------------------

#: The gate's verdict on a published alert, as the gateway tells the pages (event field ``gate``):
#: ``validated`` (the model passed for this dimension, or the process-signal detector for this flag),
#: ``unvalidated`` (supervisors only, unless the gate is disabled by setting), and — set by the
#: gateway only — ``opened`` (a detector the site opened to counselors by setting,
#: :mod:`validation.detectors`). ``GATE_PROCESS`` is kept for readers of older labels.
GATE_PROCESS, GATE_VALIDATED, GATE_UNVALIDATED, GATE_OPENED = "process", "validated", UNVALIDATED, "opened"


def is_process_alert(alert: AllianceAlert | Mapping[str, Any]) -> bool:
    """Process alerts come from the process-signal rules, not from the model: their flag is set by the
    detector gate (:func:`validation.detectors.gate_process_alert`), not by a model's record."""
    return bool(_get(alert, "kind") == "process" or _get(alert, "dimension") == "process")


def gate_label(alert: AllianceAlert | Mapping[str, Any]) -> str:
    """``validated`` or ``unvalidated`` for an alert the processor published (reads its flag): a model's
    alert by its model's record, a process alert by the process-signal detector's."""
    return GATE_VALIDATED if _get(alert, "validated") else GATE_UNVALIDATED


def reaches_counselor(alert: AllianceAlert | Mapping[str, Any], gate_enabled: bool = True) -> bool:
    """May a counselor see this published alert? Only a validated one (model or detector), unless
    the gate is disabled by setting (demo only)."""
    return not gate_enabled or gate_label(alert) != GATE_UNVALIDATED


def episode_reaches_counselor(episode: Mapping[str, Any] | Any, gate_enabled: bool = True) -> bool:
    """May a counselor see this rupture episode? Only a validated one: opened by client markers whose
    detector passed for the episode's kind, or by a validated model drop
    (:func:`validation.detectors.gate_episode` sets the flag) — unless the gate is disabled by setting."""
    return not gate_enabled or bool(_get(episode, "validated"))


def feedback_reaches_counselor(feedback: Mapping[str, Any] | Any, gate_enabled: bool = True) -> bool:
    """May a counselor see this turn-level feedback? A model output: only once validated."""
    return not gate_enabled or bool(_get(feedback, "validated"))


def record_matches(record: ValidationRecord | None, model: ModelIdentity | str | None) -> bool:
    """Does this record speak for that model? Full identity when known, else the name."""
    if record is None or model is None:
        return False
    if isinstance(model, ModelIdentity):
        return record.model == model
    return record.model.name == model


def audience_for(alert: AllianceAlert | Mapping[str, Any], record: ValidationRecord | None,
                 gate_enabled: bool = True, model: ModelIdentity | None = None) -> Audience:
    """Supervisors always; the counselor only if the model passed for this alert's dimension.

    ``model`` is the full identity of the scoring model (the processor has it
    from the ``AllianceScore``); without it the alert's model *name* is matched,
    which cannot tell revisions apart. Process alerts come from turn statistics,
    not from the model, so the gate does not apply to them.
    """
    dimension = _get(alert, "dimension")
    if is_process_alert(alert):
        ok = bool(_get(alert, "validated"))
        why = ("process alert: its process-signal detector passed for this flag" if ok else
               "process alert: its process-signal detector has no passing record for this flag")
        return Audience(True, ok or not gate_enabled, ok, None if ok else UNVALIDATED,
                        why + ("" if ok else "; gate disabled by setting, counselor receives it" if not gate_enabled
                               else "; supervisors only"))
    who = model if model is not None else _get(alert, "model")
    shown = model_key(who) if isinstance(who, ModelIdentity) else (who or "unknown model")
    if record is None:
        validated, why = False, f"no validation record for {shown}"
    elif not record_matches(record, who):
        validated, why = False, f"the validation record is for {record.key}, not {shown}"
    elif not record.passes(dimension):
        verdict = record.dimensions.get(dimension)
        detail = verdict.reason if verdict else f"{dimension} was not evaluated"
        validated, why = False, (f"{shown} is not validated for {dimension} (record of "
                                 f"{record.created_at.date().isoformat()}, n={record.labels_n}): {detail}")
    else:
        validated, why = True, (f"{shown} validated for {dimension} (record of "
                                f"{record.created_at.date().isoformat()}, n={record.labels_n})")
    mark = None if validated else UNVALIDATED
    if validated:
        return Audience(True, True, True, None, why)
    if not gate_enabled:
        return Audience(True, True, False, mark, why + "; gate disabled by setting, counselor receives it")
    return Audience(True, False, False, mark, why + "; supervisors only")


def counselor_may_see(dimension: str, record: ValidationRecord | None, model: ModelIdentity | str | None,
                      gate_enabled: bool = True) -> bool:
    """May a counselor see this model's output for ``dimension`` — its alerts, scores, item detail, rationales?

    Only when this model's own record passes for that dimension (or the gate is
    switched off). Everything a counselor could read about a dimension is held
    to the same bar as its alerts: a number on the panel invites action as much
    as an alert does. Fails closed: no record, another model's record, or a
    failing dimension all withhold.
    """
    if not gate_enabled:
        return True
    return record_matches(record, model) and record is not None and record.passes(dimension)


def withheld_from_counselors(record: ValidationRecord | None, model: ModelIdentity | str | None,
                             gate_enabled: bool = True,
                             dimensions: Sequence[str] = DIMENSIONS) -> frozenset[str]:
    """The dimensions whose model output counselors must not see (supervisors see it, marked unvalidated)."""
    return frozenset(d for d in dimensions if not counselor_may_see(d, record, model, gate_enabled))


def apply_gate(alert: AllianceAlert, record: ValidationRecord | None, model: ModelIdentity) -> AllianceAlert:
    """The alert with ``validated`` set from the record (what the processor publishes).

    Whether the flag lets a counselor see the alert is :func:`reaches_counselor`,
    which the gateway calls with its own ``gate_enabled`` setting.
    """
    audience = audience_for(alert, record, model=model)
    return alert.model_copy(update={"validated": audience.validated})


def validated_dimensions(book: "RecordBook | None", model: ModelIdentity | Mapping[str, Any] | None) -> frozenset[str]:
    """Dimensions for which ``model`` has a passing validation record; empty on any doubt (fails closed)."""
    if book is None or not model:
        return frozenset()
    try:
        identity = model if isinstance(model, ModelIdentity) else ModelIdentity.model_validate(model)
        record = book.for_model(identity)
    except Exception:  # noqa: BLE001 - a record we cannot read validates nothing
        return frozenset()
    return frozenset(record.passed_dimensions()) if record is not None else frozenset()


def unvalidated_dimensions(book: "RecordBook | None",
                           model: ModelIdentity | Mapping[str, Any] | None) -> frozenset[str]:
    """Dimensions of ``model``'s output counselors must not see (:func:`withheld_from_counselors`);
    every dimension on any doubt (fails closed). Supervisors still see them, marked unvalidated."""
    try:
        identity = model if isinstance(model, ModelIdentity) or model is None else ModelIdentity.model_validate(model)
        record = book.for_model(identity) if book is not None and identity is not None else None
        return withheld_from_counselors(record, identity)
    except Exception:  # noqa: BLE001 - a record we cannot read validates nothing
        return frozenset(DIMENSIONS)


# --- the feedback gate: may a counselor see this turn-level feedback record? -----------------------

#: The word features a pattern found by the words alone (``pattern_source="features"``) is read from
#: (``scoring.turn_features.feature_patterns``): a directive oversteps; a short turn with no
#: reflection and no question is passive.
FEATURE_PATTERN_CODES: dict[str, tuple[str, ...]] = {
    "boundary_overstepping": ("directive",),
    "passive_response": ("reflection", "open_question", "closed_question"),
}


def feedback_codes(feedback: Mapping[str, Any] | Any) -> tuple[str, ...]:
    """The turn codes whose agreement with human codes a feedback card rests on.

    The card shows a counselor the principle to work on (with its next move) and,
    when there is one, the poor-alliance pattern. Each must have passed as a code:
    the principle's code, the pattern's code, and — for a pattern the word
    features found — the features the word rule reads. Conservative on purpose:
    a principle derived from a pattern is still a claim about that principle.
    """
    codes: list[str] = []
    principle, pattern = _get(feedback, "principle"), _get(feedback, "pattern")
    if principle:
        codes.append(str(principle))
    if pattern:
        codes.append(str(pattern))
        if _get(feedback, "pattern_source") == "features":
            codes.extend(FEATURE_PATTERN_CODES.get(str(pattern), ()))
    return tuple(dict.fromkeys(codes))


def model_codes(feedback: Mapping[str, Any] | Any) -> tuple[str, ...]:
    """The codes of :func:`feedback_codes` the model's own record judges: all but the word-level codes a turn
    detector answered (``feature_detectors``). A record written before detectors were named has none: its
    word features are judged on the model's record, as they were."""
    answered = _get(feedback, "feature_detectors") or {}
    return tuple(c for c in feedback_codes(feedback) if c not in answered)


def detector_codes(feedback: Mapping[str, Any] | Any) -> dict[str, str]:
    """The codes of :func:`feedback_codes` a turn detector answered, with that detector's key."""
    answered = _get(feedback, "feature_detectors") or {}
    return {c: str(answered[c]) for c in feedback_codes(feedback) if c in answered}


def feedback_passes(record: ValidationRecord | None, feedback: Mapping[str, Any] | Any) -> bool:
    """Does this model's turn-level record pass its part of this feedback? Its exact identity, level ``turn``,
    and every code the card rests on that the model answered (:func:`model_codes`) passed. Fails closed: no
    record, another identity, a session-level record, a card naming nothing, or one failing or unevaluated code."""
    if record is None or record.level != "turn":
        return False
    model = _get(feedback, "model")
    try:
        identity = model if isinstance(model, ModelIdentity) else ModelIdentity.model_validate(model)
    except Exception:  # noqa: BLE001 - an unreadable identity validates nothing
        return False
    return record.model == identity and bool(feedback_codes(feedback)) and all(
        record.passes(c) for c in model_codes(feedback))


def detectors_pass(book: "RecordBook | None", feedback: Mapping[str, Any] | Any) -> bool:
    """Does every word-level code the card rests on pass on the record of the detector that answered it (the
    word rules, or the trained detector the scorer serves)? True when no detector answered one."""
    for code, key in detector_codes(feedback).items():
        detector = detector_of_key(key, (code,))
        if detector is None or not detector_passes(book, detector, code):
            return False
    return True


def feedback_validated(book: "RecordBook | None", feedback: Mapping[str, Any] | Any) -> bool:
    """The ``validated`` flag for a feedback record: the newest turn-level record of its exact model identity
    passes the codes the model answered (:func:`feedback_passes`), and each word-level code passes on the record
    of the detector that answered it (:func:`detectors_pass`). False on any doubt."""
    if book is None:
        return False
    try:
        model = _get(feedback, "model")
        identity = model if isinstance(model, ModelIdentity) else ModelIdentity.model_validate(model)
        return feedback_passes(book.for_turns(identity), feedback) and detectors_pass(book, feedback)
    except Exception:  # noqa: BLE001 - a record we cannot read validates nothing
        return False
