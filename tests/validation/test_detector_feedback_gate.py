"""The feedback gate judges each word-level code on the detector that answered it (issue 23).

A card's principle and pattern are the model's answers, judged on the model's turn-level record;
the word features behind a pattern the words found are a detector's answers — the word rules, or a
trained detector the scorer serves — and are judged on *that* detector's record, named in the card's
``feature_detectors``. A record written before detectors were named keeps the old rule (everything
on the model's record). Pure: real records, real identities.
"""

from __future__ import annotations

from datetime import datetime, timezone

from streams.contracts import ModelIdentity
from validation.detectors import (
    COUNSELOR_WORDS,
    DETECTORS,
    Detector,
    detector_of_key,
    detector_table,
    detectors_in_use,
    status_rows,
)
from validation.gate import detector_codes, detectors_pass, feedback_validated, model_codes
from validation.records import RecordBook
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record

DAY = datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)
MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="turn-feedback-v1", readout="expected")
TRAINED = Detector("counselor-words", "3f2a9c01b7de", ("reflection", "directive"), "trained", kind="trained")
WORD_CODES = ("open_question", "closed_question", "reflection", "directive", "self_disclosure")


def _agreement(code: str, passing: bool = True) -> CodeAgreement:
    low = 0.55 if passing else 0.10
    kind = "rated" if code in ("autonomy", "empathy", "boundary_overstepping", "self_exploration",
                               "passive_response") else "binary"
    return CodeAgreement(code, kind, "kappa", 200, 20, 40, low + 0.1, Interval(low, low + 0.2, 0.95, 500), 0.05,
                         Interval(-0.1, 0.2, 0.95, 500), Interval(0.2, 0.5, 0.95, 500) if passing
                         else Interval(-0.2, 0.3, 0.95, 500), None, 0, "agrees" if passing else "weak")


def _record(identity: ModelIdentity, codes: dict[str, bool]):
    return turn_record(identity, [_agreement(c, ok) for c, ok in codes.items()], labels_n=200, created_at=DAY)


def _card(answered_by: dict[str, str] | None, principle="autonomy", pattern="boundary_overstepping",
          source="features") -> dict:
    card = {"principle": principle, "pattern": pattern, "pattern_source": source, "model": MODEL.model_dump(),
            "validated": False}
    if answered_by is not None:
        card["feature_detectors"] = answered_by
    return card


def _served(trained: tuple[str, ...] = ("reflection", "directive")) -> dict[str, str]:
    """What the scorer writes when it serves TRAINED: its codes by it, the others by the word rules."""
    return {c: TRAINED.key if c in trained else COUNSELOR_WORDS.key for c in WORD_CODES}


#: the model passes its own codes (and, in the old way, the word features too)
MODEL_PASSES = _record(MODEL, {"autonomy": True, "boundary_overstepping": True, "self_exploration": True,
                               "passive_response": True, "directive": True, "reflection": True,
                               "open_question": True, "closed_question": True})


def test_the_model_judges_its_own_codes_and_each_detector_its_own():
    card = _card(_served())
    assert model_codes(card) == ("autonomy", "boundary_overstepping")
    assert detector_codes(card) == {"directive": TRAINED.key}
    assert model_codes(_card(None)) == ("autonomy", "boundary_overstepping", "directive")  # an older record
    assert detector_codes(_card(None)) == {}


def test_a_served_trained_detector_validates_the_card_only_with_its_own_passing_record():
    card = _card(_served())
    # the model's record passes everything, the trained detector has no record: supervisors only
    assert not feedback_validated(RecordBook([MODEL_PASSES]), card)
    # its record passes directive: validated
    book = RecordBook([MODEL_PASSES, _record(TRAINED.identity, {"directive": True, "reflection": False})])
    assert detectors_pass(book, card) and feedback_validated(book, card)
    # the word rules' record passing directive does not speak for the trained detector
    rules = RecordBook([MODEL_PASSES, _record(COUNSELOR_WORDS.identity, {"directive": True})])
    assert not feedback_validated(rules, card)
    # nor does the trained detector's record validate what the model answered
    only_detector = RecordBook([_record(TRAINED.identity, {"directive": True})])
    assert not feedback_validated(only_detector, card)


def test_a_passive_card_rests_on_both_detectors_when_the_rules_answered_the_questions():
    card = _card(_served(), principle="self_exploration", pattern="passive_response")
    assert detector_codes(card) == {"reflection": TRAINED.key, "open_question": COUNSELOR_WORDS.key,
                                    "closed_question": COUNSELOR_WORDS.key}
    trained_ok = _record(TRAINED.identity, {"reflection": True, "directive": True})
    assert not feedback_validated(RecordBook([MODEL_PASSES, trained_ok]), card)
    rules_ok = _record(COUNSELOR_WORDS.identity, {"open_question": True, "closed_question": True})
    assert feedback_validated(RecordBook([MODEL_PASSES, trained_ok, rules_ok]), card)


def test_the_word_rules_are_judged_on_their_own_record_once_named():
    card = _card({c: COUNSELOR_WORDS.key for c in WORD_CODES})
    assert not feedback_validated(RecordBook([MODEL_PASSES]), card)
    rules_ok = _record(COUNSELOR_WORDS.identity, {"directive": True})
    assert feedback_validated(RecordBook([MODEL_PASSES, rules_ok]), card)
    assert feedback_validated(RecordBook([MODEL_PASSES]), _card(None))  # an older record: the old rule


def test_an_unreadable_or_unknown_detector_key_validates_nothing():
    book = RecordBook([MODEL_PASSES, _record(TRAINED.identity, {"directive": True})])
    for key in ("nonsense", "trained.no-such-rules@abc", "other.counselor-words@abc", "no-such-rules@1", "@1"):
        assert detector_of_key(key) is None, key
        assert not feedback_validated(book, _card({"directive": key})), key


def test_keys_name_the_detectors_they_came_from():
    assert detector_of_key(COUNSELOR_WORDS.key) is COUNSELOR_WORDS
    old = detector_of_key("counselor-words@0", ("directive",))
    assert old is not None and old.identity.revision == "0" and old.identity.name == "rules.counselor-words"
    trained = detector_of_key(TRAINED.key, ("directive",))
    assert trained is not None and trained.identity == TRAINED.identity and trained.key == TRAINED.key
    assert trained.codes == ("directive",)


def test_the_detector_table_lists_trained_detectors_a_scorer_serves():
    cards = [_served(), _served(("directive",)), {c: COUNSELOR_WORDS.key for c in WORD_CODES}]
    in_use = detectors_in_use(cards)
    assert [d.key for d in in_use] == [TRAINED.key] and in_use[0].codes == ("reflection", "directive")
    book = RecordBook([_record(TRAINED.identity, {"directive": True, "reflection": False})])
    table = detector_table(book, frozenset({"process-signals:idle"}), in_use)
    assert [d["detector"] for d in table] == [*(d.key for d in DETECTORS.values()), TRAINED.key]
    row = table[-1]
    assert (row["kind"], row["codes"]) == ("trained", {"reflection": "unvalidated", "directive": "validated"})
    assert row["identity"] == f"trained.counselor-words@{TRAINED.version}:trained/expected"
    assert table[0]["codes"]["idle"] == "opened" and table[0]["codes"]["rushing"] == "unvalidated"
    rows = status_rows(book, in_use=in_use)
    assert {(r["detector"], r["code"]): r["status"] for r in rows if r["kind"] == "trained"} == {
        (TRAINED.key, "reflection"): "unvalidated", (TRAINED.key, "directive"): "validated"}
