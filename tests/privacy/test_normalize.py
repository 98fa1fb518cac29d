"""Same-length rewriting of number notations: full-width forms and spelled Chinese digits."""

from __future__ import annotations

import pytest

from privacy.normalize import for_numbers


@pytest.mark.parametrize("text, expected", [
    ("电话：１３９１２３４５６７８", "电话:13912345678"),
    ("一三八一二三四五六七八", "13812345678"),
    ("幺三九幺二三四五六七八", "13912345678"),
    ("一二三四五，上山打老虎", "一二三四五,上山打老虎"),  # five digits: a rhyme, not a number
    ("plain text 123", "plain text 123"),
])
def test_rewrites_keep_every_character_in_place(text, expected):
    assert for_numbers(text) == expected
    assert len(for_numbers(text)) == len(text)
