"""Alert policy (docs/streams.md#alerts-from-scores): when a phase score should warn someone. Pure: no I/O.

Why this shape:

* **Two rules, watched dimensions only.** Bond and goal by default (approach can
  be added): a *drop* from the previous phase by at least δ, or a *low* level
  below τ. Those are the two things a supervisor can act on mid-session.
* **Hysteresis.** An alert fires at one threshold and clears only past a separate,
  safer one (low: ``low_fire`` < ``low_clear``; drop: back within ``drop_clear``
  of the level before the drop). Without it a score wobbling around τ would
  alert every phase.
* **State changes only.** The counselor hears "bond dropped" once, then
  "recovered" once; a dimension that stays low says nothing more, unless it gets
  worse (an escalation to a higher severity tier is a state change).
* **Budget.** At most ``budget`` drop/low notifications per session; a critical
  one still goes through (``critical_bypasses_budget``). A "recovered" is only
  sent for an alert that was actually sent.
* **Evidence.** Every alert carries the items of its dimension that moved most
  (or score lowest), with the model's rationale and only *verified* quotes
  (a quote the model made up is not evidence).
* **Settings per model.** A small model's scores cluster near the middle of the
  scale; its thresholds are the defaults compressed towards the centre
  (:meth:`AlertSettings.compressed`), chosen by model name.
* **Deterministic ids.** ``alert_id = session:phase:dimension:kind``, so a replayed
  score yields the same alert (consumers dedupe by id), and the policy skips a
  phase it has already seen.

The policy state is a plain JSON-able dict (kept in a Faust table by the shell).
``validated`` stays False here: the model validation gate (a later issue)
decides it.
"""

from __future__ import annotations

__layer__ = "core"

import copy
import fnmatch
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Mapping, TypedDict

from .contracts import (
    DIMENSIONS,
    PHASES,
    WATCHED_DIMENSIONS,
    AllianceAlert,
    AllianceScore,
    Dimension,
    Evidence,
    Phase,
    derived_id,
)
from .signal_notes import signal_note

Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["drop", "low", "recovered"]


