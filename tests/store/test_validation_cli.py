"""`eval` with the gate, `calibrate`, `models status` and the start-up loader, on a real SQLite store.

The stores are filled with the seeded ``validation.synthetic`` fixtures (predictions
written through the sink's own write path), so the right answer is known by
construction: a length-tracking model must look good on raw r and still fail.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import update

from alliance_monitor.cli import build_parser, main
from alliance_monitor.commands.models import cmd_models_status, register_models_status
from store.db import make_engine, upgrade
from store.models import ValidationRecordRow
from store.records import load_record_book
from store.repository import ModelKey, StoreRepository
from store.validation_demo import write_labelled_set
from streams.contracts import AllianceAlert, ModelIdentity
from validation import synthetic
from validation.calibration import Calibration, LinearMap, calibrate_score
from validation.gate import apply_gate
from validation.verdict import GateSettings, evaluate

from .factories import score

pytestmark = pytest.mark.integration

DEMO = ModelIdentity(name="demo-model")  # demo-model@local:v1/expected
FAST = ["--resamples", "500"]


def _store(tmp_path, ds, name="s"):
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    labels = write_labelled_set(ds, url, tmp_path / f"{name}.jsonl")
    return url, labels


def _line(text: str, start: str, after: str | None = None) -> list[str]:
    """The first line starting with ``start`` (after the line containing ``after``), split."""
    lines = text.splitlines()
    if after is not None:
        lines = lines[next(i for i, line in enumerate(lines) if after in line):]
    return next(line for line in lines if line.startswith(start)).split()


def _alert(dimension: str) -> AllianceAlert:
    return AllianceAlert(alert_id=f"s1:middle:{dimension}:drop", session_id="s1", counselor_id="c1",
                         dimension=dimension, kind="drop", severity="warning", phase="middle", model="demo-model")


def _repo(url) -> StoreRepository:
    return StoreRepository(make_engine(url))


# --- eval -----------------------------------------------------------------------------------------


def test_length_tracking_model_high_raw_r_near_zero_partial_record_fails(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.length_only())
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST]) == 0
    out = capsys.readouterr().out
    for dim in synthetic.DIMENSIONS:
        raw = float(_line(out, dim + " ")[1])  # the Pearson table beside the published numbers
        assert raw > 0.28, f"{dim}: raw r alone would (wrongly) beat the counselors"
        gate = _line(out, dim + " ", after="validation gate for")
        partial = float(gate[3])
        assert abs(partial) < 0.1 and gate[-1] == "fail"
    assert "no dimension passed: this model's alerts go to supervisors only" in out
    assert "validation record written for demo-model@local:v1/expected" in out

    rec = _repo(url).latest_record(DEMO)
    assert rec is not None and rec.passed_dimensions() == [] and rec.labels_n == 242
    assert rec.labels_source == str(labels) and rec.settings["resamples"] == 500
    for v in rec.dimensions.values():
        assert v.r > 0.28 and abs(v.partial_r) < 0.1 and v.partial_ci[0] < 0 < v.partial_ci[1]
        assert "does not beat the length-only baseline" in v.reason
    # the loader the processor/gateway use agrees: the gate stays closed for every dimension
    book = load_record_book(url)
    for dim in synthetic.DIMENSIONS:
        assert apply_gate(_alert(dim), book.for_model(DEMO), DEMO).validated is False


def test_signal_beyond_length_in_bond_passes_bond_only(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.signal_in("bond"))
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST, "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    verdicts = {d: _line(out, d + " ", after="validation gate for")[-1] for d in synthetic.DIMENSIONS}
    assert verdicts == {"goal": "fail", "approach": "fail", "bond": "PASS"}
    assert "alerts for bond may reach counselors" in out
    rec = _repo(url).latest_record(DEMO)
    assert rec.passed_dimensions() == ["bond"]
    bond = rec.dimensions["bond"]
    assert bond.partial_r > bond.baseline_r and bond.partial_r > 0.28 and bond.partial_ci[0] > 0
    book = load_record_book(url)
    assert apply_gate(_alert("bond"), book.for_model(DEMO), DEMO).validated is True
    assert apply_gate(_alert("goal"), book.for_model(DEMO), DEMO).validated is False
    other_revision = DEMO.model_copy(update={"revision": "other"})
    assert apply_gate(_alert("bond"), book.for_model(other_revision), other_revision).validated is False
    import orjson

    data = orjson.loads((tmp_path / "e.json").read_bytes())
    assert data["validation"]["dimensions"]["bond"]["passed"] is True and data["dimensions"]["bond"]["r"] > 0.5


@pytest.mark.parametrize("options, expect", [
    (["--min-n", "300"], "only 242 labelled sessions (minimum 300)"),
    (["--reference", "0.6"], "does not beat the counselor reference (r 0.600)"),
])
def test_gate_settings_are_options_and_no_record_writes_nothing(tmp_path, capsys, options, expect):
    url, labels = _store(tmp_path, synthetic.signal_in("bond"))
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST, "--no-record", *options]) == 0
    out = capsys.readouterr().out
    assert _line(out, "bond ", after="validation gate for")[-1] == "fail" and expect in out
    assert "validation record NOT written (--no-record)" in out
    assert _repo(url).validation_records() == []


def test_published_reference_per_dimension(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.signal_in("bond"))
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST, "--reference", "published"]) == 0
    out = capsys.readouterr().out
    assert [_line(out, d + " ", after="validation gate for")[-2] for d in synthetic.DIMENSIONS] == [
        "0.290", "0.286", "0.261"]
    assert _repo(url).latest_record(DEMO).settings["counselor_r_by_dimension"]["bond"] == 0.261


@pytest.mark.parametrize("options, problem", [
    (["--reference", "2"], "a correlation must lie in [-1, 1]"),
    (["--resamples", "5"], "must be at least 100"),
    (["--min-n", "3"], "must be at least 10"),
])
def test_bad_gate_options_are_one_line(tmp_path, capsys, options, problem):
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--labels", str(tmp_path / "x.jsonl"), *options])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and problem in err and err.count("\n") == 1


def test_item_level_partial_r_is_printed_beside_r(tmp_path, capsys):
    """Item labels → per item r and length-controlled r; sessions without length are left out of the gate."""
    url = f"sqlite:///{tmp_path / 'i.db'}"
    upgrade(url)
    rng = np.random.default_rng(5)
    events, lines = [], []
    for i in range(30):
        chars, turns = int(rng.integers(1000, 5000)), int(rng.integers(5, 40))
        answers = {f"Q{q}": int(rng.integers(1, 6)) for q in range(1, 13)}
        items = {k: float(np.clip(v + rng.normal(0, 0.5), 1, 5)) for k, v in answers.items()}
        length = {} if i == 0 else {"transcript_chars": chars, "client_turns": turns}
        events.append(score(f"i{i}", "late", items, with_text=False, **length))
        lines.append('{"session_id": "i%d", "items": {%s}}' % (i, ", ".join(f'"{k}": {v}' for k, v in answers.items())))
    engine = make_engine(url)
    with engine.begin() as conn:
        from store.writes import write_events

        write_events(conn, events)
    engine.dispose()
    (tmp_path / "l.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["eval", "--labels", str(tmp_path / "l.jsonl"), "--db", url, *FAST, "--min-n", "10"]) == 0
    out = capsys.readouterr().out
    import re

    q1 = next(line for line in out.splitlines() if line.startswith("  Q1 "))
    m = re.match(r"\s+Q1\s+r=\s*(\S+)\s+p=\s*(\S+)\s+n=(\d+)\s+partial r=\s*(\S+)\s+p=", q1)
    assert m, q1
    assert int(m[3]) == 30 and float(m[1]) > 0.5 and float(m[4]) > 0.5  # items track the answers
    assert "1 labelled sessions have no stored transcript length" in out
    assert _line(out, "goal ", after="validation gate for")[1] == "29"


# --- calibrate --------------------------------------------------------------------------------------


def _held_out_rows(out: str) -> dict[str, list[float]]:
    rows = {}
    for dim in synthetic.DIMENSIONS:
        parts = _line(out, dim + " ", after="held-out (raw -> calibrated)")
        nums = [float(p) for p in parts[3:] if p != "->"]
        rows[dim] = nums  # mae before, after, rmse before, after, r before, after
    return rows


def test_calibrate_improves_a_misscaled_model_on_held_out_folds_and_round_trips(tmp_path, capsys):
    ds = synthetic.misscaled()
    url, labels = _store(tmp_path, ds)
    assert main(["calibrate", "--labels", str(labels), "--db", url]) == 0
    out = capsys.readouterr().out
    for dim, (mae_b, mae_a, rmse_b, rmse_a, _, _) in _held_out_rows(out).items():
        assert mae_a < mae_b and rmse_a < rmse_b, dim
    assert "no validation record for demo-model@local:v1/expected yet" in out

    rec = _repo(url).latest_record(DEMO)
    cal = Calibration.from_dict(rec.calibration)
    assert cal.method == "linear" and cal.n == 242 and rec.calibration["labels_source"] == str(labels)
    for dim in synthetic.DIMENSIONS:  # the stored map is the fit on all labels, not something else
        expect = LinearMap.fit(ds.predictions[dim], ds.labels[dim])
        assert cal.maps[dim].slope == pytest.approx(expect.slope) and cal.maps[dim].slope > 0
        assert cal.maps[dim].intercept == pytest.approx(expect.intercept)
        assert rec.calibration["checks"][dim]["mae_after"] < rec.calibration["checks"][dim]["mae_before"]
    # what the scoring worker will do with it: the mis-scaled 3.1 moves to the client's scale
    raw = score("x", "late", 3.1)
    calibrated = calibrate_score(raw, Calibration.from_dict(load_record_book(url).for_model(DEMO).calibration))
    for dim in synthetic.DIMENSIONS:
        assert calibrated.dimensions[dim].score == pytest.approx(cal.maps[dim].apply(3.1))
    assert calibrated.items == raw.items

    # eval afterwards keeps the calibration with its new record and shows before/after
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST]) == 0
    out = capsys.readouterr().out
    assert "calibration carried over from the previous record" in out and "held-out when fitted (5-fold)" in out
    mae = _line(out, "goal ", after="calibration stored with the record")
    assert float(mae[4]) < float(mae[2])
    records = _repo(url).validation_records(DEMO)
    assert len(records) == 2 and records[0].calibration == rec.calibration


def test_calibrate_attaches_to_the_existing_record_isotonic(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.misscaled())
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST]) == 0
    first = _repo(url).latest_record(DEMO)
    assert first.calibration is None
    capsys.readouterr()
    assert main(["calibrate", "--labels", str(labels), "--db", url, "--method", "isotonic"]) == 0
    out = capsys.readouterr().out
    assert "calibration stored with the validation record of demo-model@local:v1/expected" in out
    for dim, (mae_b, mae_a, rmse_b, rmse_a, _, _) in _held_out_rows(out).items():
        assert mae_a < mae_b and rmse_a < rmse_b, dim
    recs = _repo(url).validation_records(DEMO)
    assert len(recs) == 1 and recs[0].created_at == first.created_at
    cal = Calibration.from_dict(recs[0].calibration)
    assert cal.method == "isotonic" and all(len(m.knots_x) > 2 for m in cal.maps.values())


def test_calibrate_with_too_few_labels_is_one_line(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.misscaled(n=8))
    assert main(["calibrate", "--labels", str(labels), "--db", url]) == 2
    err = capsys.readouterr().err
    assert "too few labelled sessions" in err and err.count("\n") == 1
    assert _repo(url).validation_records() == []


# --- models status ----------------------------------------------------------------------------------


def test_models_status_lists_identity_pass_fail_date_and_size(tmp_path, capsys):
    url, labels = _store(tmp_path, synthetic.signal_in("bond"))
    args = argparse.Namespace(db=url, all=False)
    assert cmd_models_status(args) == 0
    assert "no validation records: every model is unvalidated" in capsys.readouterr().out
    assert main(["eval", "--labels", str(labels), "--db", url, *FAST]) == 0
    capsys.readouterr()
    assert cmd_models_status(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "date", "labels", "goal", "approach", "bond"]
    today = datetime.now(timezone.utc).date().isoformat()
    assert lines[2].split() == ["demo-model@local:v1/expected", today, "242", "fail", "fail", "pass"]


def test_models_status_lists_the_rule_detectors_and_the_trained_ones_with_records(tmp_path, capsys):
    from validation.detectors import PROCESS_SIGNALS, detector_of_key
    from validation.stats import Interval
    from validation.turn_agreement import CodeAgreement, turn_record

    def agreement(code: str, passing: bool) -> CodeAgreement:
        low = 0.55 if passing else 0.10
        return CodeAgreement(code, "binary", "kappa", 200, 20, 40, low + 0.1, Interval(low, low + 0.2, 0.95, 500),
                             0.05, Interval(-0.1, 0.2, 0.95, 500), Interval(0.2, 0.5, 0.95, 500) if passing
                             else Interval(-0.2, 0.3, 0.95, 500), None, 0, "agrees" if passing else "weak")

    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade(url)
    args = argparse.Namespace(db=url, all=False)
    assert cmd_models_status(args) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if "@" in line}
    assert set(rows) == {"process-signals@2", "rupture-markers@2", "counselor-words@1"}  # rules: always listed
    assert "no record: withdrawal, confrontation" in rows["rupture-markers@2"]

    trained = detector_of_key("trained.rupture-markers@0123456789ab", ("confrontation",))
    assert trained is not None
    day = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for identity, codes in ((PROCESS_SIGNALS.identity, {"withdrawal": True, "rushing": False}),
                            (trained.identity, {"confrontation": True})):
        _repo(url).add_validation_record(turn_record(identity, [agreement(c, ok) for c, ok in codes.items()],
                                                     labels_n=200, created_at=day))
    assert cmd_models_status(args) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split(None, 3) for line in out.split("detectors (", 1)[1].splitlines() if "@" in line}
    assert rows["process-signals@2"][1:3] == ["rules", "2026-11-01"]
    assert rows["process-signals@2"][3].startswith("pass: withdrawal; fail: rushing; no record: slow_replies")
    assert rows["trained.rupture-markers@0123456789ab"][1:] == ["trained", "2026-11-01", "pass: confrontation"]
    assert rows["rupture-markers@2"][2] == "-"  # the trained stand-in's record is not the rules'


def test_register_models_status_adds_the_subcommand(tmp_path, capsys):
    """The `models` group belongs to scoring/cli.py; the helper plugs `status` into any such group."""
    parser = argparse.ArgumentParser(prog="x")
    models = parser.add_subparsers(dest="command").add_parser("models")
    register_models_status(models.add_subparsers(dest="models_command"))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    args = parser.parse_args(["models", "status", "--db", url, "--all"])
    assert args.func is cmd_models_status and args.all is True
    assert args.func(args) == 0 and "every model is unvalidated" in capsys.readouterr().out
    # once the lead has wired it into scoring/cli.py, the real entry point works the same way
    try:
        real = build_parser().parse_args(["models", "status", "--db", url])
    except SystemExit:
        return
    assert real.func is cmd_models_status and main(["models", "status", "--db", url]) == 0


# --- the start-up loader: fails closed ---------------------------------------------------------------


def test_loader_on_an_unreachable_database_is_empty_with_one_warning(caplog):
    caplog.set_level(logging.WARNING, logger="alliance.validation")
    book = load_record_book("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    assert len(book) == 0 and book.for_model(DEMO) is None
    assert len(caplog.records) == 1 and "every model is unvalidated" in caplog.records[0].getMessage()
    assert apply_gate(_alert("bond"), book.for_model(DEMO), DEMO).validated is False
    assert len(load_record_book("not a url")) == 0


def test_loader_on_a_store_without_the_table_is_empty(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="alliance.validation")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")  # a store migrated before the validation records existed
    assert len(load_record_book(url)) == 0
    assert "db upgrade" in caplog.records[-1].getMessage()
    assert len(load_record_book(f"sqlite:///{tmp_path / 'missing' / 'never.db'}")) == 0


def test_an_unreadable_newest_record_closes_the_gate_even_over_an_older_pass(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    ds = synthetic.signal_in("bond")
    day = datetime(2026, 11, 1, tzinfo=timezone.utc)
    fast = GateSettings(resamples=200)
    repo = _repo(url)
    repo.add_validation_record(evaluate(DEMO, ds.predictions, ds.labels, ds.covariates, fast, created_at=day))
    assert load_record_book(url).for_model(DEMO).passes("bond")
    newer = evaluate(DEMO, ds.predictions, ds.labels, ds.covariates, fast, created_at=day + timedelta(days=1))
    repo.add_validation_record(newer)
    with repo.engine.begin() as conn:
        conn.execute(update(ValidationRecordRow).where(ValidationRecordRow.created_at == newer.created_at)
                     .values(record={"damaged": True}))
    caplog.set_level(logging.WARNING, logger="alliance.validation")
    book = load_record_book(url)
    assert book.for_model(DEMO) is None
    assert "1 unreadable validation record(s)" in caplog.records[-1].getMessage()


def test_demo_writer_prints_the_commands_and_refuses_to_overwrite(tmp_path, capsys):
    from store.validation_demo import main as demo

    assert demo([str(tmp_path / "d"), "--fixture", "length_only"]) == 0
    out = capsys.readouterr().out
    assert "alliance-monitor eval --labels" in out and (tmp_path / "d" / "length_only.jsonl").is_file()
    assert len(_repo(f"sqlite:///{tmp_path / 'd' / 'length_only.db'}").predictions(ModelKey("demo-model"))) == 242
    with pytest.raises(SystemExit) as exc:
        demo([str(tmp_path / "d"), "--fixture", "length_only"])
    assert exc.value.code == 2


def test_loader_needs_neither_numpy_nor_scipy(tmp_path):
    """The processor and gateway load records at start-up; they must not pay for the statistics."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'n.db'}"
    upgrade(url)
    code = ("import sys; from store.records import load_record_book; "
            f"book = load_record_book({url!r}); "
            "print(len(book), 'numpy' in sys.modules or 'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["0", "False"]
