"""The validation gate (docs/validation.md): may this model's alerts reach a counselor?

Why a gate: on public held-out data the demo model's scores are at chance, and
what they do follow is transcript length — which itself correlates with how
clients rate a session. Raw r therefore flatters a model. A counselor acting on
such an alert would be acting on noise, so until a model has shown, on the
site's own client ratings, that it reads the alliance *beyond length* better
than counselors do (r ≈ .28), its alerts go to supervisors only, marked
"unvalidated".

A dimension passes only when all of these hold:

1. at least ``min_n`` labelled sessions;
2. the length-controlled (partial) r beats the cross-validated length-only
   baseline's r on the same labels;
3. it beats the published counselor–client agreement (``counselor_r``);
4. the lower bound of its bootstrap interval is above zero.

This module is pure: numbers in, verdicts out. ``evaluate*`` import numpy/scipy
lazily so the shells that only route alerts (processor, gateway) need neither.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from streams.contracts import DIMENSIONS, AllianceAlert, ModelIdentity

from .errors import GateError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: Counselors' own ratings vs client WAI-SR (242 held-out sessions; docs/architecture.md#background-the-client-rated-alliance).
PUBLISHED_COUNSELOR_R: dict[str, float] = {"goal": 0.290, "approach": 0.286, "bond": 0.261}
#: The single reference the gate uses by default (the rounded published figure).
DEFAULT_COUNSELOR_R = 0.28
#: What the counselor panel shows instead of an unvalidated model's alerts.
VALIDATION_MODE_NOTICE = ("This session is being monitored in validation mode: the model has not yet been "
                          "validated on this site's client ratings, so its alerts go to supervisors only.")
#: What a shell should log (at WARNING) when the gate is switched off.
GATE_OFF_WARNING = ("validation gate DISABLED by setting: alerts from unvalidated models will reach counselors "
                    "(docs/validation.md)")
UNVALIDATED = "unvalidated"


@dataclass(frozen=True)
class GateSettings:
    """Thresholds of the gate. ``counselor_r_by_dimension`` overrides ``counselor_r`` per dimension."""

    counselor_r: float = DEFAULT_COUNSELOR_R
    counselor_r_by_dimension: Mapping[str, float] = field(default_factory=dict)
    min_n: int = 50
    resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    folds: int = 5

    def __post_init__(self) -> None:
        if not -1.0 <= self.counselor_r <= 1.0:
            raise GateError(f"counselor_r must be a correlation in [-1, 1], got {self.counselor_r}")
        if self.min_n < 10:
            raise GateError(f"min_n must be at least 10, got {self.min_n}")
        if self.resamples < 100:
            raise GateError(f"resamples must be at least 100, got {self.resamples}")
        if not 0.5 <= self.confidence < 1.0:
            raise GateError(f"confidence must be in [0.5, 1), got {self.confidence}")
        if self.folds < 2:
            raise GateError(f"folds must be at least 2, got {self.folds}")

    def reference_for(self, dimension: str) -> float:
        return float(self.counselor_r_by_dimension.get(dimension, self.counselor_r))

    @classmethod
    def published_per_dimension(cls, **kw: Any) -> "GateSettings":
        """Use the three published counselor figures instead of the rounded .28."""
        return cls(counselor_r_by_dimension=dict(PUBLISHED_COUNSELOR_R), **kw)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counselor_r_by_dimension"] = dict(self.counselor_r_by_dimension)
        return d


class DimensionVerdict(BaseModel):
    """Every number behind one dimension's decision, and the decision in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dimension: str
    n: int
    r: float | None = None
    r_p: float | None = None
    r_ci: tuple[float, float] | None = None
    partial_r: float | None = None
    partial_p: float | None = None
    partial_df: int | None = None
    partial_ci: tuple[float, float] | None = None
    confidence: float = 0.95
    baseline_r: float | None = None
    #: the counselor reference a session-level dimension must beat; None for a turn-level code
    counselor_r: float | None = None
    passed: bool
    reason: str
    # --- turn-level codes only (``level="turn"`` records, :mod:`validation.turn_agreement`): ``r`` is
    # the agreement (kappa or ICC), ``r_ci`` its interval, ``baseline_r`` the length-only baseline's.
    statistic: str | None = None
    sessions: int | None = None
    baseline_ci: tuple[float, float] | None = None
    difference_ci: tuple[float, float] | None = None
    floor: float | None = None


