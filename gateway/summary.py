"""A session as the board shows it: the live state rebuilt from the topics, its summary and its risk.

Pure: :class:`SessionState` holds what the hub learned about one session; its
:meth:`~SessionState.summary` is what a viewer receives (a counselor's leaves out
gated alerts and withheld dimensions) and :func:`risk_of` is the board's sort key — fed only
validated signals (:meth:`SessionState.risk_split`).
"""

from __future__ import annotations

__layer__ = "core"

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from streams.contracts import WATCHED_DIMENSIONS
from validation.detectors import (
    OPENABLE,
    PROCESS_SIGNALS,
    detector_passes,
    detector_table,
    detectors_in_use,
    is_opened,
)
from validation.gate import GATE_VALIDATED, unvalidated_dimensions, validated_dimensions
from validation.records import RecordBook

from .policy import Policy
from .visibility import (
    alert_is_gated,
    episode_for_counselor,
    episode_gate,
    episode_is_gated,
    feedback_is_gated,
)

SEVERITY_WEIGHT = {"critical": 100.0, "warning": 30.0, "info": 5.0}
PHASE_ORDER = ("early", "middle", "late")


@dataclass
class SessionState:
    """What the board shows about one session, rebuilt from the topics."""

    session_id: str
    counselor_id: str | None = None
    group: str | None = None
    started_at: str | None = None
    planned_minutes: float | None = None
    ended_at: str | None = None
    lang: str | None = None
    phase: str | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    model: str | None = None
    model_identity: dict[str, Any] | None = None
    #: (record book, passed, unvalidated) for model_identity: summaries are built for every
    #: event, records and the model change rarely, so the lookup is done once per pair.
    _validated: tuple[RecordBook | None, frozenset[str], frozenset[str]] | None = field(default=None, repr=False,
                                                                                       compare=False)
    #: (record book, (opened detectors, feedback ids), table): the detector table, built once per key
    _detectors: tuple[RecordBook | None, tuple[frozenset[str], tuple[str, ...]], list[dict[str, Any]]] | None = field(
        default=None, repr=False, compare=False)
    signal: dict[str, Any] | None = None
    alerts: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    #: rupture episodes by id, newest version of each, in opening order.
    ruptures: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    #: turn-level counselor feedback by id, the latest few.
    feedback: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    acks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_seen: float = 0.0  # shell clock (seconds) of the last event, for pruning
    ended_seen: float | None = None

    # A counselor-facing summary leaves out gated alerts and the scores of withheld dimensions.
    def summary(self, policy: Policy, for_counselor: bool,
                shared: dict[str, Any] | None = None) -> dict[str, Any]:
        """``shared``: :func:`policy_fields` computed once for a snapshot of many sessions (else here)."""
        if shared is None:
            shared = policy_fields(policy, for_counselor)
        alerts = []
        for alert in self.alerts.values():
            if for_counselor and alert_is_gated(alert, policy):
                continue
            alerts.append({**alert, "acks": self.acks.get(alert["alert_id"], [])})
        withheld = self.withheld(policy) if for_counselor else frozenset()
        scores = {p: {d: v for d, v in dims.items() if d not in withheld} for p, dims in self.scores.items()}
        current, change = _current_and_change(scores)
        ruptures = [episode_for_counselor(v, policy) if for_counselor else v
                    for v in ({**e, "gate": episode_gate(e, policy)} for e in self.ruptures.values())
                    if not (for_counselor and episode_is_gated(v, policy))]
        feedback = [f for f in self.feedback.values() if not (for_counselor and feedback_is_gated(f, policy))]
        ranked, beside = self.risk_split(policy, current, change, alerts, ruptures)
        return {
            "session_id": self.session_id,
            "counselor_id": self.counselor_id,
            "group": self.group,
            "started_at": self.started_at,
            "planned_minutes": self.planned_minutes,
            "ended_at": self.ended_at,
            "lang": self.lang,
            "phase": self.phase,
            "scores": scores,
            "current": current,
            "change": change,
            "model": self.model,
            "validation": self.validation(policy, for_counselor),
            "signal": self.signal,
            "alerts": alerts,
            "ruptures": ruptures,
            "feedback": feedback,
            #: rule detectors the site opened to counselors by setting (the board shows them)
            "opened_detectors": shared["opened_detectors"],
            #: per process flag up now: validated / opened / unvalidated (the board marks the chips)
            "signal_gate": self.signal_gate(policy),
            #: the rule detectors whose notices this viewer does not receive for now (a counselor: every one
            #: with a code neither validated nor opened; the panel says so, like validation mode)
            "rules_withheld": shared["rules_withheld"],
            #: the board's detector table (supervisors): every rule detector and each trained detector this
            #: session's feedback cards rest on, with its identity and each code's state; a counselor: none
            "detectors": [] if for_counselor else self.detectors(policy),
            "unacked": sum(1 for a in alerts if not a["acks"] and a.get("kind") != "recovered"),
            # the board's sort key and "falling" counter rest on validated signals only; what
            # unvalidated ones would add is shown beside it, marked, and moves nothing
            "risk": round(ranked, 2),
            "risk_unvalidated": round(beside, 2),
            "falling": falling(change, self.passed(policy)),
            "falling_unvalidated": falling(change, frozenset(WATCHED_DIMENSIONS) - self.passed(policy)),
        }

    def detectors(self, policy: Policy) -> list[dict[str, Any]]:
        """The detector table: the rule detectors and those the session's feedback records and rupture episodes
        name (``feature_detectors``, ``marker_detectors``: a trained detector a scorer or processor serves). Built once per (records, opened
        detectors, feedback records): a summary goes out with every event, and the table rarely changes."""
        named = [f.get("feature_detectors") or {} for f in self.feedback.values()]
        named += [e.get("marker_detectors") or {} for e in self.ruptures.values()]
        served = sorted({str(k) for e in self.ruptures.values() for k in (e.get("marker_detectors") or {}).values()})
        key = (policy.opened_detectors, (*self.feedback, *served))
        cached = self._detectors
        if cached is not None and cached[0] is policy.record_book and cached[1] == key:
            return cached[2]
        in_use = detectors_in_use(named)
        table = detector_table(policy.record_book, policy.opened_detectors, in_use)
        self._detectors = (policy.record_book, key, table)
        return table

    def signal_gate(self, policy: Policy) -> dict[str, str]:
        """How each process flag that is up now stands with its detector."""
        flags = [str(f) for f in (self.signal or {}).get("flags") or ()]
        return {f: ("validated" if detector_passes(policy.record_book, PROCESS_SIGNALS, f)
                    else "opened" if is_opened(policy.opened_detectors, PROCESS_SIGNALS, f) else "unvalidated")
                for f in flags}

    def passed(self, policy: Policy) -> frozenset[str]:
        """Dimensions the current model is validated for (empty without a model or a record)."""
        return frozenset() if self.model_identity is None else self._verdicts(policy)[0]

    def risk_split(self, policy: Policy, current: dict[str, float], change: dict[str, float],
                   alerts: list[dict[str, Any]], ruptures: list[dict[str, Any]]) -> tuple[float, float]:
        """(risk from validated signals, what the unvalidated ones would add).

        Validated: alerts with ``gate`` validated, scores of dimensions the model passed,
        validated episodes, and process flags whose detector passed. Everything else —
        an unvalidated model's "bond low", a rule nobody checked — is shown beside the
        ranking, never in it: an unvalidated number must not decide whom a supervisor
        looks at first.
        """
        passed = self.passed(policy)
        flags = list((self.signal or {}).get("flags") or ())
        ok_flags = [f for f in flags if detector_passes(policy.record_book, PROCESS_SIGNALS, str(f))]
        ok_alerts = [a for a in alerts if a.get("gate") == GATE_VALIDATED]
        ok_ruptures = [e for e in ruptures if e.get("validated")]
        ranked = risk_of(_only(current, passed), _only(change, passed), ok_alerts,
                         {"flags": ok_flags}, ok_ruptures)
        total = risk_of(current, change, alerts, self.signal, ruptures)
        return ranked, max(0.0, total - ranked)

    def _verdicts(self, policy: Policy) -> tuple[frozenset[str], frozenset[str]]:
        """(passed, unvalidated) dimensions of the current model, looked up once per (book, model)."""
        if self._validated is None or self._validated[0] is not policy.record_book:
            self._validated = (policy.record_book, validated_dimensions(policy.record_book, self.model_identity),
                               unvalidated_dimensions(policy.record_book, self.model_identity))
        return self._validated[1], self._validated[2]

    def withheld(self, policy: Policy) -> frozenset[str]:
        """Dimensions whose scores, items and rationales a counselor must not see."""
        if policy.unvalidated_to_counselors or self.model_identity is None:
            return frozenset()
        return self._verdicts(policy)[1]

    def validation(self, policy: Policy, for_counselor: bool = False) -> dict[str, Any] | None:
        """Which dimensions the scoring model is validated for. ``mode`` ("validation
        mode") tells the counselor that alerts go to supervisors for now;
        ``unvalidated`` marks dimensions on the board; ``withheld`` lists what this
        viewer does not receive (a counselor: the unvalidated dimensions)."""
        if self.model_identity is None:
            return None
        passed, unvalidated = self._verdicts(policy)
        gate_on = not policy.unvalidated_to_counselors
        return {"passed": sorted(passed),
                "mode": gate_on and not set(WATCHED_DIMENSIONS) <= passed,
                "unvalidated": sorted(unvalidated),
                "withheld": sorted(unvalidated) if for_counselor and gate_on else []}


