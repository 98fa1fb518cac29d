"""The ClientRating contract: complete answers in range, named fields, instruments from one place."""

from __future__ import annotations

import pytest

from streams.codec import decode, encode, validate
from streams.contracts import (
    DIMENSIONS,
    INSTRUMENT_ITEMS,
    ITEM_DIMENSION,
    ITEM_IDS,
    SRS_ITEM_IDS,
    ClientRating,
    SurveyLink,
)
from streams.errors import ContractError
from streams.topics import RATINGS, SURVEY_LINKS, spec


def rating(**over) -> dict:
    base = dict(rating_id="r-1", session_id="s-1", instrument="wai-sr", instrument_version="1",
                answers={i: 3 for i in ITEM_IDS}, lang="zh", submitted_at="2026-12-01T10:00:00+08:00",
                source="platform")
    base.update(over)
    return base


def test_a_complete_wai_sr_rating_round_trips_and_is_utc():
    r = validate(ClientRating, rating())
    assert r.submitted_at.utcoffset().total_seconds() == 0 and r.submitted_at.hour == 2
    assert decode(ClientRating, encode(r)) == r


def test_the_item_map_is_goal_approach_bond_in_fours():
    assert [ITEM_DIMENSION[i] for i in ITEM_IDS] == [d for d in DIMENSIONS for _ in range(4)]


def test_the_session_form_has_four_0_to_10_items():
    assert INSTRUMENT_ITEMS["srs"] == (SRS_ITEM_IDS, 0, 10)
    r = validate(ClientRating, rating(instrument="srs", answers={i: 10 for i in SRS_ITEM_IDS}))
    assert r.answers["overall"] == 10


@pytest.mark.parametrize("over, needle", [
    (dict(answers={**{i: 3 for i in ITEM_IDS[:-1]}}), "missing Q12"),
    (dict(answers={**{i: 3 for i in ITEM_IDS}, "Q13": 2}), "not items of wai-sr: Q13"),
    (dict(answers={**{i: 3 for i in ITEM_IDS}, "Q4": 6}), "Q4=6 is outside 1..5"),
    (dict(answers={**{i: 3 for i in ITEM_IDS}, "Q4": 0}), "Q4=0 is outside 1..5"),
    (dict(instrument="srs", answers={i: 11 for i in SRS_ITEM_IDS}), "relationship=11 is outside 0..10"),
    (dict(instrument="srs"), "not items of srs: Q1, Q2"),
    (dict(answers={**{i: 3 for i in ITEM_IDS}, "Q1": 2.5}), "ClientRating.answers.Q1"),
    (dict(answers={**{i: 3 for i in ITEM_IDS}, "Q1": "4"}), "ClientRating.answers.Q1"),
    (dict(instrument="wai-sr-long"), "ClientRating.instrument"),
    (dict(source="email"), "ClientRating.source"),
    (dict(source="survey"), "link_id is required"),
    (dict(submitted_at="2026-12-01T10:00:00"), "ClientRating.submitted_at"),
    (dict(session_id=" "), "ClientRating.session_id"),
    (dict(lang="fr"), "ClientRating.lang"),
    (dict(extra=1), "ClientRating.extra: is not a field"),
    (dict(instrument_version="2"), "instrument_version '2' is not a known version of wai-sr"),
])
def test_bad_ratings_are_refused_naming_the_field(over, needle):
    with pytest.raises(ContractError) as err:
        validate(ClientRating, rating(**over))
    assert needle in str(err.value)


def test_answers_problems_are_reported_under_answers():
    with pytest.raises(ContractError) as err:
        validate(ClientRating, rating(answers={"Q1": 9}))
    msg = str(err.value)
    assert "answers:" in msg and "Q1=9 is outside 1..5" in msg and "missing Q2" in msg


def test_topics_for_ratings_and_links():
    assert spec("chat.ratings") is RATINGS and RATINGS.contract is ClientRating
    assert RATINGS.retention_ms == spec("chat.sessions").retention_ms
    assert not RATINGS.carries_text and "clinical" in RATINGS.description
    assert spec("chat.ratings.dlq").retention_ms == RATINGS.retention_ms
    assert SURVEY_LINKS.contract is SurveyLink and spec("chat.survey_links.dlq")
