"""The store side of the validation gate: store rows in, ``validation`` verdicts and records out.

``eval``, ``calibrate`` and ``models status`` (alliance_monitor/commands/) call
these functions and print what they return. The statistics and the decision
live in :mod:`validation.gate` and :mod:`validation.calibration`; this module
only joins store predictions with labels and writes the resulting records.
"""

from __future__ import annotations

__layer__ = "shell"

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable, Mapping

from .errors import StoreError

if TYPE_CHECKING:
    from streams.contracts import ModelIdentity
    from validation.records import ValidationRecord
    from validation.verdict import GateSettings

    from .eval import Label
    from .repository import ModelKey, PredictionRecord, StoreRepository

#: Only the whole-session (late) prediction is what a client rates; records come from it.
RECORD_PHASE = "late"


def model_identity(key: "ModelKey") -> "ModelIdentity":
    """The contract identity for a store key (read-outs other than expected/sampled are refused)."""
    from pydantic import ValidationError

    from streams.contracts import ModelIdentity

    try:
        return ModelIdentity.model_validate({"name": key.name, "revision": key.revision,
                                             "prompt_version": key.prompt_version, "readout": key.readout})
    except ValidationError as err:
        raise StoreError(f"model {key}: not a valid model identity ({err.errors()[0]['msg']})") from None


@dataclass(frozen=True)
class GateInputs:
    """Store predictions and labels keyed by session, as ``validation.gate`` wants them."""

    predictions: dict[str, dict[str, float | None]]
    labels: dict[str, dict[str, float | None]]
    covariates: dict[str, tuple[float, float] | None]

    @property
    def without_length(self) -> int:
        """Labelled, predicted sessions the gate must leave out (no transcript length stored)."""
        return sum(1 for s in self.predictions if s in self.labels and self.covariates.get(s) is None)


def raw_scores(record: "PredictionRecord") -> dict[str, float | None]:
    """The model's raw dimension scores: from the (never calibrated) items, else the stored dimensions."""
    from validation.calibration import raw_dimensions

    raw = raw_dimensions(record.items)
    return {d: raw[d] if raw[d] is not None else record.dimensions.get(d) for d in raw}


def gate_inputs(records: Iterable["PredictionRecord"], labels: Mapping[str, "Label"],
                phase: str = RECORD_PHASE) -> GateInputs:
    preds: dict[str, dict[str, float | None]] = {}
    covs: dict[str, tuple[float, float] | None] = {}
    for r in records:
        if r.phase != phase:
            continue
        preds[r.session_id] = raw_scores(r)
        covs[r.session_id] = ((float(r.transcript_chars), float(r.client_turns))
                              if r.transcript_chars is not None and r.client_turns is not None else None)
    labs: dict[str, dict[str, float | None]] = {sid: dict(lb.dimensions) for sid, lb in labels.items()}
    return GateInputs(preds, labs, covs)


def item_partials(records: Iterable["PredictionRecord"], labels: Mapping[str, "Label"],
                  phase: str = RECORD_PHASE) -> dict:
    """Per WAI-SR item: the length-controlled r of the item's expected score with the client's answer."""
    from streams.contracts import ITEM_IDS
    from validation.stats import partial_correlation

    out = {}
    rows = [r for r in records if r.phase == phase and r.session_id in labels
            and r.transcript_chars is not None and r.client_turns is not None]
    for item in ITEM_IDS:
        use = [r for r in rows if item in r.items and item in labels[r.session_id].items]
        x = [r.items[item] for r in use]
        y = [labels[r.session_id].items[item] for r in use]
        c = [[float(tc), float(ct)] for r in use  # every row has both (rows above)
             if (tc := r.transcript_chars) is not None and (ct := r.client_turns) is not None]
        try:
            out[item] = partial_correlation(x, y, c) if len(use) > 4 else None
        except ValueError:
            out[item] = None
    return out


# --- eval ----------------------------------------------------------------------------------


