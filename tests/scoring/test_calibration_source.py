"""The worker takes its calibration from the model's validation record in the store."""

from __future__ import annotations

from alliance_monitor.commands.score import load_calibration
from store.db import make_engine, upgrade
from store.repository import StoreRepository
from streams.contracts import ModelIdentity
from validation import synthetic
from validation.calibration import calibrate_score, fit_calibration
from validation.verdict import GateSettings, evaluate

MODEL = ModelIdentity(name="care-style-8b", revision="r1", prompt_version="wai-sr-client-v1", readout="expected")


def test_stored_calibration_is_loaded_for_the_exact_identity_and_applied(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    ds = synthetic.misscaled()
    fit = fit_calibration(ds.predictions, ds.labels)
    record = evaluate(MODEL, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=200),
                      calibration=fit.calibration.to_dict())
    assert StoreRepository(make_engine(url)).add_validation_record(record)

    assert load_calibration(MODEL.model_copy(update={"revision": "r2"}), url) is None  # another revision
    cal = load_calibration(MODEL, url)
    assert cal is not None and set(cal.maps) == {"goal", "approach", "bond"}

    from tests.gateway.events import score

    raw = score("s", "c", "late", 3.0, 3.1, 3.3).model_copy(update={"model": MODEL})
    mapped = calibrate_score(raw, cal)
    for dim in ("goal", "approach", "bond"):
        assert mapped.dimensions[dim].score == cal.maps[dim].apply(raw.dimensions[dim].score)
    assert mapped.dimensions != raw.dimensions  # a mis-scaled model's scores move
    assert mapped.items == raw.items  # items stay raw


def test_no_store_means_raw_scores(tmp_path):
    assert load_calibration(MODEL, f"sqlite:///{tmp_path / 'missing' / 'none.db'}") is None
