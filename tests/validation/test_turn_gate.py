"""The feedback gate's verdict per turn code, the turn-level record, and the decision on a feedback card.

Synthetic agreements (a passing code, one failing only on the length baseline, one only on the floor, one
only on too few turns / sessions), then real coded turns through ``evaluate_code``, then the RecordBook's
two levels and ``feedback_validated``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from streams.contracts import ModelIdentity
from validation import synthetic
from validation.formatting import status_table
from validation.gate import feedback_codes, feedback_passes, feedback_validated
from validation.records import RecordBook, ValidationRecord
from validation.stats import Interval
from validation.turn_agreement import (
    CodeAgreement,
    CodedTurn,
    TurnGateSettings,
    evaluate_code,
    gate_verdict,
    turn_record,
)
from validation.verdict import GateSettings, evaluate

DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)
FEEDBACK_MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="turn-feedback-v1",
                               readout="expected")


def agreement(code="empathy", *, n=150, sessions=15, value=0.62, ci=(0.48, 0.74), baseline=0.10,
              diff=(0.25, 0.60), verdict="agrees") -> CodeAgreement:
    kind = "binary" if code in ("directive", "reflection", "open_question", "closed_question") else "rated"
    return CodeAgreement(code, kind, "kappa" if kind == "binary" else "ICC(2,1)", n, sessions, None, value,
                         Interval(*ci, 0.95, 2000), baseline, Interval(baseline - 0.2, baseline + 0.2, 0.95, 2000),
                         Interval(*diff, 0.95, 2000), None, 0, verdict)


# --- the verdict rule on synthetic agreements ------------------------------------------------------------

def test_a_code_passes_when_its_lower_bound_clears_the_floor_and_it_beats_length():
    v = gate_verdict(agreement())
    assert v.passed and v.reason.startswith("passes")
    assert v.r == pytest.approx(0.62) and v.r_ci == (0.48, 0.74) and v.floor == 0.40
    assert v.statistic == "ICC(2,1)" and v.sessions == 15 and v.counselor_r is None


def test_a_code_fails_when_it_does_not_beat_the_length_baseline():
    v = gate_verdict(agreement(baseline=0.55, diff=(-0.05, 0.20)))
    assert not v.passed and "length-only baseline" in v.reason and "floor" not in v.reason


def test_a_code_fails_when_the_lower_bound_is_below_the_floor_even_with_a_good_point_estimate():
    v = gate_verdict(agreement(value=0.55, ci=(0.35, 0.70)))  # 'agrees' on the point estimate, not the bound
    assert not v.passed and "below the floor 0.40" in v.reason and "baseline" not in v.reason


@pytest.mark.parametrize("n,sessions,why", [(99, 15, "only 99 coded turns"), (150, 9, "only 9 coded sessions"),
                                            (44, 6, "only 44 coded turns")])
def test_a_code_fails_on_too_few_turns_or_sessions(n, sessions, why):
    v = gate_verdict(agreement(n=n, sessions=sessions))
    assert not v.passed and why in v.reason


def test_constant_codes_and_undefined_intervals_fail():
    nan = float("nan")
    assert not gate_verdict(agreement(verdict="codes constant")).passed
    assert not gate_verdict(agreement(value=nan, ci=(nan, nan), diff=(nan, nan), verdict="undefined")).passed


def test_the_settings_can_be_stricter_but_not_laxer_than_the_computable_minimum():
    assert not gate_verdict(agreement(), TurnGateSettings(floor=0.5)).passed
    with pytest.raises(ValueError):
        TurnGateSettings(min_turns=5)


# --- real coded turns through evaluate_code ---------------------------------------------------------------

def _turns(measure_of, *, sessions=12, per=12, seed=1) -> list[CodedTurn]:
    rng = np.random.default_rng(seed)
    out = []
    for s in range(sessions):
        for t in range(per):
            human = float(rng.integers(1, 6))
            length = float(rng.integers(5, 80))
            out.append(CodedTurn(f"s{s}", t, (human,), measure_of(human, length, rng), length))
    return out


def test_a_measure_that_tracks_the_codes_passes_and_one_that_tracks_length_fails():
    good = _turns(lambda h, ln, rng: float(np.clip(h + rng.normal(0, 0.4), 1, 5)))
    a = evaluate_code("empathy", good, resamples=300)
    assert a.n == 144 and a.sessions == 12
    assert gate_verdict(a).passed, gate_verdict(a).reason
    # human codes that follow length, and a measure that reads length (with noise of its own): it agrees,
    # but nothing beyond what length alone gives
    rng = np.random.default_rng(2)
    lengthy = []
    for s in range(12):
        for t in range(12):
            ln = float(rng.integers(5, 80))
            h = float(np.clip(round(1 + ln / 20 + rng.normal(0, 0.3)), 1, 5))
            lengthy.append(CodedTurn(f"s{s}", t, (h,), float(np.clip(1 + ln / 20 + rng.normal(0, 0.6), 1, 5)), ln))
    b = gate_verdict(evaluate_code("empathy", lengthy, resamples=300))
    assert not b.passed and "length-only baseline" in b.reason


def test_turn_record_is_level_turn_and_round_trips():
    rec = turn_record(FEEDBACK_MODEL, [agreement("empathy"), agreement("autonomy", n=40)], labels_n=150,
                      labels_source="codes.jsonl", created_at=DAY, extra={"resamples": 2000})
    assert rec.level == "turn" and rec.passed_dimensions() == ["empathy"]
    assert rec.settings["floor"] == 0.40 and rec.settings["min_turns"] == 100 and rec.settings["resamples"] == 2000
    assert ValidationRecord.from_json(rec.to_json()) == rec


# --- the RecordBook keeps the two levels apart --------------------------------------------------------------

def _session_record(model, at):
    ds = synthetic.signal_in("bond")
    return evaluate(model, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=200), created_at=at)


def test_a_newer_turn_record_does_not_replace_the_session_record_and_vice_versa():
    session = _session_record(FEEDBACK_MODEL, DAY)
    turns = turn_record(FEEDBACK_MODEL, [agreement()], labels_n=150, created_at=DAY + timedelta(days=1))
    newer_session = _session_record(FEEDBACK_MODEL, DAY + timedelta(days=2))
    book = RecordBook([session, turns])
    assert book.for_model(FEEDBACK_MODEL) == session and book.for_turns(FEEDBACK_MODEL) == turns
    assert book.for_model(FEEDBACK_MODEL).passes("bond") and len(book) == 2
    book.add(newer_session)
    assert book.for_model(FEEDBACK_MODEL) == newer_session and book.for_turns(FEEDBACK_MODEL) == turns
    assert RecordBook([session]).for_turns(FEEDBACK_MODEL) is None
    assert RecordBook([turns]).for_model(FEEDBACK_MODEL) is None
    table = status_table(book)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["model", "level", "date", "labels"] and "turn codes" in lines[0]
    assert lines[2].split()[1] == "session" and lines[3].split()[1] == "turn" and lines[3].endswith("1/1 pass")


# --- the decision on a feedback card ------------------------------------------------------------------------

def card(principle="empathy", pattern=None, source=None, model=FEEDBACK_MODEL):
    return {"principle": principle, "pattern": pattern, "pattern_source": source,
            "model": model.model_dump(), "validated": False}


def test_the_codes_a_card_rests_on():
    assert feedback_codes(card()) == ("empathy",)
    assert feedback_codes(card("autonomy", "boundary_overstepping", "model")) == ("autonomy", "boundary_overstepping")
    assert feedback_codes(card("autonomy", "boundary_overstepping", "features")) == (
        "autonomy", "boundary_overstepping", "directive")
    assert feedback_codes(card("self_exploration", "passive_response", "features")) == (
        "self_exploration", "passive_response", "reflection", "open_question", "closed_question")


def test_feedback_is_validated_only_when_every_code_it_shows_passes_for_its_exact_identity():
    codes = ["empathy", "autonomy", "boundary_overstepping", "directive"]
    passing = turn_record(FEEDBACK_MODEL, [agreement(c) for c in codes], labels_n=150, created_at=DAY)
    book = RecordBook([passing])
    assert feedback_validated(book, card())
    assert feedback_validated(book, card("autonomy", "boundary_overstepping", "features"))
    assert not feedback_validated(book, card("relevance"))  # not coded: not validated
    assert not feedback_validated(book, card("self_exploration", "passive_response", "features"))
    other = FEEDBACK_MODEL.model_copy(update={"revision": "def456"})
    assert not feedback_validated(book, card(model=other))  # another revision
    assert not feedback_validated(None, card()) and not feedback_validated(RecordBook(), card())
    assert not feedback_validated(book, card(principle=None))  # a card naming nothing
    one_fails = turn_record(FEEDBACK_MODEL, [agreement("empathy", n=40)], labels_n=40,
                            created_at=DAY + timedelta(days=1))
    book.add(one_fails)  # the newest turn-level record decides
    assert not feedback_validated(book, card())
    # a session-level record never validates feedback, even one whose 'dimensions' would match
    assert not feedback_passes(_session_record(FEEDBACK_MODEL, DAY), card("bond"))