def evaluate_gate(model: "ModelIdentity", inputs: GateInputs, settings: "GateSettings", *,
                  labels_source: str | None, calibration: Mapping | None = None,
                  created_at: datetime | None = None) -> "ValidationRecord":
    from validation.verdict import evaluate_sessions

    covs = {s: c for s, c in inputs.covariates.items() if c is not None}
    return evaluate_sessions(model, inputs.predictions, inputs.labels, covs, settings, labels_source=labels_source,
                             calibration=calibration, created_at=created_at)


def calibration_effect(calibration: Mapping, inputs: GateInputs) -> list[str]:
    """Lines comparing raw and calibrated scores on these labels (a stored map, applied as stored)."""
    import numpy as np

    from validation.calibration import Calibration
    from validation.verdict import join_sessions

    try:
        cal = Calibration.from_dict(calibration)
    except (ValueError, KeyError, TypeError) as err:
        return [f"stored calibration is unreadable ({err}); scores would pass through raw"]
    p, y, _, _ = join_sessions(inputs.predictions, inputs.labels, None)
    fitted = calibration.get("labels_source")
    lines = [f"calibration stored with the record ({cal.method}, fitted on n={cal.n}"
             + (f" from {fitted}" if fitted else "") + "), applied to these labels:",
             f"{'dimension':<10} {'n':>4} {'MAE raw -> cal':>16} {'RMSE raw -> cal':>17}"]
    for dim in p:
        if not p[dim] or dim not in cal.maps:
            continue
        x, yy = np.asarray(p[dim]), np.asarray(y[dim])
        c = np.asarray([cal.apply(dim, v) for v in x])
        lines.append(f"{dim:<10} {x.size:>4} {np.mean(np.abs(x - yy)):7.3f} -> {np.mean(np.abs(c - yy)):5.3f} "
                     f"{math.sqrt(np.mean((x - yy) ** 2)):8.3f} -> {math.sqrt(np.mean((c - yy) ** 2)):5.3f}")
    checks = calibration.get("checks") or {}
    if checks:
        lines.append(f"held-out when fitted ({calibration.get('folds', '?')}-fold): " + "; ".join(
            f"{d} MAE {c['mae_before']:.3f} -> {c['mae_after']:.3f}" for d, c in checks.items()
            if isinstance(c, Mapping) and "mae_before" in c and "mae_after" in c))
    if fitted:
        lines.append("(the rows above are in-sample if these are the labels it was fitted on)")
    return lines


def gate_section(repo: "StoreRepository", key: "ModelKey", records: list["PredictionRecord"],
                 labels: Mapping[str, "Label"], settings: "GateSettings", *, phase: str, labels_source: str,
                 write_record: bool = True) -> tuple[str, "ValidationRecord | None"]:
    """The gate part of ``eval``: figures, verdicts, and (if ``write_record``) the stored record."""
    from validation.formatting import format_record

    model = model_identity(key)
    if phase != RECORD_PHASE:
        return ((f"validation gate: computed on the {RECORD_PHASE} phase only (the whole session, what the client "
                 f"rates); run with --phase {RECORD_PHASE}"), None)
    inputs = gate_inputs(records, labels)
    previous = repo.latest_record(model)
    carried = previous.calibration if previous is not None else None
    record = evaluate_gate(model, inputs, settings, labels_source=labels_source, calibration=carried)
    lines = ["Length-controlled agreement and the validation gate (docs/validation.md):",
             "  partial r = r controlling for transcript characters and client turns, with its bootstrap interval",
             f"  length r  = a {settings.folds}-fold cross-validated length-only predictor on the same labels",
             "  counselor = the published counselor-client agreement the model must beat",
             ""]
    if inputs.without_length:
        lines.append(f"note: {inputs.without_length} labelled sessions have no stored transcript length and are "
                     "left out of the gate")
    lines.append(format_record(record))
    if carried:
        lines += [""] + calibration_effect(carried, inputs)
    if not write_record:
        lines += ["", "validation record NOT written (--no-record)"]
    else:
        try:
            repo.add_validation_record(record)
        except Exception as err:  # noqa: BLE001 - report, one line
            raise StoreError(f"could not write the validation record: {type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200] if str(err) else ''}") from None
        lines += ["", f"validation record written for {record.key} ({record.created_at.isoformat(timespec='seconds')})"
                  + ("; calibration carried over from the previous record" if carried else "")]
    return "\n".join(lines), record