class _Stamp(TypedDict, total=False):
    """``created_at`` of an alert when the caller gives the time (else the contract's default: now)."""

    created_at: datetime

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds on the WAI-SR 1–5 scale (dimension score = mean of 4 items)."""

    watched: tuple[Dimension, ...] = WATCHED_DIMENSIONS
    drop_fire: float = 0.5  # δ: fire when a dimension falls this much from the previous phase
    drop_critical: float = 1.0
    drop_clear: float = 0.2  # recovered when back within this of the level before the drop
    low_fire: float = 2.5  # τ: fire below this level
    low_critical: float = 2.0
    low_clear: float = 2.9  # recovered at or above this level
    budget: int = 4  # drop/low notifications per session
    critical_bypasses_budget: bool = True
    evidence_items: int = 2
    process_budget: int = 3  # process (signal) notifications per session
    #: process notes per phase: one. Several flags up at once gave a counselor three "Chat rhythm"
    #: notes in a row (issue 23); the first raised speaks, the others stay on the board's signals.
    process_per_phase: int = 1

    def __post_init__(self) -> None:
        if not self.low_critical <= self.low_fire < self.low_clear:
            raise ValueError("need low_critical <= low_fire < low_clear (hysteresis)")
        if not 0 <= self.drop_clear < self.drop_fire <= self.drop_critical:
            raise ValueError("need 0 <= drop_clear < drop_fire <= drop_critical (hysteresis)")
        unknown = set(self.watched) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown watched dimension(s): {sorted(unknown)}")

    def compressed(self, factor: float, center: float = 3.0) -> "AlertSettings":
        """The same policy for a model whose scores spread ``factor`` times as wide."""
        if not 0 < factor <= 1:
            raise ValueError("compression factor must be in (0, 1]")

        def level(x: float) -> float:
            return center + (x - center) * factor

        return replace(
            self,
            drop_fire=self.drop_fire * factor,
            drop_critical=self.drop_critical * factor,
            drop_clear=self.drop_clear * factor,
            low_fire=level(self.low_fire),
            low_critical=level(self.low_critical),
            low_clear=level(self.low_clear),
        )


@dataclass(frozen=True)
class SettingsBook:
    """Settings per model name (``fnmatch`` patterns, first match wins)."""

    default: AlertSettings = field(default_factory=AlertSettings)
    per_model: tuple[tuple[str, AlertSettings], ...] = ()

    def for_model(self, name: str | None) -> AlertSettings:
        for pattern, settings in self.per_model:
            if name and fnmatch.fnmatch(name.lower(), pattern.lower()):
                return settings
        return self.default

    def watched(self) -> tuple[Dimension, ...]:
        """Every dimension some model's settings watch, in contract order: what a score request
        asks rationales for (the model is known only once the score is back)."""
        wanted = set(self.default.watched).union(*(s.watched for _, s in self.per_model))
        return tuple(d for d in DIMENSIONS if d in wanted)

    @classmethod
    def builtin(cls) -> "SettingsBook":
        """Defaults, plus the embedded demo model whose scale is compressed (docs/scoring.md#models)."""
        base = AlertSettings()
        return cls(base, (("*smollm2*", base.compressed(0.3)),))

    @classmethod
    def from_json(cls, path: str | Path) -> "SettingsBook":
        """``{"default": {...}, "models": {"pattern": {..., "compression": 0.3}}}``."""
        data = json.loads(Path(path).read_text())
        base = _settings_from(AlertSettings(), data.get("default", {}))
        per_model = tuple((pattern, _settings_from(base, spec)) for pattern, spec in data.get("models", {}).items())
        return cls(base, per_model)


def _settings_from(base: AlertSettings, spec: dict[str, Any]) -> AlertSettings:
    spec = dict(spec)
    factor = spec.pop("compression", None)
    center = spec.pop("center", 3.0)
    if "watched" in spec:
        spec["watched"] = tuple(spec["watched"])
    unknown = set(spec) - set(AlertSettings.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown alert setting(s): {sorted(unknown)}")
    settings = replace(base, **spec)
    return settings.compressed(float(factor), float(center)) if factor is not None else settings


# --- state -------------------------------------------------------------------------


def new_state() -> dict[str, Any]:
    return {"phases": [], "last_index": -1, "dims": {}, "items": {}, "sent": 0, "process": {"active": [], "notified": [], "sent": 0}}


def scored_every_phase(state: dict[str, Any] | None) -> bool:
    """Has the policy seen the session's last phase? Only then may its memory go.

    A session is forgotten by the processor some time after it closed, but its
    scores can come later still (a scorer that lags or was down): dropping the
    policy's memory before the last phase is scored would re-fire, as new, alerts
    the counselor already had.
    """
    if not state:
        return False
    return PHASES[-1] in state.get("phases", ())


#: marks the memory of a session the processor forgot before its last phase was scored
FORGOTTEN = "forgotten"


def memory_at_forget(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the processor keeps of the policy's memory when it forgets the session:
    nothing once every phase is scored, else the memory marked forgotten (see
    :func:`scored_every_phase`), to go when the last score comes."""
    if scored_every_phase(state):
        return None
    return {**(state or new_state()), FORGOTTEN: True}


def memory_done(previous: dict[str, Any] | None, state: dict[str, Any]) -> bool:
    """After a score: may the memory go? Only for a forgotten session whose last phase is now scored."""
    return bool((previous or {}).get(FORGOTTEN)) and scored_every_phase(state)


def _dim_state() -> dict[str, Any]:
    return {"active": False, "kinds": [], "severity": None, "notified": False, "reference": None, "last": None}


def alert_id(session_id: str, phase: str, dimension: str, kind: str) -> str:
    """Deterministic (a replayed score gives the same alert id) and never longer than an Id."""
    return derived_id(session_id, phase, dimension, kind)


def _dimension_level(score: AllianceScore, dim: Dimension) -> float | None:
    if dim in score.dimensions:
        return score.dimensions[dim].score
    values = [i.expected for i in score.items if i.dimension == dim]
    return sum(values) / len(values) if values else None


def _evidence(score: AllianceScore, dim: str, prev_items: dict[str, float], k: int, note: str) -> list[Evidence]:
    rows = []
    for item in score.items:
        if item.dimension != dim:
            continue
        prev = prev_items.get(item.item_id)
        delta = None if prev is None else item.expected - prev
        rows.append((delta if delta is not None else 0.0, item.expected, item, prev, delta))
    # most negative movement first; ties (or no previous phase): the lowest items
    rows.sort(key=lambda r: (r[0], r[1]))
    out = [
        Evidence(
            item_id=item.item_id,
            dimension=dim,
            previous=prev,
            current=item.expected,
            delta=delta,
            rationale=item.rationale,
            quotes=[q for q in item.quotes if q.verified],
            note=note,
        )
        for _, _, item, prev, delta in rows[:k]
    ]
    return out


@dataclass(frozen=True)
class Decision:
    """What the policy decided for one score: alerts to send and the new state."""

    alerts: list[AllianceAlert]
    state: dict[str, Any]
    suppressed: list[str] = field(default_factory=list)  # alert ids held back by the budget


def on_score(
    state: dict[str, Any] | None,
    score: AllianceScore,
    settings: AlertSettings,
    *,
    counselor_id: str | None = None,
    now: datetime | None = None,
) -> Decision:
    """Apply the policy to one phase score. Pure: returns a new state."""
    st = copy.deepcopy(state) if state else new_state()
    index = PHASES.index(score.phase)
    if score.phase in st["phases"] or index < st["last_index"]:
        return Decision([], st)  # a replay, or a stale phase that arrived after a later one
    prev_phase = PHASES[st["last_index"]] if st["last_index"] >= 0 else None
    prev_items: dict[str, float] = st["items"]
    counselor = score.counselor_id or counselor_id or "unknown"
    alerts: list[AllianceAlert] = []
    suppressed: list[str] = []
    stamp: _Stamp = {"created_at": now} if now is not None else {}

    def emit(dim: Dimension, kind: AlertKind, severity: Severity, previous: float | None, current: float, message: str,
             evidence: list[Evidence], counts: bool) -> bool:
        aid = alert_id(score.session_id, score.phase, dim, kind)
        if counts:
            over = st["sent"] >= settings.budget
            if over and not (severity == "critical" and settings.critical_bypasses_budget):
                suppressed.append(aid)
                return False
            st["sent"] += 1
        alerts.append(AllianceAlert(
            alert_id=aid, session_id=score.session_id, counselor_id=counselor, dimension=dim,
            kind=kind, severity=severity, previous=previous, current=current, phase=score.phase,
            evidence=evidence, message=message, model=score.model.name, validated=False, **stamp,
        ))
        return True

    for dim in settings.watched:
        cur = _dimension_level(score, dim)
        if cur is None:
            continue
        ds = st["dims"].setdefault(dim, _dim_state())
        prev = ds["last"]
        drop = None if prev is None else prev - cur
        drop_now = drop is not None and drop >= settings.drop_fire
        low_now = cur < settings.low_fire
        severity_now: Severity = "critical" if (
            (drop is not None and drop >= settings.drop_critical) or cur < settings.low_critical
        ) else "warning"
        since = f" since {prev_phase}" if prev_phase else ""

        kind = _kind(drop, cur, drop_now, low_now, settings)
        if not ds["active"]:
            if drop_now or low_now:
                ds.update(active=True, kinds=[k for k, on in (("drop", drop_now), ("low", low_now)) if on],
                          severity=severity_now, reference=prev if drop_now else None)
                msg = (f"{dim} fell {drop:.2f}{since} (from {prev:.2f} to {cur:.2f})" if kind == "drop"
                       else f"{dim} is low ({cur:.2f} < {settings.low_fire:.2f})")
                note = "moved most" if kind == "drop" else "scored lowest"
                ds["notified"] = emit(dim, kind, severity_now, prev, cur, msg,
                                      _evidence(score, dim, prev_items, settings.evidence_items, note), True)
        else:
            kinds = set(ds["kinds"])
            if drop_now and "drop" not in kinds:  # a further fall while already alerting
                kinds.add("drop")
                ds["reference"] = prev
            if low_now:
                kinds.add("low")
            # hysteresis: a condition stays until its clear threshold is passed
            if "low" in kinds and cur >= settings.low_clear:
                kinds.discard("low")
            if "drop" in kinds and (ds["reference"] is None or cur >= ds["reference"] - settings.drop_clear):
                kinds.discard("drop")
            if not kinds:
                was_notified = ds["notified"]
                ds.update(_dim_state())
                if was_notified:
                    emit(dim, "recovered", "info", prev, cur, f"{dim} recovered to {cur:.2f}{since}",
                         _evidence(score, dim, prev_items, settings.evidence_items, "recovered"), False)
            else:
                ds["kinds"] = sorted(kinds)
                if (drop_now or low_now) and SEVERITY_RANK[severity_now] > SEVERITY_RANK[ds["severity"] or "info"]:
                    ds["severity"] = severity_now
                    msg = f"{dim} worsened to {cur:.2f}{since} ({severity_now})"
                    sent = emit(dim, kind, severity_now, prev, cur, msg,
                                _evidence(score, dim, prev_items, settings.evidence_items, "moved most"), True)
                    ds["notified"] = ds["notified"] or sent
        ds["last"] = cur

    st["phases"].append(score.phase)
    st["last_index"] = index
    st["items"] = {i.item_id: i.expected for i in score.items}
    return Decision(alerts, st, suppressed)


def _kind(drop: float | None, cur: float, drop_now: bool, low_now: bool,
          settings: AlertSettings) -> Literal["drop", "low"]:
    """When both rules hold, the alert is named after the one that sets its severity."""
    if drop_now and drop is not None and drop >= settings.drop_critical:
        return "drop"
    if low_now and cur < settings.low_critical:
        return "low"
    return "drop" if drop_now else "low"


def on_signal_flags(
    state: dict[str, Any] | None,
    *,
    session_id: str,
    counselor_id: str,
    phase: Phase,
    flags: list[str] | tuple[str, ...],
    figures: Mapping[str, object],
    settings: AlertSettings,
    now: datetime | None = None,
    lang: str = "en",
) -> Decision:
    """Process alerts (``kind="process"``, severity info): a flag newly raised, once per phase, at most
    ``process_per_phase`` notes a phase; each says in plain words what was seen and one move that fits
    (:mod:`streams.signal_notes`), in the session's language."""
    st = copy.deepcopy(state) if state else new_state()
    ps = st["process"]
    alerts: list[AllianceAlert] = []
    suppressed: list[str] = []
    stamp: _Stamp = {"created_at": now} if now is not None else {}
    active = set(ps["active"])
    for flag in flags:
        if flag in active:
            continue
        key = f"{phase}:{flag}"
        if key in ps["notified"] or f"{key}:held" in ps["notified"]:
            continue
        aid = alert_id(session_id, phase, "process", flag)
        in_phase = sum(1 for k in ps["notified"] if k.startswith(f"{phase}:") and not k.endswith(":held"))
        if ps["sent"] >= settings.process_budget or in_phase >= settings.process_per_phase:
            suppressed.append(aid)
            ps["notified"].append(f"{key}:held")  # not again this phase: the board's signals still show it
            continue
        ps["sent"] += 1
        ps["notified"].append(key)
        seen, move = signal_note(flag, figures, flags, lang)
        alerts.append(AllianceAlert(
            alert_id=aid, session_id=session_id, counselor_id=counselor_id, dimension="process", kind="process",
            severity="info", phase=phase, message=seen,
            # the one move that fits this signal (the pages show it as the note's suggestion)
            evidence=[Evidence(dimension="process", note=move)], validated=False, signal=flag,
            **stamp,
        ))
    ps["active"] = sorted(flags)
    return Decision(alerts, st, suppressed)
