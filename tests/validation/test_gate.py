"""The gate's decision on the seeded fixtures, the record, and who receives an alert."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from streams.contracts import AllianceAlert, ModelIdentity
from validation import synthetic
from validation.gate import GATE_OFF_WARNING, UNVALIDATED, apply_gate, audience_for
from validation.records import DimensionVerdict, RecordBook, ValidationRecord
from validation.verdict import GateSettings, evaluate, evaluate_dimension

FAST = GateSettings(resamples=500)
MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="v1", readout="expected")
DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)


def _record(ds: synthetic.LabelledSet, model: ModelIdentity = MODEL, at: datetime = DAY) -> ValidationRecord:
    return evaluate(model, ds.predictions, ds.labels, ds.covariates, FAST, labels_source="fixture.jsonl",
                    created_at=at)


def _alert(dimension: str = "bond", kind: str = "drop", model: str | None = "care-8b") -> AllianceAlert:
    return AllianceAlert(alert_id=f"s1:middle:{dimension}:{kind}", session_id="s1", counselor_id="c1",
                         dimension=dimension, kind=kind, severity="warning", phase="middle", model=model)


# --- the decision on the fixtures ----------------------------------------------------------------


def test_length_tracking_model_looks_good_raw_but_the_gate_stays_closed():
    ds = synthetic.length_only()
    for dim in synthetic.DIMENSIONS:
        v = evaluate_dimension(dim, ds.predictions[dim], ds.labels[dim], ds.covariates, FAST)
        assert v.r > v.counselor_r, "raw r alone would (wrongly) beat the counselors"
        assert abs(v.partial_r) < 0.1
        assert v.partial_ci[0] < 0 < v.partial_ci[1]
        assert v.baseline_r > 0.25  # length alone predicts these labels about as well
        assert not v.passed
        assert v.reason.startswith("fails:") and "length-only baseline" in v.reason


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_length_tracking_never_passes_on_other_seeds(seed):
    ds = synthetic.length_only(seed=seed)
    assert not any(_record(ds).passes(d) for d in synthetic.DIMENSIONS)


@pytest.mark.parametrize("dimension", synthetic.DIMENSIONS)
def test_real_signal_opens_the_gate_for_that_dimension_only(dimension):
    record = _record(synthetic.signal_in(dimension))
    assert record.passed_dimensions() == [dimension]
    v = record.dimensions[dimension]
    assert v.partial_r > max(v.baseline_r, v.counselor_r)
    assert v.partial_ci[0] > 0
    assert v.reason.startswith("passes:")


def test_each_condition_is_required():
    rng = np.random.default_rng(0)
    n = 1500
    cov = np.column_stack([rng.normal(3000, 600, n), rng.integers(8, 60, n)])
    truth = rng.normal(size=n)
    labels = 3.5 + 0.5 * truth
    weak = truth + rng.normal(0, 5.0, n)  # real but weak signal: partial r ≈ .2
    v = evaluate_dimension("goal", weak, labels, cov, FAST)
    assert 0.1 < v.partial_r < 0.28 and v.partial_ci[0] > 0 and v.partial_r > v.baseline_r
    assert not v.passed and "counselor reference" in v.reason and "baseline" not in v.reason
    # the same data against a lower reference passes ...
    assert evaluate_dimension("goal", weak, labels, cov, GateSettings(resamples=500, counselor_r=0.05)).passed
    # ... but not with fewer labelled sessions than the minimum
    few = evaluate_dimension("goal", weak[:200], labels[:200], cov[:200],
                             GateSettings(resamples=500, counselor_r=-1.0, min_n=500))
    assert not few.passed and "only 200 labelled sessions (minimum 500)" in few.reason


def test_per_dimension_reference():
    s = GateSettings.published_per_dimension()
    assert (s.reference_for("goal"), s.reference_for("bond")) == (0.29, 0.261)
    assert GateSettings().reference_for("bond") == 0.28


def test_degenerate_inputs_fail_with_a_reason():
    v = evaluate_dimension("bond", [3.0] * 60, list(np.linspace(1, 5, 60)), np.ones((60, 2)) * 7, FAST)
    assert not v.passed and "predictions are constant" in v.reason
    tiny = evaluate_dimension("bond", [1, 2, 3], [1, 2, 3], [[1, 2], [3, 4], [5, 7]], FAST)
    assert not tiny.passed and tiny.r is None and "too few" in tiny.reason
    with pytest.raises(ValueError, match="equal length"):
        evaluate_dimension("bond", [1, 2, 3], [1, 2], [[1], [2], [3]], FAST)


@pytest.mark.parametrize("bad", [dict(counselor_r=1.5), dict(min_n=3), dict(resamples=5),
                                 dict(confidence=1.0), dict(folds=1)])
def test_settings_are_checked(bad):
    with pytest.raises(ValueError):
        GateSettings(**bad)


# --- the record --------------------------------------------------------------------------------


def test_record_round_trips_through_json():
    record = _record(synthetic.signal_in("bond"))
    back = ValidationRecord.from_json(record.to_json())
    assert back == record
    assert back.passes("bond") and not back.passes("goal") and not back.passes("process")
    assert back.key == "care-8b@abc123:v1/expected"
    assert back.labels_n == synthetic.N_SESSIONS and back.labels_source == "fixture.jsonl"
    assert back.settings["resamples"] == 500
    assert back.status_row() == {"model": back.key, "date": "2026-11-01", "labels": 242,
                                 "goal": "fail", "approach": "fail", "bond": "pass"}


def test_record_book_keeps_the_newest_record_per_identity():
    old = _record(synthetic.signal_in("bond"), at=DAY)
    new = _record(synthetic.length_only(), at=DAY + timedelta(days=3))
    other = _record(synthetic.signal_in("goal"), model=MODEL.model_copy(update={"revision": "def456"}))
    book = RecordBook([new, old, other])
    assert len(book) == 2
    assert book.for_model(MODEL) is new
    assert book.for_model(MODEL.model_copy(update={"readout": "sampled"})) is None


# --- who receives an alert ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bond_record() -> ValidationRecord:
    return _record(synthetic.signal_in("bond"))


def test_no_record_means_supervisors_only_marked_unvalidated():
    a = audience_for(_alert(), None)
    assert (a.supervisors, a.counselor, a.validated, a.mark) == (True, False, False, UNVALIDATED)
    assert "no validation record for care-8b" in a.reason


def test_passing_dimension_reaches_the_counselor(bond_record):
    a = audience_for(_alert("bond"), bond_record, model=MODEL)
    assert (a.supervisors, a.counselor, a.validated, a.mark) == (True, True, True, None)
    g = audience_for(_alert("goal"), bond_record, model=MODEL)
    assert (g.counselor, g.mark) == (False, UNVALIDATED)
    assert "not validated for goal" in g.reason and "fails:" in g.reason


def test_record_of_another_identity_does_not_count(bond_record):
    other = MODEL.model_copy(update={"revision": "def456"})
    a = audience_for(_alert("bond"), bond_record, model=other)
    assert not a.counselor and "care-8b@abc123:v1/expected, not care-8b@def456:v1/expected" in a.reason
    assert not audience_for(_alert("bond", model="smollm2"), bond_record).counselor
    # without the full identity the name is matched (what the gateway has on an alert)
    assert audience_for(_alert("bond"), bond_record).counselor


def test_turning_the_gate_off_is_explicit_and_keeps_the_truth(bond_record):
    a = audience_for(_alert("goal"), bond_record, gate_enabled=False, model=MODEL)
    assert a.counselor and not a.validated and a.mark == UNVALIDATED and "gate disabled" in a.reason
    assert "DISABLED" in GATE_OFF_WARNING
    assert not audience_for(_alert("goal"), bond_record, model=MODEL).counselor  # on by default


def test_process_alerts_follow_their_detectors_flag_not_a_models_record(bond_record):
    a = audience_for(_alert("process", kind="process", model=None), bond_record)
    assert not a.counselor and a.mark == UNVALIDATED and "process-signal detector" in a.reason
    ok = audience_for(_alert("process", kind="process", model=None).model_copy(update={"validated": True}), None)
    assert ok.counselor and ok.mark is None


def test_gateway_dicts_are_accepted(bond_record):
    as_dict = _alert("bond").model_dump(mode="json")
    assert audience_for(as_dict, bond_record).counselor
    assert not audience_for(as_dict, None).counselor


def test_apply_gate_sets_the_flag_the_gateway_routes_on(bond_record):
    from gateway.policy import Policy
    from gateway.visibility import alert_is_gated

    for dim, expect in (("bond", True), ("goal", False)):
        gated = apply_gate(_alert(dim), bond_record, MODEL)
        assert gated.validated is expect
        assert alert_is_gated(gated.model_dump(mode="json"), Policy()) is (not expect)
    assert apply_gate(_alert("bond"), None, MODEL).validated is False


def test_verdict_is_strict_about_fields():
    with pytest.raises(ValueError):
        DimensionVerdict(dimension="bond", n=1, counselor_r=0.28, passed=False, reason="x", surprise=1)


# --- joining store rows with a label file ------------------------------------------------------------


def test_join_sessions_keeps_sessions_per_dimension():
    from validation.verdict import join_sessions

    preds = {"a": {"goal": 3.0, "bond": 2.0}, "b": {"goal": 4.0, "bond": None}, "c": {"goal": 2.5, "bond": 3.5},
             "unlabelled": {"goal": 1.0, "bond": 1.0}}
    labels = {"c": {"goal": 2.0, "bond": 4.0}, "a": {"goal": 3.5}, "b": {"goal": 4.5, "bond": 5.0},
              "no-prediction": {"goal": 3.0}}
    cov = {"a": (100, 3), "b": (200, 5), "c": (300, 7), "unlabelled": (1, 1)}
    p, y, c, sids = join_sessions(preds, labels, cov, ("goal", "bond"))
    assert sids == {"goal": ["a", "b", "c"], "bond": ["c"]}
    assert p["goal"] == [3.0, 4.0, 2.5] and y["goal"] == [3.5, 4.5, 2.0] and c["goal"][1] == [200.0, 5.0]
    assert p["bond"] == [3.5] and y["bond"] == [4.0]


def test_evaluate_sessions_equals_evaluate_on_arrays():
    from validation.verdict import evaluate_sessions

    ds = synthetic.signal_in("bond")

    def by_sid(values):
        return {s: {d: float(values[d][i]) for d in values} for i, s in enumerate(ds.session_ids)}

    cov = {s: tuple(ds.covariates[i]) for i, s in enumerate(ds.session_ids)}
    a = evaluate_sessions(MODEL, by_sid(ds.predictions), by_sid(ds.labels), cov, FAST, created_at=DAY)
    b = _record(ds)
    # session-id order equals row order here, so every figure is identical
    assert a.dimensions == b.dimensions and a.labels_n == b.labels_n


def test_status_table_lists_pass_fail_date_and_size(bond_record):
    from validation.formatting import status_table

    other = _record(synthetic.length_only(), model=ModelIdentity(name="smollm2-135m"))
    text = status_table(RecordBook([bond_record, other]))
    lines = text.splitlines()
    assert lines[0].split() == ["model", "date", "labels", "goal", "approach", "bond"]
    assert lines[2].split() == ["care-8b@abc123:v1/expected", "2026-11-01", "242", "fail", "fail", "pass"]
    assert lines[3].split() == ["smollm2-135m@local:v1/expected", "2026-11-01", "242", "fail", "fail", "fail"]
    assert "unvalidated" in status_table([])


def test_join_without_covariates_for_calibration():
    from validation.verdict import join_sessions

    p, y, c, sids = join_sessions({"a": {"bond": 3.0}, "b": {"bond": 2.0}}, {"a": {"bond": 4.0}}, None, ("bond",))
    assert (p, y, c, sids) == ({"bond": [3.0]}, {"bond": [4.0]}, {"bond": []}, {"bond": ["a"]})
    # a session whose covariates are unknown is left out of the gate
    _, _, _, sids = join_sessions({"a": {"bond": 3.0}, "b": {"bond": 2.0}}, {"a": {"bond": 4.0}, "b": {"bond": 1.0}},
                                  {"a": (10, 2), "b": (None, None)}, ("bond",))
    assert sids == {"bond": ["a"]}


def test_format_record_shows_every_figure_and_the_verdict(bond_record):
    from validation.formatting import format_record

    text = format_record(bond_record)
    v = bond_record.dimensions["bond"]
    bond_line = next(line for line in text.splitlines() if line.startswith("bond "))
    assert f"{v.partial_r:.3f}" in bond_line and f"{v.baseline_r:.3f}" in bond_line and bond_line.endswith("PASS")
    assert "alerts for bond may reach counselors" in text
    assert "goal: fails (raw r " in text  # one failed condition per line beneath it
    assert "    - length-controlled r" in text and "does not beat the length-only baseline" in text
    closed = format_record(_record(synthetic.length_only()))
    assert "go to supervisors only, marked unvalidated" in closed


def test_routing_needs_neither_numpy_nor_scipy():
    """The processor and gateway import the gate to route alerts; they must not pay for the statistics."""
    import subprocess
    import sys

    code = "import sys, validation.gate; print('numpy' in sys.modules or 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gate_label_is_the_routing_the_pages_show(bond_record):
    from validation.gate import GATE_UNVALIDATED, GATE_VALIDATED, gate_label, reaches_counselor

    passed, failed = apply_gate(_alert("bond"), bond_record, MODEL), apply_gate(_alert("goal"), bond_record, MODEL)
    process = _alert("process", kind="process", model=None)  # no detector record: unvalidated like a model
    assert [gate_label(a) for a in (passed, failed, process)] == [GATE_VALIDATED, GATE_UNVALIDATED, GATE_UNVALIDATED]
    assert [reaches_counselor(a) for a in (passed, failed, process)] == [True, False, False]
    assert reaches_counselor(failed, gate_enabled=False)  # the demo-only setting