# --- calibrate -----------------------------------------------------------------------------


def describe_map(m) -> str:
    if m.method == "linear":
        return f"{m.intercept:+.3f} {'+' if m.slope >= 0 else '-'} {abs(m.slope):.3f} * raw, clipped to [1, 5]"
    return f"isotonic, {len(m.knots_x)} knots over raw {m.knots_x[0]:.2f}..{m.knots_x[-1]:.2f}"


def calibrate(repo: "StoreRepository", key: "ModelKey", labels: Mapping[str, "Label"], *, method: str,
              folds: int, seed: int, labels_source: str, store: bool = True) -> str:
    """Fit the per-dimension calibration on these labels, show its held-out checks and store it with the record.

    Returns the report text. With no record for the identity yet, the gate is
    evaluated on the same labels (default settings) so the calibration has a
    record to live in.
    """
    from validation.calibration import fit_calibration, format_checks
    from validation.verdict import GateSettings, join_sessions

    out: list[str] = []
    model = model_identity(key)
    inputs = gate_inputs(repo.predictions(key, phase=RECORD_PHASE), labels)
    p, y, _, _ = join_sessions(inputs.predictions, inputs.labels, None)
    need = max(10, folds)
    usable = {d: v for d, v in p.items() if len(v) >= need}
    if not usable:
        counts = ", ".join(f"{d} {len(v)}" for d, v in p.items())
        raise StoreError(f"too few labelled sessions with a {RECORD_PHASE}-phase prediction by {key} to calibrate "
                         f"({counts}; need at least {need})")
    try:
        result = fit_calibration(usable, {d: y[d] for d in usable}, method, folds=folds, seed=seed)
    except ValueError as err:
        raise StoreError(str(err)) from None
    out.append(f"model: {key}")
    out.append(f"labels: {labels_source} ({len(labels)} sessions; {max(len(v) for v in usable.values())} with a "
               f"{RECORD_PHASE}-phase prediction)")
    skipped = sorted(set(p) - set(usable))
    if skipped:
        out.append(f"not calibrated (fewer than {need} labelled sessions): {', '.join(skipped)}")
    out.append("")
    out.append(format_checks(result.checks).replace("calibration, held-out folds",
                                                    f"calibration, {folds}-fold held-out"))
    worse = [d for d, c in result.checks.items() if not c.improves]
    if worse:
        out.append(f"warning: on held-out folds the map did not lower both MAE and RMSE for {', '.join(worse)}")
    out.append("")
    out.append("maps fitted on all labels (applied by the scoring worker to dimension scores; items stay raw):")
    for dim, m in result.calibration.maps.items():
        out.append(f"  {dim:<9} {describe_map(m)}")
    cal = result.calibration.to_dict()
    cal.update(labels_source=str(labels_source), fitted_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               folds=folds, seed=seed, checks={d: c.to_dict() for d, c in result.checks.items()})
    out.append("")
    if not store:
        out.append("calibration NOT stored (--no-record)")
        return "\n".join(out)
    if repo.latest_record(model) is not None:
        rec = repo.set_calibration(model, cal)
        out.append(f"calibration stored with the validation record of {rec.key} "
                   f"({rec.created_at.isoformat(timespec='seconds')})")
        return "\n".join(out)
    # No record yet: evaluate the gate on the same labels so the calibration has a record to live in.
    record = evaluate_gate(model, inputs, GateSettings(seed=seed), labels_source=str(labels_source),
                           calibration=cal)
    repo.add_validation_record(record)
    verdicts = ", ".join(f"{d} {'pass' if v.passed else 'fail'}" for d, v in record.dimensions.items())
    out.append(f"no validation record for {record.key} yet: evaluated the gate on these labels with default settings "
               f"({verdicts}) and stored it with the calibration; `alliance-monitor eval` prints the figures")
    return "\n".join(out)


