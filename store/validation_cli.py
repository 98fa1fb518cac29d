"""The store side of the validation gate (DESIGN §8, issue 8): a thin shell over ``validation``.

* ``eval`` (``store.cli.cmd_eval``) calls :func:`gate_section` to add the
  length-controlled figures and the verdicts, and writes the record here.
* ``alliance-monitor calibrate`` (:func:`cmd_calibrate`) fits and stores the
  per-dimension calibration with the identity's record.
* ``alliance-monitor models status`` (:func:`cmd_models_status`, registered by
  :func:`register_models_status` into the ``models`` group that scoring/cli.py
  owns) lists the records.
* :func:`load_record_book` is what the processor and gateway read at start-up.

Why the loader never raises: a gate that opened because its records could not
be read would be the worst failure of all. Any problem (no database, no
table, an unreadable row) yields an empty (or smaller) book and a one-line
warning — every model without a readable record stays unvalidated.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from streams.contracts import ModelIdentity
    from validation.gate import GateSettings, RecordBook, ValidationRecord

    from .eval import Label
    from .repository import ModelKey, PredictionRecord, StoreRepository

log = logging.getLogger("alliance.validation")

#: Only the whole-session (late) prediction is what a client rates; records come from it.
RECORD_PHASE = "late"


def _cli_error(message: str):
    from alliance_monitor.cli import CliError

    return CliError(message)


# --- settings ---------------------------------------------------------------------------------


def _reference(value: str) -> float | str:
    if value.strip().lower() == "published":
        return "published"
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a correlation (e.g. 0.28) or 'published', not {value!r}") from None
    if not -1.0 <= x <= 1.0:
        raise argparse.ArgumentTypeError(f"a correlation must lie in [-1, 1], got {x}")
    return x


def _int_at_least(minimum: int):
    def parse(value: str) -> int:
        try:
            x = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
        if x < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return x
    return parse


def add_gate_arguments(p: argparse.ArgumentParser) -> None:
    """The gate's thresholds as options (defaults: ``validation.gate.GateSettings``)."""
    g = p.add_argument_group("validation gate (DESIGN §8)")
    g.add_argument("--min-n", type=_int_at_least(10), default=50, metavar="N",
                   help="fewest labelled sessions for a dimension to pass (default 50)")
    g.add_argument("--reference", type=_reference, default=0.28, metavar="R",
                   help="counselor-client agreement to beat: a correlation (default 0.28) or 'published' "
                        "for .290/.286/.261 per dimension")
    g.add_argument("--resamples", type=_int_at_least(100), default=2000, metavar="B",
                   help="bootstrap resamples for the 95%% intervals (default 2000)")
    g.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the folds (default 0)")
    g.add_argument("--no-record", action="store_true", help="print only; do not write the validation record")


def gate_settings(args) -> "GateSettings":
    from validation.gate import PUBLISHED_COUNSELOR_R, GateSettings

    ref = args.reference
    try:
        if ref == "published":
            return GateSettings(counselor_r_by_dimension=dict(PUBLISHED_COUNSELOR_R), min_n=args.min_n,
                                resamples=args.resamples, seed=args.seed)
        return GateSettings(counselor_r=float(ref), min_n=args.min_n, resamples=args.resamples, seed=args.seed)
    except ValueError as err:
        raise _cli_error(str(err)) from None


def model_identity(key: "ModelKey") -> "ModelIdentity":
    """The contract identity for a store key (read-outs other than expected/sampled are refused)."""
    from pydantic import ValidationError

    from streams.contracts import ModelIdentity

    try:
        return ModelIdentity(name=key.name, revision=key.revision, prompt_version=key.prompt_version,
                             readout=key.readout)
    except ValidationError as err:
        raise _cli_error(f"model {key}: not a valid model identity ({err.errors()[0]['msg']})") from None