def policy_fields(policy: Policy, for_counselor: bool) -> dict[str, Any]:
    """The summary fields that depend on the policy alone, the same for every session: a snapshot of many
    sessions computes them once (they were a fifth of a counselor's snapshot, rebuilt per session)."""
    return {"opened_detectors": sorted(policy.opened_detectors),
            "rules_withheld": rules_withheld(policy) if for_counselor else []}


def rules_withheld(policy: Policy) -> list[str]:
    """Rule detectors (process-signals, rupture-markers) with a code whose notices a counselor does not get."""
    if policy.unvalidated_to_counselors:
        return []
    return [d.name for d in OPENABLE
            if any(not (detector_passes(policy.record_book, d, c) or is_opened(policy.opened_detectors, d, c))
                   for c in d.codes)]


def _only(values: dict[str, float], dims: frozenset[str]) -> dict[str, float]:
    return {d: v for d, v in values.items() if d in dims}


#: a watched dimension this much lower than in the previous phase is "falling" (the board's counter).
FALLING_DELTA = -0.3


def falling(change: dict[str, float], dims: frozenset[str]) -> bool:
    """Has one of ``dims`` (of the watched ones) fallen by at least 0.3 since the previous phase?"""
    return any(d in dims and change.get(d, 0.0) <= FALLING_DELTA for d in WATCHED_DIMENSIONS)


