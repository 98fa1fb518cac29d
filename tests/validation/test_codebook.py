"""The codebook (validation/codebook.py) and the coding sample (validation/coding_sample.py): pure cores."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from validation.codebook import (
    BY_NAME,
    EVAL_CODES,
    TURN_CODES,
    check_code_set,
    check_rupture,
    coder_agreement,
    eval_codes,
    page_codebook,
)
from validation.coding_sample import CandidateTurn, context_ids, queue_for, sample_turns
from validation.turn_agreement import BINARY_CODES, CLIENT_CODES

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


def test_the_codebook_names_every_code_the_issue_lists_with_words_in_both_languages():
    names = [c.name for c in TURN_CODES]
    assert names == ["open_question", "closed_question", "simple_reflection", "complex_reflection", "affirmation",
                     "advice_with_permission", "advice_without_permission", "passive_acknowledgement",
                     "withdrawal_marker", "confrontation_marker"]
    assert all(c.en and c.zh and c.hint_en and c.hint_zh for c in TURN_CODES)
    keys = [(c["speaker"], c["key"]) for c in page_codebook()]
    assert len(set(keys)) == len(keys)  # one number key per code and speaker


def test_eval_codes_are_the_ones_eval_turns_reads():
    assert set(EVAL_CODES) <= set(BINARY_CODES) | set(CLIENT_CODES)
    assert all(part in BY_NAME for parts in EVAL_CODES.values() for part in parts)
    assert eval_codes(["complex_reflection", "open_question"]) == {
        "open_question": 1.0, "closed_question": 0.0, "reflection": 1.0, "directive": 0.0}
    assert eval_codes(["advice_with_permission"])["directive"] == 1.0
    assert eval_codes(["withdrawal_marker"], "client") == {"withdrawal": 1.0, "confrontation": 0.0}


def test_a_code_set_is_checked_against_the_speaker_and_kept_in_codebook_order():
    assert check_code_set("counselor", ["affirmation", "open_question"]) == ("open_question", "affirmation")
    assert check_code_set("client", []) == ()
    with pytest.raises(ValueError, match="withdrawal_marker"):
        check_code_set("counselor", ["withdrawal_marker"])
    with pytest.raises(ValueError):
        check_code_set("client", "withdrawal_marker")
    assert check_rupture({"type": "withdrawal", "repaired": True}) == {"type": "withdrawal", "repaired": True}
    assert check_rupture(None) is None
    with pytest.raises(ValueError):
        check_rupture({"type": "sulking", "repaired": False})


def test_coder_agreement_is_kappa_per_code_on_the_turns_both_coded():
    pairs = [("counselor", ["open_question"], ["open_question"]), ("counselor", [], []),
             ("counselor", ["open_question"], []), ("counselor", [], []),
             ("client", ["withdrawal_marker"], ["withdrawal_marker"])]
    by = {a.code: a for a in coder_agreement(pairs)}
    assert by["open_question"].n == 4 and by["open_question"].percent == 0.75
    assert by["open_question"].kappa == pytest.approx(0.5)
    assert by["withdrawal_marker"].n == 1 and math.isnan(by["withdrawal_marker"].kappa)  # one category only
    assert math.isnan(by["affirmation"].kappa)


def _turns(n_fired: int, n_quiet: int, old: int = 0) -> list[CandidateTurn]:
    out = [CandidateTurn("s1", i, "counselor", NOW - timedelta(hours=1), True) for i in range(n_fired)]
    out += [CandidateTurn("s2", i, "client", NOW - timedelta(hours=1), False) for i in range(n_quiet)]
    out += [CandidateTurn("s3", i, "counselor", NOW - timedelta(days=40), True) for i in range(old)]
    return out


def test_the_sample_is_half_fired_half_quiet_within_retention_and_stable():
    sample = sample_turns(_turns(30, 30, old=50), now=NOW, retention_days=30, size=20, double_share=0.2)
    assert len(sample) == 20 and sum(t.fired for t in sample) == 10
    assert all(t.session_id != "s3" for t in sample)  # older than the retention window
    assert sum(t.double for t in sample) == 4
    assert sample == sample_turns(_turns(30, 30, old=50), now=NOW, retention_days=30, size=20, double_share=0.2)
    assert sample != sample_turns(_turns(30, 30), now=NOW, retention_days=30, size=20, seed=1)


def test_a_short_stratum_leaves_its_place_to_the_other():
    sample = sample_turns(_turns(3, 30), now=NOW, retention_days=30, size=10)
    assert len(sample) == 10 and sum(t.fired for t in sample) == 3
    assert len(sample_turns(_turns(3, 2), now=NOW, retention_days=30, size=10)) == 5


def test_a_double_turn_is_offered_to_two_coders_and_a_single_one_to_one():
    sample = sample_turns(_turns(5, 5), now=NOW, retention_days=30, size=10, double_share=0.5)
    double = next(t for t in sample if t.double)
    single = next(t for t in sample if not t.double)
    coded = {(double.session_id, double.turn_id): frozenset({"a"}), (single.session_id, single.turn_id): frozenset({"a"})}
    assert double in queue_for("b", sample, coded) and single not in queue_for("b", sample, coded)
    assert double in queue_for("a", sample, coded) and single in queue_for("a", sample, coded)  # to revisit
    coded[(double.session_id, double.turn_id)] = frozenset({"a", "b"})
    assert double not in queue_for("c", sample, coded)


def test_context_is_the_turns_just_before():
    assert context_ids(10, [1, 4, 7, 9, 10, 12], context=3) == [4, 7, 9]
    assert context_ids(1, [1, 2], context=3) == []
