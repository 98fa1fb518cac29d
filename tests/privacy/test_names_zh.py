"""Chinese names jieba splits or glues: read again from the surname, after relation words."""

from __future__ import annotations

import pytest

from privacy import redact


@pytest.mark.parametrize("text, expected", [
    ("我室友黄婷婷总是很晚回来。", "我室友[NAME]总是很晚回来。"),  # jieba: 黄 | 婷婷
    ("我爸爸吴国平脾气很暴躁。", "我爸爸[NAME]脾气很暴躁。"),  # jieba: 吴国 (a place) | 平
    ("我和何欣怡是同桌。", "我和[NAME]是同桌。"),  # jieba: 我和何 | 欣怡
    ("司马静说我太敏感了。", "[NAME]说我太敏感了。"),  # jieba: 司马 | 静说 — 说 is not part of the name
    ("宋雨萱也推荐过这里。", "[NAME]也推荐过这里。"),  # jieba: 宋雨 | 萱 — 萱 is
    ("我男朋友陈浩然总是加班。", "我男朋友[NAME]总是加班。"),  # 然 is a name character here
    ("谢谢王老师", "谢谢[NAME]"),
])
def test_a_name_jieba_splits_is_replaced_whole_and_nothing_after_it(text, expected):
    assert redact(text).text == expected


@pytest.mark.parametrize("text", ["我和高中同学吵架了。", "我跟周末的计划冲突了。", "我和男朋友分手了。",
                                  "爸爸妈妈经常吵架，我很害怕。"])
def test_a_surname_that_begins_an_ordinary_word_is_not_a_name(text):
    assert redact(text).found == {}