#: What a validation record speaks for: ``session`` — the WAI-SR dimensions against client ratings
#: (``eval``; the alert gate); ``turn`` — turn-level feedback codes against human codes
#: (``eval-turns --record``; the feedback gate). The two are kept apart everywhere (:class:`RecordBook`).
Level = Literal["session", "turn"]
LEVELS: tuple[str, ...] = ("session", "turn")


class ValidationRecord(BaseModel):
    """One model identity's validation on one label set (written by ``eval``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelIdentity
    created_at: datetime
    #: ``session`` (dimensions goal/approach/bond) or ``turn`` (dimensions are turn codes)
    level: Level = "session"
    labels_n: int = Field(ge=0)
    labels_source: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    dimensions: dict[str, DimensionVerdict]
    calibration: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        """``name@revision:prompt_version/readout`` (the form ``ModelKey.parse`` reads)."""
        return model_key(self.model)

    def passes(self, dimension: str) -> bool:
        verdict = self.dimensions.get(dimension)
        return verdict is not None and verdict.passed

    def passed_dimensions(self) -> list[str]:
        return [d for d, v in self.dimensions.items() if v.passed]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> "ValidationRecord":
        return cls.model_validate_json(text)

    def status_row(self) -> dict[str, Any]:
        """One line of ``alliance-monitor models status``: identity, date, size, pass/fail."""
        row: dict[str, Any] = {"model": self.key, "date": self.created_at.date().isoformat(),
                               "labels": self.labels_n}
        if self.level == "turn":
            row["level"] = "turn"
            row["codes"] = f"{len(self.passed_dimensions())}/{len(self.dimensions)} pass"
            return row
        for dim, v in self.dimensions.items():
            row[dim] = "pass" if v.passed else "fail"
        return row


def model_key(model: ModelIdentity) -> str:
    return f"{model.name}@{model.revision}:{model.prompt_version}/{model.readout}"


def status_table(records: Iterable[ValidationRecord], dimensions: Sequence[str] = DIMENSIONS) -> str:
    """What ``alliance-monitor models status`` prints: one line per model identity."""
    rows = [r.status_row() for r in records]
    if not rows:
        return "no validation records: every model is unvalidated (alerts go to supervisors only)"
    width = max(len("model"), *(len(r["model"]) for r in rows))
    # The level column appears once a turn-level record is listed (a session-only listing stays as it was).
    levels = any(r.get("level") == "turn" for r in rows)
    lv: Callable[[dict[str, Any]], str] = (lambda r: f"{r.get('level', 'session'):<8}  ") if levels else (lambda r: "")
    head = (f"{'model':<{width}}  " + (f"{'level':<8}  " if levels else "") + f"{'date':<10}  {'labels':>6}  "
            + "  ".join(f"{d:<8}" for d in dimensions) + ("  turn codes" if levels else ""))
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<{width}}  {lv(r)}{r['date']:<10}  {r['labels']:>6}  "
                     + "  ".join(f"{r.get(d, '-'):<8}" for d in dimensions)
                     + (f"  {r.get('codes', '-')}" if levels else ""))
    return "\n".join(lines)


# --- the decision ------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.3f}"


def evaluate_dimension(dimension: str, predictions: ArrayLike, labels: ArrayLike,
                       covariates: Any, settings: GateSettings | None = None) -> DimensionVerdict:
    """Compute every figure for one dimension and decide pass/fail (see module doc)."""
    from math import isnan

    import numpy as np

    from . import stats

    settings = settings or GateSettings()
    ref = settings.reference_for(dimension)
    x, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise GateError(f"{dimension}: predictions and labels must be 1-D of equal length, "
                         f"got {x.shape} and {y.shape}")
    c = np.asarray(covariates, dtype=float)
    c = c[:, None] if c.ndim == 1 else c
    n = int(x.size)
    k = c.shape[1] if c.ndim == 2 else 0
    if n < max(k + 3, settings.folds, 3):
        return DimensionVerdict(dimension=dimension, n=n, counselor_r=ref, confidence=settings.confidence,
                                passed=False, reason=f"fails: only {n} labelled sessions, too few to compute "
                                                     f"anything (minimum {settings.min_n})")
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        side = "predictions" if np.ptp(x) == 0.0 else "labels"
        return DimensionVerdict(dimension=dimension, n=n, counselor_r=ref, confidence=settings.confidence,
                                passed=False, reason=f"fails: the {side} are constant, so no correlation exists")

    raw = stats.pearson(x, y)
    part = stats.partial_correlation(x, y, c)
    kw: dict[str, Any] = dict(resamples=settings.resamples, confidence=settings.confidence, seed=settings.seed)
    raw_ci = stats.bootstrap_interval(x, y, **kw)
    part_ci = stats.bootstrap_interval(x, y, c, **kw)
    base = stats.length_baseline(y, c, folds=settings.folds, seed=settings.seed)

    failures: list[str] = []
    if n < settings.min_n:
        failures.append(f"only {n} labelled sessions (minimum {settings.min_n})")
    pr = part.r
    # NaN never passes; a NaN baseline (constant length) has nothing to beat.
    beats_baseline = not isnan(pr) and (isnan(base.r) or pr > base.r)
    if not beats_baseline:
        failures.append(f"length-controlled r {_fmt(pr)} does not beat the length-only baseline "
                        f"(r {_fmt(base.r)})")
    if isnan(pr) or pr <= ref:
        failures.append(f"length-controlled r {_fmt(pr)} does not beat the counselor reference (r {ref:.3f})")
    if isnan(part_ci.low) or part_ci.low <= 0.0:
        failures.append(f"the {settings.confidence:.0%} interval of the length-controlled r "
                        f"({_fmt(part_ci.low)} to {_fmt(part_ci.high)}) does not lie above zero")
    passed = not failures
    if passed:
        reason = (f"passes: length-controlled r {pr:.3f} ({settings.confidence:.0%} CI {part_ci.low:.3f} to "
                  f"{part_ci.high:.3f}) beats the length-only baseline (r {_fmt(base.r)}) and the counselor "
                  f"reference (r {ref:.3f}), n={n}")
    else:
        reason = "fails: " + "; ".join(failures) + f" (raw r {raw.r:.3f}, n={n})"

    def _num(v: float) -> float | None:
        return None if isnan(v) else float(v)

    return DimensionVerdict(
        dimension=dimension, n=n, r=_num(raw.r), r_p=_num(raw.p),
        r_ci=(raw_ci.low, raw_ci.high) if raw_ci.resamples else None,
        partial_r=_num(part.r), partial_p=_num(part.p), partial_df=part.df,
        partial_ci=(part_ci.low, part_ci.high) if part_ci.resamples else None,
        confidence=settings.confidence, baseline_r=_num(base.r), counselor_r=ref, passed=passed, reason=reason,
    )


def evaluate(model: ModelIdentity, predictions: Mapping[str, Sequence[float]],
             labels: Mapping[str, Sequence[float]], covariates: Any, settings: GateSettings | None = None, *,
             labels_source: str | None = None, calibration: Mapping[str, Any] | None = None,
             created_at: datetime | None = None) -> ValidationRecord:
    """Evaluate every dimension present in ``predictions`` and build the record.

    ``predictions[dim][i]``, ``labels[dim][i]`` and ``covariates[i]`` all belong
    to the same session ``i`` (the caller joins by session_id, or uses
    :func:`evaluate_sessions`). ``covariates`` may also be a mapping per dimension
    when the dimensions cover different sessions.
    """
    settings = settings or GateSettings()
    verdicts: dict[str, DimensionVerdict] = {}
    n = 0
    for dim, preds in predictions.items():
        if dim not in labels:
            raise GateError(f"no labels for dimension {dim!r}")
        cov = covariates[dim] if isinstance(covariates, Mapping) else covariates
        verdicts[dim] = evaluate_dimension(dim, preds, labels[dim], cov, settings)
        n = max(n, len(preds))
    return ValidationRecord(
        model=model, created_at=created_at or datetime.now(timezone.utc), labels_n=n,
        labels_source=labels_source, settings=settings.to_dict(), dimensions=verdicts,
        calibration=dict(calibration) if calibration is not None else None,
    )


def join_sessions(predictions: Mapping[str, Mapping[str, float | None]],
                  labels: Mapping[str, Mapping[str, float | None]],
                  covariates: Mapping[str, Sequence[float]] | None,
                  dimensions: Sequence[str] = DIMENSIONS,
                  ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[list[float]]], dict[str, list[str]]]:
    """Per dimension, the sessions that have a prediction, a label and covariates, in session-id order.

    Inputs are keyed by session_id: ``predictions[sid][dim]`` (the model's
    dimension score), ``labels[sid][dim]`` (the client's), ``covariates[sid]``
    (characters, client turns), or ``covariates=None`` when none are needed
    (calibration). A missing or None value drops the session from that dimension
    only. Returns (predictions, labels, covariates, session ids), each per
    dimension, ready for :func:`evaluate` / ``calibration.fit_calibration``.
    """
    preds_out: dict[str, list[float]] = {}
    labels_out: dict[str, list[float]] = {}
    cov_out: dict[str, list[list[float]]] = {}
    sids_out: dict[str, list[str]] = {}
    for dim in dimensions:
        common = set(predictions) & set(labels)
        if covariates is not None:
            common &= {s for s, c in covariates.items() if c is not None and all(v is not None for v in c)}
        sids = [s for s in sorted(common)
                if predictions[s].get(dim) is not None and labels[s].get(dim) is not None]
        preds_out[dim] = [float(pred) for s in sids if (pred := predictions[s][dim]) is not None]  # all are: sids
        labels_out[dim] = [float(label) for s in sids if (label := labels[s][dim]) is not None]
        cov_out[dim] = [[float(v) for v in covariates[s]] for s in sids] if covariates is not None else []
        sids_out[dim] = sids
    return preds_out, labels_out, cov_out, sids_out


def evaluate_sessions(model: ModelIdentity, predictions: Mapping[str, Mapping[str, float | None]],
                      labels: Mapping[str, Mapping[str, float | None]], covariates: Mapping[str, Sequence[float]],
                      settings: GateSettings | None = None, *, labels_source: str | None = None,
                      calibration: Mapping[str, Any] | None = None, created_at: datetime | None = None,
                      dimensions: Sequence[str] = DIMENSIONS) -> ValidationRecord:
    """:func:`join_sessions` then :func:`evaluate` — what ``eval`` calls with store rows and a label file."""
    p, y, c, _ = join_sessions(predictions, labels, covariates, dimensions)
    return evaluate(model, p, y, c, settings, labels_source=labels_source, calibration=calibration,
                    created_at=created_at)


def _wrap_reason(dim: str, reason: str) -> str:
    """A failing reason lists one failed condition per line (the stored reason stays one string)."""
    head, _, rest = reason.partition(": ")
    if head != "fails" or "; " not in rest:
        return f"  {dim}: {reason}"
    tail = ""
    if rest.endswith(")") and " (raw r " in rest:
        rest, _, tail = rest.rpartition(" (raw r ")
        tail = f" (raw r {tail[:-1]})"
    parts = rest.split("; ")
    return "\n".join([f"  {dim}: fails{tail}:"] + [f"    - {p}" for p in parts])


def format_record(record: ValidationRecord) -> str:
    """The gate section of ``eval``'s output: every figure per dimension, then the verdicts."""
    first = next(iter(record.dimensions.values()), None)
    conf = f"{first.confidence:.0%}" if first else "95%"
    lines = [f"validation gate for {record.key}  (labels: {record.labels_n}"
             + (f" from {record.labels_source}" if record.labels_source else "")
             + f", {record.created_at.date().isoformat()})",
             (f"{'dimension':<10} {'n':>4} {'raw r':>6} {'partial r':>9} {conf + ' CI (partial)':>18} "
              f"{'length r':>8} {'counselor':>9}  verdict")]
    for dim, v in record.dimensions.items():
        ci = f"[{v.partial_ci[0]:6.3f}, {v.partial_ci[1]:6.3f}]" if v.partial_ci else "n/a"
        lines.append(f"{dim:<10} {v.n:>4} {_fmt(v.r):>6} {_fmt(v.partial_r):>9} {ci:>18} "
                     f"{_fmt(v.baseline_r):>8} {_fmt(v.counselor_r):>9}  {'PASS' if v.passed else 'fail'}")
    lines.append("")
    for dim, v in record.dimensions.items():
        lines.append(_wrap_reason(dim, v.reason))
    passed = record.passed_dimensions()
    lines.append("")
    lines.append(f"alerts for {', '.join(passed)} may reach counselors" if passed else
                 "no dimension passed: this model's alerts go to supervisors only, marked unvalidated")
    return "\n".join(lines)


# --- routing ------------------------------------------------------------------------------


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
#: ``process`` (from turn statistics, not the model: never gated), ``validated`` (the model passed
#: for this dimension), ``unvalidated`` (supervisors only, unless the gate is disabled by setting).
GATE_PROCESS, GATE_VALIDATED, GATE_UNVALIDATED = "process", "validated", UNVALIDATED


def is_process_alert(alert: AllianceAlert | Mapping[str, Any]) -> bool:
    """Process alerts come from cheap turn statistics, not from the model, so the gate does not apply."""
    return bool(_get(alert, "kind") == "process" or _get(alert, "dimension") == "process")


def gate_label(alert: AllianceAlert | Mapping[str, Any]) -> str:
    """``process``, ``validated`` or ``unvalidated`` for an alert the processor published (reads its flag)."""
    if is_process_alert(alert):
        return GATE_PROCESS
    return GATE_VALIDATED if _get(alert, "validated") else GATE_UNVALIDATED


def reaches_counselor(alert: AllianceAlert | Mapping[str, Any], gate_enabled: bool = True) -> bool:
    """May a counselor see this published alert? Everything but an unvalidated model alert, unless
    the gate is disabled by setting (demo only)."""
    return not gate_enabled or gate_label(alert) != GATE_UNVALIDATED


def episode_reaches_counselor(episode: Mapping[str, Any] | Any, gate_enabled: bool = True) -> bool:
    """May a counselor see this rupture episode? One opened by client markers is process evidence
    (turn cues, not the model): yes. One opened only by the model's drop is a model output and
    follows the gate exactly like that drop alert."""
    return not gate_enabled or "markers" in (_get(episode, "sources") or ()) or bool(_get(episode, "validated"))


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
        return Audience(True, True, True, None, "process alert: from turn statistics, not the model; not gated")
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


class RecordBook:
    """The newest record per model identity *and level* — what the processor, gateway and scorer consult.

    The two levels never replace each other: :meth:`for_model` is the newest
    session-level record (the alert gate), :meth:`for_turns` the newest
    turn-level record (the feedback gate), whatever was written last.
    """

    def __init__(self, records: Iterable[ValidationRecord] = ()) -> None:
        self._by_key: dict[tuple[str, str], ValidationRecord] = {}
        for r in records:
            self.add(r)

    def add(self, record: ValidationRecord) -> None:
        slot = (record.key, record.level)
        current = self._by_key.get(slot)
        if current is None or record.created_at >= current.created_at:
            self._by_key[slot] = record

    def for_model(self, model: ModelIdentity) -> ValidationRecord | None:
        """The newest session-level record of exactly this identity (the alert gate's)."""
        return self._by_key.get((model_key(model), "session"))

    def for_turns(self, model: ModelIdentity) -> ValidationRecord | None:
        """The newest turn-level record of exactly this identity (the feedback gate's)."""
        return self._by_key.get((model_key(model), "turn"))

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[ValidationRecord]:
        return iter(sorted(self._by_key.values(), key=lambda r: (r.key, LEVELS.index(r.level))))


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


def feedback_passes(record: ValidationRecord | None, feedback: Mapping[str, Any] | Any) -> bool:
    """Does this turn-level record validate this feedback? Its exact identity, level ``turn``, and every
    code the card rests on passed. Fails closed: no record, another identity, a session-level record,
    a card naming nothing, or one failing or unevaluated code."""
    if record is None or record.level != "turn":
        return False
    model = _get(feedback, "model")
    try:
        identity = model if isinstance(model, ModelIdentity) else ModelIdentity.model_validate(model)
    except Exception:  # noqa: BLE001 - an unreadable identity validates nothing
        return False
    codes = feedback_codes(feedback)
    return record.model == identity and bool(codes) and all(record.passes(c) for c in codes)


def feedback_validated(book: "RecordBook | None", feedback: Mapping[str, Any] | Any) -> bool:
    """The ``validated`` flag for a feedback record: the newest turn-level record of its exact model
    identity validates every code it shows (:func:`feedback_passes`). False on any doubt."""
    if book is None:
        return False
    try:
        model = _get(feedback, "model")
        identity = model if isinstance(model, ModelIdentity) else ModelIdentity.model_validate(model)
        return feedback_passes(book.for_turns(identity), feedback)
    except Exception:  # noqa: BLE001 - a record we cannot read validates nothing
        return False
