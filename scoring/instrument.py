"""The WAI-SR client form: 12 items, three dimensions, English and Chinese.

Why a module of constants: the item wording is part of the model's identity
(``prompt_version``); a silent edit would make old and new scores incomparable,
so it lives in exactly one place.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any, Collection

from streams.contracts import DIMENSIONS, ITEM_DIMENSION, Dimension, Lang

#: The five answer options; their labels are the tokens read at the answer position.
OPTION_LABELS: tuple[str, ...] = ("1", "2", "3", "4", "5")
OPTION_VALUES: tuple[int, ...] = (1, 2, 3, 4, 5)

OPTIONS_TEXT: dict[Lang, str] = {
    "en": "1. Seldom; 2. Sometimes; 3. Fairly Often; 4. Very often; 5. Always",
    "zh": "1. 很少；2. 有时；3. 相当频繁；4. 非常频繁；5. 总是",
}


@dataclass(frozen=True)
class Item:
    item_id: str
    text: dict[Lang, str]

    @property
    def dimension(self) -> Dimension:
        """From the one item -> dimension map (``streams.contracts.DIMENSION_ITEMS``)."""
        return ITEM_DIMENSION[self.item_id]

    def wording(self, lang: Lang) -> str:
        return self.text[lang]


ITEMS: tuple[Item, ...] = (
    Item("Q1", {
        "en": "The therapist and I collaborate on setting goals for my therapy.",
        "zh": "咨询师和我共同合作设定我的咨询目标。"}),
    Item("Q2", {
        "en": "The therapist and I are working towards mutually agreed upon goals.",
        "zh": "咨询师和我正朝着双方都认同的目标努力。"}),
    Item("Q3", {
        "en": "The therapist and I agree on what is important for me to work on.",
        "zh": "咨询师和我对我需要努力解决的重要问题看法一致。"}),
    Item("Q4", {
        "en": "The therapist and I have established a good understanding of the kind of changes "
              "that would be good for me.",
        "zh": "咨询师和我已经对哪些改变对我有益达成了很好的共识。"}),
    Item("Q5", {
        "en": "As a result of this session, I am clearer as to how I might be able to change.",
        "zh": "通过这次咨询，我更清楚自己可以如何改变。"}),
    Item("Q6", {
        "en": "What I am doing in therapy gives me new ways of looking at my problem.",
        "zh": "我在咨询中所做的事情让我用新的方式看待我的问题。"}),
    Item("Q7", {
        "en": "I feel that the things I do in therapy will help me to accomplish the changes that I want.",
        "zh": "我觉得我在咨询中所做的事情会帮助我实现我想要的改变。"}),
    Item("Q8", {
        "en": "I believe the way we are working with my problem is correct.",
        "zh": "我相信我们处理我的问题的方式是正确的。"}),
    Item("Q9", {
        "en": "I believe the therapist likes me.",
        "zh": "我相信咨询师喜欢我。"}),
    Item("Q10", {
        "en": "The therapist and I respect each other.",
        "zh": "咨询师和我相互尊重。"}),
    Item("Q11", {
        "en": "I feel that the therapist appreciates me.",
        "zh": "我觉得咨询师欣赏我。"}),
    Item("Q12", {
        "en": "I feel the therapist cares about me even when I do things that he/she does not approve of.",
        "zh": "即使我做了咨询师不认同的事情，我也感到咨询师关心我。"}),
)

BY_ID: dict[str, Item] = {i.item_id: i for i in ITEMS}


def items_of(dimensions: Collection[str]) -> tuple[Item, ...]:
    """The items of the given dimensions, in instrument order."""
    unknown = set(dimensions) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(sorted(unknown))}; known: {', '.join(DIMENSIONS)}")
    return tuple(i for i in ITEMS if i.dimension in dimensions)


# --- the forms as a client answers them (the survey page reads these) -----------------------

#: The WAI-SR answer anchors, 1..5, as the survey page labels its options.
OPTION_NAMES: dict[Lang, tuple[str, ...]] = {
    "en": ("Seldom", "Sometimes", "Fairly often", "Very often", "Always"),
    "zh": ("很少", "有时", "相当频繁", "非常频繁", "总是"),
}


@dataclass(frozen=True)
class ScaleItem:
    """One item of the short session-rating form: a question and its two end labels (0 and 10)."""

    item_id: str
    text: dict[Lang, str]
    low: dict[Lang, str]
    high: dict[Lang, str]


#: The project's own short session-rating form (instrument ``srs``: four 0-10 scales, in the
#: style of brief session-rating scales; the wording is ours). Ids are ``SRS_ITEM_IDS``.
SESSION_FORM_ITEMS: tuple[ScaleItem, ...] = (
    ScaleItem("relationship",
              {"en": "How did you and your counselor get along today?",
               "zh": "今天你和咨询师相处得怎么样？"},
              {"en": "I did not feel heard or respected", "zh": "我没有感到被倾听或被尊重"},
              {"en": "I felt heard, understood and respected", "zh": "我感到被倾听、被理解、被尊重"}),
    ScaleItem("goals",
              {"en": "Did today's conversation stay with what you wanted to talk about and work on?",
               "zh": "今天的谈话是否围绕你想谈、想解决的事情？"},
              {"en": "We did not talk about what I wanted", "zh": "没有谈到我想谈的"},
              {"en": "We worked on what I wanted", "zh": "我们谈的正是我想谈的"}),
    ScaleItem("approach",
              {"en": "How well did the counselor's way of working suit you?",
               "zh": "咨询师的工作方式适合你吗？"},
              {"en": "It did not suit me", "zh": "不适合我"},
              {"en": "It suited me well", "zh": "很适合我"}),
    ScaleItem("overall",
              {"en": "Overall, how was today's session for you?",
               "zh": "总体来说，今天的咨询对你来说怎么样？"},
              {"en": "Something important was missing", "zh": "缺少了一些重要的东西"},
              {"en": "It was a good session for me", "zh": "对我来说是一次很好的咨询"}),
)


def survey_form(instrument: str, lang: Lang) -> dict[str, Any]:
    """The items of ``instrument`` in ``lang``, as the survey page renders them (JSON-ready).

    Why here: the page must show exactly the wording the instrument defines, from one source.
    """
    from streams.contracts import INSTRUMENT_ITEMS, SRS_ITEM_IDS

    ids, low, high = INSTRUMENT_ITEMS[instrument]
    if instrument == "wai-sr":
        options = [{"value": v, "label": f"{v} · {name}"} for v, name in zip(OPTION_VALUES, OPTION_NAMES[lang], strict=True)]
        items = [{"id": i.item_id, "text": i.wording(lang), "options": options} for i in ITEMS]
    else:
        assert tuple(i.item_id for i in SESSION_FORM_ITEMS) == SRS_ITEM_IDS
        items = [{"id": i.item_id, "text": i.text[lang], "low": i.low[lang], "high": i.high[lang],
                  "options": [{"value": v, "label": str(v)} for v in range(low, high + 1)]}
                 for i in SESSION_FORM_ITEMS]
    assert [i["id"] for i in items] == list(ids)
    return {"instrument": instrument, "lang": lang, "items": items}