# --- inputs from store rows -------------------------------------------------------------------


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
    preds, covs = {}, {}
    for r in records:
        if r.phase != phase:
            continue
        preds[r.session_id] = raw_scores(r)
        covs[r.session_id] = ((float(r.transcript_chars), float(r.client_turns))
                              if r.transcript_chars is not None and r.client_turns is not None else None)
    labs = {sid: dict(lb.dimensions) for sid, lb in labels.items()}
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
        c = [[float(r.transcript_chars), float(r.client_turns)] for r in use]
        try:
            out[item] = partial_correlation(x, y, c) if len(use) > 4 else None
        except ValueError:
            out[item] = None
    return out


# --- eval -------------------------------------------------------------------------------------


def evaluate_gate(model: "ModelIdentity", inputs: GateInputs, settings: "GateSettings", *,
                  labels_source: str | None, calibration: Mapping | None = None,
                  created_at: datetime | None = None) -> "ValidationRecord":
    from validation.gate import evaluate_sessions

    covs = {s: c for s, c in inputs.covariates.items() if c is not None}
    return evaluate_sessions(model, inputs.predictions, inputs.labels, covs, settings, labels_source=labels_source,
                             calibration=calibration, created_at=created_at)


def calibration_effect(calibration: Mapping, inputs: GateInputs) -> list[str]:
    """Lines comparing raw and calibrated scores on these labels (a stored map, applied as stored)."""
    import numpy as np

    from validation.calibration import Calibration
    from validation.gate import join_sessions

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
                 labels: Mapping[str, "Label"], args, labels_source: str) -> tuple[str, "ValidationRecord | None"]:
    """The gate part of ``eval``: figures, verdicts, and (unless --no-record) the stored record."""
    from validation.gate import format_record

    settings = gate_settings(args)
    model = model_identity(key)
    if args.phase != RECORD_PHASE:
        return (f"validation gate: computed on the {RECORD_PHASE} phase only (the whole session, what the client "
                f"rates); run with --phase {RECORD_PHASE}", None)
    inputs = gate_inputs(records, labels)
    previous = repo.latest_record(model)
    carried = previous.calibration if previous is not None else None
    record = evaluate_gate(model, inputs, settings, labels_source=labels_source, calibration=carried)
    lines = ["Length-controlled agreement and the validation gate (DESIGN §8):",
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
    if args.no_record:
        lines += ["", "validation record NOT written (--no-record)"]
    else:
        try:
            repo.add_validation_record(record)
        except Exception as err:  # noqa: BLE001 - report, one line
            raise _cli_error(f"could not write the validation record: {type(err).__name__}: "
                             f"{str(err).splitlines()[0][:200] if str(err) else ''}") from None
        lines += ["", f"validation record written for {record.key} ({record.created_at.isoformat(timespec='seconds')})"
                  + ("; calibration carried over from the previous record" if carried else "")]
    return "\n".join(lines), record


# --- calibrate --------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    """``calibrate`` (called from store.cli.register)."""
    from validation.calibration import DEFAULT_METHOD, METHODS

    p = sub.add_parser("calibrate", help="fit a per-dimension monotone map from raw scores to the client scale")
    p.add_argument("--labels", required=True, type=Path, metavar="FILE", help="JSONL labels (see docs/store.md)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help="linear (default: a + b*raw, b >= 0; robust on small label sets) or isotonic")
    p.add_argument("--model", help="model identity name[@revision][:prompt][/readout] (default: most predictions)")
    p.add_argument("--folds", type=_int_at_least(2), default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    p.add_argument("--no-record", action="store_true", help="print only; do not store the calibration")
    p.add_argument("--db", metavar="URL", help="database URL (default: ALLIANCE_DB_URL, else the SQLite file "
                                               "in ~/.local/share/alliance-monitor)")
    p.set_defaults(func=cmd_calibrate)


def _describe_map(m) -> str:
    if m.method == "linear":
        return f"{m.intercept:+.3f} {'+' if m.slope >= 0 else '-'} {abs(m.slope):.3f} * raw, clipped to [1, 5]"
    return f"isotonic, {len(m.knots_x)} knots over raw {m.knots_x[0]:.2f}..{m.knots_x[-1]:.2f}"


def cmd_calibrate(args) -> int:
    from validation.calibration import fit_calibration, format_checks
    from validation.gate import GateSettings, join_sessions

    from .cli import _engine
    from .eval import LabelError, read_labels
    from .repository import StoreRepository, pick_model

    try:
        labels = read_labels(args.labels)
    except LabelError as err:
        raise _cli_error(str(err)) from None
    repo = StoreRepository(_engine(args))
    try:
        key = pick_model(repo.model_identities(), args.model)
    except LookupError as err:
        raise _cli_error(str(err).strip("'\"")) from None
    model = model_identity(key)
    inputs = gate_inputs(repo.predictions(key, phase=RECORD_PHASE), labels)
    p, y, _, _ = join_sessions(inputs.predictions, inputs.labels, None)
    need = max(10, args.folds)
    usable = {d: v for d, v in p.items() if len(v) >= need}
    if not usable:
        counts = ", ".join(f"{d} {len(v)}" for d, v in p.items())
        raise _cli_error(f"too few labelled sessions with a {RECORD_PHASE}-phase prediction by {key} to calibrate "
                         f"({counts}; need at least {need})")
    try:
        result = fit_calibration(usable, {d: y[d] for d in usable}, args.method, folds=args.folds, seed=args.seed)
    except ValueError as err:
        raise _cli_error(str(err)) from None
    print(f"model: {key}")
    print(f"labels: {args.labels} ({len(labels)} sessions; {max(len(v) for v in usable.values())} with a "
          f"{RECORD_PHASE}-phase prediction)")
    skipped = sorted(set(p) - set(usable))
    if skipped:
        print(f"not calibrated (fewer than {need} labelled sessions): {', '.join(skipped)}")
    print()
    print(format_checks(result.checks).replace("calibration, held-out folds",
                                               f"calibration, {args.folds}-fold held-out"))
    worse = [d for d, c in result.checks.items() if not c.improves]
    if worse:
        print(f"warning: on held-out folds the map did not lower both MAE and RMSE for {', '.join(worse)}")
    print()
    print("maps fitted on all labels (applied by the scoring worker to dimension scores; items stay raw):")
    for dim, m in result.calibration.maps.items():
        print(f"  {dim:<9} {_describe_map(m)}")
    cal = result.calibration.to_dict()
    cal.update(labels_source=str(args.labels), fitted_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
               folds=args.folds, seed=args.seed, checks={d: c.to_dict() for d, c in result.checks.items()})
    print()
    if args.no_record:
        print("calibration NOT stored (--no-record)")
        return 0
    if repo.latest_record(model) is not None:
        rec = repo.set_calibration(model, cal)
        print(f"calibration stored with the validation record of {rec.key} "
              f"({rec.created_at.isoformat(timespec='seconds')})")
        return 0
    # No record yet: evaluate the gate on the same labels so the calibration has a record to live in.
    record = evaluate_gate(model, inputs, GateSettings(seed=args.seed), labels_source=str(args.labels),
                           calibration=cal)
    repo.add_validation_record(record)
    verdicts = ", ".join(f"{d} {'pass' if v.passed else 'fail'}" for d, v in record.dimensions.items())
    print(f"no validation record for {record.key} yet: evaluated the gate on these labels with default settings "
          f"({verdicts}) and stored it with the calibration; `alliance-monitor eval` prints the figures")
    return 0


# --- models status ----------------------------------------------------------------------------


def register_models_status(models_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``status`` to the ``models`` group (scoring/cli.py creates the group and calls this)."""
    p = models_subparsers.add_parser("status", help="validation records: pass/fail per dimension, date, label set")
    p.add_argument("--all", action="store_true", help="every record, not only the newest per model identity")
    p.add_argument("--db", metavar="URL", help="database URL (default: ALLIANCE_DB_URL, else the SQLite file "
                                               "in ~/.local/share/alliance-monitor)")
    p.set_defaults(func=cmd_models_status)
    return p


def format_status(records: list["ValidationRecord"], *, history: bool = False) -> str:
    """status_table plus one line per record with a calibration and the reading rule."""
    from validation.gate import RecordBook, status_table

    shown = records if history else list(RecordBook(records))
    lines = [status_table(shown)]
    cal = [r for r in shown if r.calibration]
    if cal:
        lines.append("")
        for r in cal:
            c = r.calibration or {}
            lines.append(f"calibrated: {r.key}  {c.get('method', '?')} (n={c.get('n', '?')}"
                         + (f", fitted {str(c['fitted_at'])[:10]}" if c.get("fitted_at") else "") + ")")
    if shown:
        lines += ["", "pass = alerts for that dimension may reach counselors; fail, or a model identity not listed: "
                      "supervisors only, marked unvalidated"]
    return "\n".join(lines)


def cmd_models_status(args) -> int:
    from .cli import _engine
    from .repository import StoreRepository

    repo = StoreRepository(_engine(args))
    print(format_status(repo.validation_records(), history=getattr(args, "all", False)))
    try:  # lineage of trained artefacts (train --method head|lora), from their metadata
        from training.lineage import status_section
    except ImportError:
        return 0
    section = status_section()
    if section:
        print("\n" + section)
    return 0


# --- start-up loader --------------------------------------------------------------------------


def load_record_book(db_url: str | None = None) -> "RecordBook":
    """Every readable validation record in the store, as the gate's ``RecordBook``.

    Never raises: an unreachable database, a store without the table (not
    migrated, or migrated before revision 0002) or an unreadable row gives an
    empty (or smaller) book and one WARNING line — so the gate stays CLOSED for
    every model it cannot vouch for. Read it at start-up (and again on a timer
    if records may change while running).
    """
    from sqlalchemy import inspect, select

    from validation.gate import RecordBook

    from .db import make_engine, safe_url
    from .models import ValidationRecordRow
    from .repository import _record_from_row
    from .settings import StoreSettings

    book = RecordBook()
    engine = None
    try:
        url = db_url or StoreSettings.from_env().db_url
        shown = safe_url(url)
        kw = {} if url.startswith("sqlite") else {"connect_args": {"connect_timeout": 5}}
        engine = make_engine(url, **kw)
        if "validation_records" not in inspect(engine).get_table_names():
            log.warning("validation gate: no validation_records table in %s (run `alliance-monitor db upgrade`); "
                        "every model is unvalidated", shown)
            return book
        with engine.connect() as conn:
            rows = conn.execute(select(ValidationRecordRow.__table__)).all()
    except Exception as err:  # noqa: BLE001 - fail closed, never crash the caller
        log.warning("validation gate: cannot read validation records (%s); every model is unvalidated",
                    type(err).__name__)
        return book
    finally:
        if engine is not None:
            engine.dispose()
    # Only the newest row per identity counts, chosen by its columns before parsing: if that row is
    # unreadable, an older (perhaps passing) record must not take its place.
    newest: dict[tuple, object] = {}
    for row in rows:
        ident = (row.model_name, row.model_revision, row.prompt_version, row.readout)
        cur = newest.get(ident)
        if cur is None or (row.created_at, row.id) > (cur.created_at, cur.id):
            newest[ident] = row
    bad = 0
    for ident, row in newest.items():
        try:
            record = _record_from_row(row)
            if (record.model.name, record.model.revision, record.model.prompt_version,
                    record.model.readout) != ident:
                raise ValueError("record JSON names another model identity than its row")
            book.add(record)
        except Exception:  # noqa: BLE001 - a damaged row only closes the gate for its model
            bad += 1
    if bad:
        log.warning("validation gate: %d unreadable validation record(s) in %s ignored (those models stay "
                    "unvalidated)", bad, shown)
    return book
