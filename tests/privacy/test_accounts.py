"""QQ numbers and WeChat ids: found after the service's name, never without it."""

from __future__ import annotations

import pytest

from privacy.accounts import find_accounts


@pytest.mark.parametrize("text, account", [
    ("my QQ is 123456789, add me", "123456789"),
    ("加我QQ：12345678", "12345678"),
    ("WeChat: sarah_c1990", "sarah_c1990"),
    ("add me on wechat, id is connor_88", "connor_88"),
    ("我的vx是 lily-0521", "lily-0521"),
])
def test_an_account_after_the_service_name_is_found(text, account):
    assert [text[s:e] for s, e in find_accounts(text)] == [account]


@pytest.mark.parametrize("text", ["order 123456789", "他把我的QQ删了。", "add me on wechat because it's easier",
                                  "我在微信上跟他吵了一架 abc_123"])
def test_no_service_name_or_no_id_finds_nothing(text):
    assert list(find_accounts(text)) == []
