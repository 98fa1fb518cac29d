"""The WAI-SR client form: 12 items, three dimensions, English and Chinese.

Why a module of constants: the item wording is part of the model's identity
(``prompt_version``); a silent edit would make old and new scores incomparable,
so it lives in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def items_of(dimensions: tuple[str, ...] | list[str] | set[str]) -> tuple[Item, ...]:
    """The items of the given dimensions, in instrument order."""
    unknown = set(dimensions) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimension(s): {', '.join(sorted(unknown))}; known: {', '.join(DIMENSIONS)}")
    return tuple(i for i in ITEMS if i.dimension in dimensions)