# --- models status --------------------------------------------------------------------------


def format_status(records: list["ValidationRecord"], *, history: bool = False) -> str:
    """status_table plus one line per record with a calibration and the reading rule."""
    from validation.formatting import status_table
    from validation.records import RecordBook

    shown = records if history else list(RecordBook(records))
    lines = [status_table(shown)]
    cal = [r for r in shown if r.calibration]
    if cal:
        lines.append("")
        for r in cal:
            c = r.calibration or {}
            lines.append(f"calibrated: {r.key}  {c.get('method', '?')} (n={c.get('n', '?')}"
                         + (f", fitted {str(c['fitted_at'])[:10]}" if c.get("fitted_at") else "") + ")")
    for r in shown:
        lines += ["", *dimension_details(r)]
    if shown:
        lines += ["", ("pass = alerts for that dimension may reach counselors; fail, or a model identity not listed: "
                       "supervisors only, marked unvalidated")]
    if any(r.level == "turn" for r in shown):
        lines.append("turn level (eval-turns --record): a feedback card reaches counselors only when every code it "
                     "shows passes for its exact model identity")
    return "\n".join(lines)


def dimension_details(record: "ValidationRecord") -> list[str]:
    """Per dimension: n, r, length-controlled r with its interval, verdict, and what a failing one needs."""
    from validation.power import needed_for_verdict

    def f(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.3f}"

    if record.level == "turn":
        return turn_code_details(record)
    lines = [f"{record.key}  (labels: {record.labels_source or 'unknown source'})",
             (f"  {'dimension':<10} {'n':>4} {'r':>6} {'partial r':>9} {'95% CI (partial)':>18}  {'verdict':<7}  "
              "rated sessions still needed")]
    for dim, v in record.dimensions.items():
        ci = f"[{v.partial_ci[0]:6.3f}, {v.partial_ci[1]:6.3f}]" if v.partial_ci else "n/a"
        need = needed_for_verdict(v, record.settings)
        more = "-" if need is None else (need.reason if need.more is None else
                                          f"{need.more} more ({need.total} in all)")
        lines.append(f"  {dim:<10} {v.n:>4} {f(v.r):>6} {f(v.partial_r):>9} {ci:>18}  "
                     f"{'pass' if v.passed else 'fail':<7}  {more}")
    return lines


def turn_code_details(record: "ValidationRecord") -> list[str]:
    """Per turn code of a turn-level record: statistic, turns, sessions, agreement and intervals, verdict."""
    def f(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.2f}"

    def ci(pair) -> str:
        return "n/a" if pair is None else f"[{pair[0]:.2f}, {pair[1]:.2f}]"

    floor = record.settings.get("floor")
    unit = str(record.settings.get("unit", "turns"))  # a detector's episode (sessions) or window record
    level = {"sessions": "session level (rupture episodes", "windows": "window level (flags per window"}.get(
        unit, "turn level (codes")
    lines = [f"{record.key}  {level}: {record.labels_source or 'unknown source'}"
             + (f"; floor {floor:.2f} on the interval's lower bound" if isinstance(floor, (int, float)) else "") + ")",
             (f"  {'code':<22} {'stat':<8} {unit[:8]:>8} {'sessions':>8} {'agreement':>9} {'95% CI':<14} "
              f"{'length':>6} {'Δ 95% CI':<14}  verdict")]
    for code, v in record.dimensions.items():
        lines.append(f"  {code:<22} {v.statistic or '?':<8} {v.n:>8} {v.sessions if v.sessions is not None else '?':>8} "
                     f"{f(v.r):>9} {ci(v.r_ci):<14} {f(v.baseline_r):>6} {ci(v.difference_ci):<14}  "
                     f"{'pass' if v.passed else 'fail'}")
    return lines
