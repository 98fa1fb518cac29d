"""Messaging account ids (QQ numbers, WeChat ids): found only where the text names the service.

Why only there: a QQ number is 5-11 bare digits and a WeChat id any 6-20 letters and
digits; without the word before it either looks like an order number or a nickname.
They are reported as the ``id`` kind (an account id is an identifier like any other).
"""

from __future__ import annotations

__layer__ = "core"

import re
from typing import Iterator

#: "QQ", then a few words or marks ("号是", " is ", "：") and the number
_QQ = re.compile(r"(?<![A-Za-z])qq(?:号码|号)?\D{0,8}?(?<!\d)([1-9]\d{4,10})(?!\d)", re.IGNORECASE)
#: the words for WeChat (微信, wechat, weixin, and the chat shorthands vx, wx, v信, 威信) ...
_WECHAT_WORD = r"(?:微信|威信|v信|wechat|weixin|(?<![A-Za-z])(?:vx|wx)(?![A-Za-z]))"
#: ... then only marks and linking words (号, 是, id is, :) before the id itself
_WECHAT = re.compile(_WECHAT_WORD + r"(?:号|id|ID)?(?:[\s:：,，]|是|为|号|\bid\b|\bis\b|\bme\b)*"
                     r"(?<![A-Za-z0-9_-])([A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])", re.IGNORECASE)
_HAS_DIGIT_OR_MARK = re.compile(r"[\d_-]")


def find_accounts(text: str) -> Iterator[tuple[int, int]]:
    """Spans of QQ numbers and WeChat ids that follow the service's name."""
    low = text.lower()
    if "qq" in low:
        for m in _QQ.finditer(text):
            yield m.span(1)
    if "微信" in text or "信" in text or "wechat" in low or "weixin" in low or "vx" in low or "wx" in low:
        for m in _WECHAT.finditer(text):
            if _HAS_DIGIT_OR_MARK.search(m.group(1)):  # "wechat because" is a word, "connor_88" an id
                yield m.span(1)