def _current_and_change(scores: dict[str, dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    phases = [p for p in PHASE_ORDER if p in scores]
    if not phases:
        return {}, {}
    current = scores[phases[-1]]
    if len(phases) < 2:
        return current, {}
    previous = scores[phases[-2]]
    return current, {d: round(current[d] - previous[d], 3) for d in current if d in previous}


def risk_of(current: dict[str, Any], change: dict[str, Any], alerts: list[dict[str, Any]], signal: dict[str, Any] | None,
            ruptures: list[dict[str, Any]] | tuple[dict[str, Any], ...] = ()) -> float:
    """How much a supervisor should look at this session now (sort key of the board).

    Unacknowledged alerts dominate (by severity); then low or falling goal/bond;
    then open rupture episodes; then process flags. Acknowledged alerts count a
    tenth: someone is on it.
    """
    risk = 0.0
    for alert in alerts:
        if alert.get("kind") == "recovered":
            continue
        weight = SEVERITY_WEIGHT.get(alert.get("severity", "info"), 5.0)
        risk += weight * (0.1 if alert.get("acks") else 1.0)
    for dim in WATCHED_DIMENSIONS:
        if dim in current:
            risk += max(0.0, 3.5 - current[dim]) * 10
        if dim in change:
            risk += max(0.0, -change[dim]) * 20
    risk += 10.0 * sum(1 for e in ruptures if not e.get("closed"))
    if signal:
        risk += 3.0 * len(signal.get("flags") or ())
    return risk


def later_phase(a: str | None, b: str | None) -> str | None:
    """The later of two phases (an unknown phase never wins)."""
    if b not in PHASE_ORDER:
        return a
    if a not in PHASE_ORDER:
        return b
    return b if PHASE_ORDER.index(b) > PHASE_ORDER.index(a) else a
