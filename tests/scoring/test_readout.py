"""The read-out on hand-made distributions and texts (pure, milliseconds)."""

import math

import pytest

from scoring import readout
from scoring.errors import ReadoutError
from scoring.instrument import BY_ID
from streams.contracts import Quote


def test_option_probs_renormalise_over_the_five_options():
    # the five options hold 0.1+0.1+0.2+0.4+0.2 = 1.0 of some larger distribution scaled by 0.5
    lps = [math.log(0.05), math.log(0.05), math.log(0.1), math.log(0.2), math.log(0.1)]
    probs = readout.option_probs(lps)
    assert probs == pytest.approx([0.1, 0.1, 0.2, 0.4, 0.2])
    assert readout.expected_value(probs) == pytest.approx(1 * .1 + 2 * .1 + 3 * .2 + 4 * .4 + 5 * .2)  # 3.5
    # variance = sum p (v-3.5)^2 = .1*6.25+.1*2.25+.2*.25+.4*.25+.2*2.25 = 1.45
    assert readout.spread(probs) == pytest.approx(math.sqrt(1.45))
    assert readout.argmax_option(probs) == 4


def test_certain_and_uniform_distributions():
    certain = readout.option_probs([0.0, -math.inf, -math.inf, -math.inf, -math.inf])
    assert certain == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert readout.expected_value(certain) == 1.0 and readout.spread(certain) == 0.0
    uniform = readout.option_probs([-7.0] * 5)
    assert readout.expected_value(uniform) == pytest.approx(3.0)
    assert readout.spread(uniform) == pytest.approx(math.sqrt(2.0))
    # very negative log-probs do not underflow to 0/0
    assert sum(readout.option_probs([-900.0, -901.0, -902.0, -903.0, -904.0])) == pytest.approx(1.0)


def test_unreadable_option_logprobs_raise():
    with pytest.raises(ReadoutError, match="finite"):
        readout.option_probs([-math.inf] * 5)
    with pytest.raises(ReadoutError, match="expected 5"):
        readout.option_probs([0.0, 0.0])


def test_item_and_dimension_scores():
    items = [readout.item_score(BY_ID[q], p) for q, p in (
        ("Q1", [0, 0, 0, 0, 1]), ("Q2", [0, 0, 0, 1, 0]), ("Q9", [1, 0, 0, 0, 0]), ("Q10", [0.5, 0, 0, 0, 0.5]))]
    assert [i.expected for i in items] == [5.0, 4.0, 1.0, 3.0]
    dims = readout.dimension_scores(items)
    assert set(dims) == {"goal", "bond"}
    assert dims["goal"].score == pytest.approx(4.5) and dims["goal"].spread == 0.0
    assert dims["bond"].score == pytest.approx(2.0) and dims["bond"].spread == pytest.approx(1.0)  # (0 + 2)/2


def test_sampled_probs_and_choice_parsing():
    assert readout.sampled_probs([4, 4, 5]) == pytest.approx([0, 0, 0, 2 / 3, 1 / 3])
    assert readout.sampled_probs([None, None]) is None
    assert readout.parse_choice("4\nReason: ...") == 4
    assert readout.parse_choice("Choice: 3. Fairly often") == 3
    assert readout.parse_choice("\n  ５") == 5  # full-width digit
    assert readout.parse_choice("I think 12 is too many") is None
    assert readout.parse_choice("") is None


def test_rationale_parsing():
    assert readout.parse_rationale("Reason: she said \"I feel heard\".\n\nExtra ramble") == 'she said "I feel heard".'
    assert readout.parse_rationale("4. Very often\nReason: we agreed on goals", after_choice=False) == \
        "we agreed on goals"
    assert readout.parse_rationale("3 because the counselor listened", after_choice=False) == \
        "the counselor listened"
    assert readout.parse_rationale("理由：咨询师说「我们一起想办法」") == "咨询师说「我们一起想办法」"
    assert readout.parse_rationale("   \n ") is None
    assert len(readout.parse_rationale("x" * 5000)) == readout.MAX_RATIONALE_CHARS


TRANSCRIPT = [
    "I have been sleeping badly since I started the new job.",
    "Shall we make that our goal: six hours of sleep?",
    "我希望能好好说话，不要一开口就吵。",
]


def test_quotes_in_three_styles_are_extracted_and_verified():
    text = ('The counselor asked "Shall we make that our goal" and I said \u201cI have been sleeping badly\u201d; '
            "also \u300c我希望能好好说话\u300d.")
    assert readout.extract_quotes(text) == ["Shall we make that our goal", "I have been sleeping badly",
                                            "我希望能好好说话"]
    quotes = readout.quotes_for(text, TRANSCRIPT)
    assert all(q.verified for q in quotes)


def test_fabricated_quote_is_flagged_and_never_evidence():
    text = 'The counselor said "you are doing great, I really like you" and "six hours of sleep".'
    quotes = readout.quotes_for(text, TRANSCRIPT)
    assert quotes == [Quote(text="you are doing great, I really like you", verified=False),
                      Quote(text="six hours of sleep", verified=True)]
    item = readout.item_score(BY_ID["Q9"], [0, 0, 1, 0, 0], rationale=text, transcript_texts=TRANSCRIPT)
    assert [q.verified for q in item.quotes] == [False, True]


def test_quote_matching_is_loose_on_form_strict_on_content():
    assert readout.verify_quote("client: i HAVE been   sleeping badly.", TRANSCRIPT)  # label, case, spaces
    assert readout.verify_quote("I have been sleeping badly ... the new job", TRANSCRIPT)  # elision
    assert not readout.verify_quote("I have been sleeping well", TRANSCRIPT)
    # fragments must come from ONE message, not stitched across messages
    assert not readout.verify_quote("sleeping badly … six hours of sleep", TRANSCRIPT)
    assert not readout.verify_quote("!", TRANSCRIPT)
