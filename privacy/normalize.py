"""Rewrite the notations people use to dodge or just vary a number, without moving a character.

Why same length: detectors run on the rewritten text and their spans are cut from the
original, so every rewrite maps one character to one character: full-width digits,
letters and punctuation (１３８, Ｘ, －) to ASCII, and runs of Chinese digit characters
(一三八…, with 幺 for 1 and 〇/零 for 0) to digits. A run shorter than
:data:`MIN_ZH_DIGIT_RUN` is left alone: 三四个小时 or 一二三年级 stay words.
"""

from __future__ import annotations

__layer__ = "core"

import re

#: U+FF01..U+FF5E are the full-width forms of ASCII 0x21..0x7E; U+3000 is the ideographic space
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}
_ZH_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6",
              "七": "7", "八": "8", "九": "9"}
#: the shortest run of Chinese digit characters read as a number (a phone number has 7 or more)
MIN_ZH_DIGIT_RUN = 7
_ZH_RUN = re.compile("[" + "".join(_ZH_DIGITS) + r"](?:[\s-]?[" + "".join(_ZH_DIGITS) + "]){%d,}" %
                     (MIN_ZH_DIGIT_RUN - 1))
_NEEDS = re.compile("[\uff01-\uff5e\u3000" + "".join(_ZH_DIGITS) + "]")


def _digits(m: re.Match[str]) -> str:
    return "".join(_ZH_DIGITS.get(c, c) for c in m.group())


def for_numbers(text: str) -> str:
    """``text`` with full-width forms and long Chinese digit runs as ASCII; always the same length."""
    if _NEEDS.search(text) is None:
        return text
    out = _ZH_RUN.sub(_digits, text.translate(_FULL_WIDTH))
    assert len(out) == len(text)
    return out
