"""English names: introduced in any case, or first names written as names; words that are names too stay."""

from __future__ import annotations

import pytest

from privacy.names_en import find_names, first_names


def _names(text: str) -> list[str]:
    return [text[s:e] for s, e in find_names(text)]


def test_the_first_name_list_comes_from_the_installed_package():
    names = first_names()
    assert len(names) > 40_000 and names["sarah"] > 0 and "will" in names


@pytest.mark.parametrize("text, name", [
    ("my name is sarah connor", "sarah connor"),
    ("i'm jessica, 22", "jessica"),
    ("my boyfriend tyler checks my phone", "tyler"),
    ("Sarah Connor keeps texting me", "Sarah Connor"),
    ("I told John", "John"),
    ("i told my mom about jake", "jake"),
    ("Hi, I'm María José García.", "María José García"),
    ("Zoë keeps saying that", "Zoë"),
    ("Mrs. O'Brien said so", "O'Brien"),
])
def test_a_name_is_found_with_or_without_an_introduction(text, name):
    assert _names(text) == [name]


@pytest.mark.parametrize("text", ["Will you come?", "Grace under pressure.", "I'm in London now.", "I told him.",
                                  "call me crazy", "my name is on the lease", "I'm Happy today"])
def test_ordinary_words_are_not_names(text):
    assert _names(text) == []
