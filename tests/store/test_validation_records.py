"""Migration 0002 (validation_records) and the repository's record methods, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from store import db
from store.models import ValidationRecordRow
from store.repository import ModelKey, StoreRepository
from streams.contracts import ModelIdentity
from validation import synthetic
from validation.records import RecordBook
from validation.verdict import GateSettings, evaluate

pytestmark = pytest.mark.integration

FAST = GateSettings(resamples=200)
MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="v2", readout="expected")
DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def _record(ds, model=MODEL, at=DAY, calibration=None):
    return evaluate(model, ds.predictions, ds.labels, ds.covariates, FAST, labels_source="site-ratings.jsonl",
                    created_at=at, calibration=calibration)


@pytest.fixture(scope="module")
def bond_record():
    return _record(synthetic.signal_in("bond"))


@pytest.fixture(scope="module")
def closed_record():
    return _record(synthetic.length_only(), at=DAY + timedelta(days=2))


def test_0002_adds_the_table_and_downgrades_to_0001(db_url):
    db.upgrade(db_url, "0001")
    engine = db.make_engine(db_url)
    try:
        assert "validation_records" not in db.table_names(engine)
        db.upgrade(db_url, "0002")
        assert db.current_revision(engine) == "0002"
        assert "validation_records" in db.table_names(engine)
        db.downgrade(db_url, "-1")  # one step
        assert db.current_revision(engine) == "0001"
        assert "validation_records" not in db.table_names(engine) and "predictions" in db.table_names(engine)
        db.upgrade(db_url)
        assert "validation_records" in db.table_names(engine)
    finally:
        engine.dispose()


def test_record_round_trips_with_columns_for_listing(engine, bond_record):
    repo = StoreRepository(engine)
    assert repo.add_validation_record(bond_record) is True
    assert repo.add_validation_record(bond_record) is False  # same identity and time: nothing added
    back = repo.latest_record(MODEL)
    assert back == bond_record and back.passes("bond") and not back.passes("goal")
    assert back.created_at.tzinfo is not None
    with engine.connect() as conn:
        rows = conn.execute(select(ValidationRecordRow.__table__)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.model_name, row.model_revision, row.prompt_version, row.readout) == ("care-8b", "abc123", "v2",
                                                                                     "expected")
    assert (row.labels_n, row.labels_source) == (242, "site-ratings.jsonl")
    assert (row.goal_passed, row.approach_passed, row.bond_passed) == (False, False, True)
    assert row.calibration is None and row.record["dimensions"]["bond"]["passed"] is True


def test_latest_record_is_per_exact_identity(engine, bond_record, closed_record):
    repo = StoreRepository(engine)
    other = _record(synthetic.signal_in("goal"), model=MODEL.model_copy(update={"prompt_version": "v3"}),
                    at=DAY + timedelta(days=5))
    for rec in (bond_record, closed_record, other):
        repo.add_validation_record(rec)
    assert repo.latest_record(MODEL) == closed_record  # the newer record replaces the older verdict
    assert repo.latest_record(ModelKey("care-8b", "abc123", "v2", "expected")) == closed_record
    assert repo.latest_record(MODEL.model_copy(update={"revision": "zzz"})) is None
    assert repo.latest_record(MODEL.model_copy(update={"prompt_version": "v3"})).passed_dimensions() == ["goal"]
    assert [r.created_at for r in repo.validation_records()] == [other.created_at, closed_record.created_at,
                                                                 bond_record.created_at]
    assert len(repo.validation_records(MODEL)) == 2
    book = RecordBook(repo.validation_records())
    assert len(book) == 2 and not book.for_model(MODEL).passes("bond")


def test_set_calibration_updates_the_newest_record(engine, bond_record, closed_record):
    repo = StoreRepository(engine)
    with pytest.raises(LookupError, match="no validation record for care-8b@abc123:v2/expected"):
        repo.set_calibration(MODEL, {"version": 1})
    repo.add_validation_record(bond_record)
    repo.add_validation_record(closed_record)
    cal = {"version": 1, "method": "linear", "n": 242,
           "dimensions": {"bond": {"method": "linear", "intercept": -1.5, "slope": 1.6}}}
    updated = repo.set_calibration(MODEL, cal)
    assert updated.created_at == closed_record.created_at and updated.calibration == cal
    assert repo.latest_record(MODEL).calibration == cal
    older = [r for r in repo.validation_records(MODEL) if r.created_at == bond_record.created_at][0]
    assert older.calibration is None
