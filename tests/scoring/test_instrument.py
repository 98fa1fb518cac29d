import pytest

from scoring.instrument import BY_ID, ITEMS, OPTIONS_TEXT, items_of


def test_twelve_items_four_per_dimension_both_languages():
    assert [i.item_id for i in ITEMS] == [f"Q{n}" for n in range(1, 13)]
    for dim in ("goal", "approach", "bond"):
        assert len(items_of([dim])) == 4
    for item in ITEMS:
        assert item.wording("en").strip() and item.wording("zh").strip()
    assert BY_ID["Q9"].wording("en") == "I believe the therapist likes me."
    assert set(OPTIONS_TEXT) == {"en", "zh"}


def test_items_of_rejects_unknown_dimension():
    assert [i.item_id for i in items_of({"goal", "bond"})] == ["Q1", "Q2", "Q3", "Q4", "Q9", "Q10", "Q11", "Q12"]
    with pytest.raises(ValueError, match="unknown dimension"):
        items_of(["trust"])
