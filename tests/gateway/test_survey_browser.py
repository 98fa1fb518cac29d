"""The client survey page in a real headless Chromium: en and zh, keyboard only, phone width,
resubmit / expired / tampered refused, and the rating reaching the store through the real sink."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.survey import mint_link, survey_key
from store.db import make_engine, upgrade
from store.models import Rating
from store.ratings import ratings
from store.sink import Sink
from tests.gateway.conftest import SECRET
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the fixture
from tests.store.sinkkit import RunningSink, make_topics, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

KEY = survey_key(SECRET, env={})
PHONE = {"width": 390, "height": 844}


async def answer_by_keyboard(page, n_items: int, steps: list[int], shot=None) -> None:
    """Tab into each radio group, Space picks its first option, ArrowRight moves the choice on.

    ``shot(page)`` is awaited once, with the focus inside the second question."""
    await page.locator("h1").click()  # start the tab order at the top of the page
    for i in range(n_items):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement && document.activeElement.name")
        assert focused == await page.evaluate(f"document.querySelectorAll('fieldset.item')[{i}]"
                                              ".querySelector('input').name"), f"focus order at item {i + 1}"
        await page.keyboard.press("Space")
        for _ in range(steps[i % len(steps)]):
            await page.keyboard.press("ArrowRight")
        if i == 1 and shot is not None:
            await shot(page)
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "send"
    await page.keyboard.press("Enter")


async def open_survey(context, url: str, viewport: dict | None = None):
    page = await context.new_page()
    if viewport:
        await page.set_viewport_size(viewport)
    await page.goto(url)
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_survey_answered_by_keyboard_arrives_in_the_store(make_gateway, kafka_bootstrap, unique, lang,
                                                                artifacts_dir: Path, browser_context, tmp_path):  # noqa: F811 - the fixture
    context, errors = browser_context
    topics = make_topics(kafka_bootstrap, f".svb{unique}")
    gw = await make_gateway(ratings_topic=topics.ratings)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    sid = f"s-{lang}-{unique}"
    token, claims = mint_link(KEY, session_id=sid, lang=lang, instrument="wai-sr")
    link = f"{gw.http_url}/survey#t={token}"

    async with RunningSink(Sink(kafka_bootstrap, engine, topics=topics, group_id=f"store-{unique}")):
        page = await open_survey(context, link, PHONE)
        await page.wait_for_selector("form#form", timeout=20_000)
        assert "t=" not in page.url  # the token left the address bar
        heading = "Your view of today's session" if lang == "en" else "你对今天咨询的感受"
        assert await page.locator("h1").inner_text() == heading
        assert await page.evaluate("document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
        legends = await page.locator("fieldset.item legend").all_inner_texts()
        assert len(legends) == 12
        assert ("collaborate on setting goals" in legends[0]) if lang == "en" else ("共同合作设定" in legends[0])
        privacy = await page.locator(".privacy").inner_text()
        assert ("does not see your individual answers" in privacy) if lang == "en" else ("不会在其屏幕上看到" in privacy)
        # every radio has a label; nothing of a transcript is on the page
        assert await page.locator("input[type=radio]").count() == 60
        assert await page.evaluate("[...document.querySelectorAll('input[type=radio]')]"
                                   ".every(i => document.querySelector(`label[for='${i.id}']`))")
        # fits a phone: nothing wider than the screen
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(artifacts_dir / f"survey-{lang}-phone.png"), full_page=True)

        # submitting with nothing answered says what is missing and focuses the first question
        await page.locator("#send").click()
        assert await page.locator("#form-error").is_visible()
        assert await page.evaluate("document.activeElement.name") == "item-Q1"

        steps = [3, 1, 4, 0]  # answers 4, 2, 5, 1, ...
        async def focus_shot(p):
            # the focused option is visibly outlined (keyboard users must see where they are)
            outline = await p.evaluate("getComputedStyle(document.activeElement.nextElementSibling).outlineStyle")
            assert outline == "solid"
            # answered questions are no longer marked missing; unanswered ones still are
            assert await p.locator("fieldset.item.missing").count() == 10
            await p.screenshot(path=str(artifacts_dir / f"survey-{lang}-keyboard.png"))

        await answer_by_keyboard(page, 12, steps, shot=focus_shot)
        await page.wait_for_selector('#message[data-kind="ok"]', timeout=20_000)
        thanks = await page.locator("#message").inner_text()
        assert ("Thank you" in thanks) if lang == "en" else ("谢谢你" in thanks)
        assert await page.evaluate("document.activeElement.id") == "message"
        await page.screenshot(path=str(artifacts_dir / f"survey-{lang}-thanks.png"))

        expected = {f"Q{i + 1}": steps[i % 4] + 1 for i in range(12)}
        await wait_for(lambda: len(ratings(engine, session_id=sid)) == 1, what="the rating in the store")
        (stored,) = ratings(engine, session_id=sid)
        assert stored.answers == expected and stored.source == "survey" and stored.link_id == claims.link_id
        assert stored.lang == lang and stored.revision == 1

        # resubmit: the same link again is refused, with a clear message
        again = await open_survey(context, link, PHONE)
        await again.wait_for_selector('#message[data-reason="used"]', timeout=20_000)
        used = await again.locator("#message").inner_text()
        assert ("already been answered" in used) if lang == "en" else ("已经提交过了" in used)
        await again.screenshot(path=str(artifacts_dir / f"survey-{lang}-used.png"))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Rating)).scalar_one() == 1
    engine.dispose()
    assert not errors, errors


async def test_expired_and_tampered_links_get_their_own_message(make_gateway, kafka_bootstrap, unique,
                                                               artifacts_dir: Path, browser_context):  # noqa: F811 - the fixture
    context, errors = browser_context
    topics = make_topics(kafka_bootstrap, f".svx{unique}")
    gw = await make_gateway(ratings_topic=topics.ratings)
    expired, _ = mint_link(KEY, session_id=f"s-{unique}", lang="zh", ttl_s=1, now=time.time() - 60)
    good, _ = mint_link(KEY, session_id=f"s-{unique}", lang="en")
    body, sig = good.split(".")
    forged_body = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
    cases = [
        (expired, "expired", "此链接已过期", "survey-zh-expired.png"),
        (f"{forged_body}.{sig}", "invalid", "This link is not valid", "survey-en-tampered.png"),
        ("", "invalid", None, None),
    ]
    for token, reason, text, shot in cases:
        page = await open_survey(context, f"{gw.http_url}/survey#t={token}" if token else f"{gw.http_url}/survey",
                                 PHONE)
        await page.wait_for_selector(f'#message[data-reason="{reason}"]', timeout=20_000)
        assert await page.locator("form").count() == 0
        if text:
            assert text in await page.locator("#message").inner_text()
        if shot:
            await page.screenshot(path=str(artifacts_dir / shot))
        await page.close()
    # the short session form on a desktop width, for the record
    srs, _ = mint_link(KEY, session_id=f"s-srs-{unique}", lang="en", instrument="srs")
    page = await open_survey(context, f"{gw.http_url}/survey#t={srs}", {"width": 1200, "height": 900})
    await page.wait_for_selector("form#form", timeout=20_000)
    assert await page.locator("fieldset.item").count() == 4
    assert await page.locator("fieldset.item").first.locator("input[type=radio]").count() == 11
    await page.screenshot(path=str(artifacts_dir / "survey-en-srs-desktop.png"), full_page=True)
    assert not errors, errors
