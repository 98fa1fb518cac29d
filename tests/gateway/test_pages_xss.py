"""Hostile text on the pages: ids, quotes and rationales carrying markup, in a real headless Chromium.

A session whose session id, counselor id, group, alert message, evidence quote and
rationales are XSS payloads goes through the real broker to the real gateway; the
supervisor board (row and drill-down), the counselor panel and the after-session page
must show every payload as text, build no element from it and run none of it.
"""

from __future__ import annotations

import pytest

from streams.contracts import Evidence, Quote
from tests.gateway import events as ev
from tests.gateway.conftest import counselor_token, publish, supervisor_token, until_known
from tests.gateway.test_feedback_gateway import feedback
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.integration]

IMG = "<img src=x onerror=\"document.title='pwned';window.__xss=1;alert(1)\">"
SCRIPT = "</script><script>document.title='pwned';window.__xss=2;alert(2)</script>"
SVG = "<svg onload=window.__xss=3;alert(3)>"
JS_URL = "<a href=\"javascript:window.__xss=4;alert(4)\">open</a> javascript:alert(4)"
IFRAME = "<iframe src=\"javascript:alert(5)\"></iframe>"

#: what a page shows if no payload became markup or ran: counts of elements that data could have made
PROBE = """() => ({
  title: document.title,
  xss: window.__xss === undefined ? null : window.__xss,
  elements: document.querySelectorAll('img, svg:not(.trajectory), iframe, object, embed, script:not([src])').length,
  handlers: [...document.querySelectorAll('*')].filter(n => [...n.attributes].some(a => /^on/i.test(a.name))).length,
  jsLinks: [...document.querySelectorAll('[href],[src],[action]')].filter(
      n => /^\\s*javascript:/i.test(n.getAttribute('href') || n.getAttribute('src') || n.getAttribute('action') || '')).length,
  text: document.body.innerText,
})"""


def _hostile_score(s: str, cid: str, phase: str, level: float):
    base = ev.score(s, cid, phase, level, level, level)
    items = [it.model_copy(update={"rationale": f"{SCRIPT} {JS_URL}",
                                   "quotes": [Quote(text=IMG, verified=True), Quote(text=SVG, verified=True)]})
             for it in base.items]
    return base.model_copy(update={"items": items})


def _hostile_alert(alert_id: str, s: str, cid: str, validated: bool):
    base = ev.alert(alert_id, s, cid, validated=validated)
    evidence = [Evidence(item_id="Q9", dimension="bond", previous=4.0, current=3.0, delta=-1.0,
                         rationale=f"{SCRIPT} {IFRAME}", quotes=[Quote(text=IMG, verified=True),
                                                                 Quote(text=JS_URL, verified=True)])]
    return base.model_copy(update={"evidence": evidence, "message": f"bond fell {SVG}"})


async def _assert_inert(page, dialogs: list[str], *shown: str) -> None:
    probe = await page.evaluate(PROBE)
    assert dialogs == [], f"a payload opened a dialog: {dialogs}"
    assert probe["xss"] is None and probe["title"] != "pwned", probe
    assert probe["elements"] == 0 and probe["handlers"] == 0 and probe["jsLinks"] == 0, probe
    for text in shown:
        assert text in probe["text"], f"payload not shown literally: {text!r}"


async def test_payloads_in_ids_quotes_and_rationales_are_shown_as_text(make_gateway, kafka_bootstrap, unique,
                                                                       browser_context):  # noqa: F811
    context, errors = browser_context
    gw = await make_gateway()
    s, cid, grp = f"s-{unique}-{IMG}", f"c-{unique}-{SCRIPT}", f"g-{unique}-{SVG}"
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp, minutes_ago=20))
    await until_known(gw, s)
    await publish(kafka_bootstrap, "alliance.scores", _hostile_score(s, cid, "early", 4.2))
    await publish(kafka_bootstrap, "alliance.scores", _hostile_score(s, cid, "middle", 3.0))
    await publish(kafka_bootstrap, "alliance.alerts", _hostile_alert(f"sup-{unique}", s, cid, validated=False),
                  _hostile_alert(f"val-{unique}", s, cid, validated=True))
    await publish(kafka_bootstrap, "alliance.feedback", feedback(s, cid, 21, f"{IMG} {JS_URL}"))

    dialogs: list[str] = []
    context.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    board = await context.new_page()
    await board.goto(f"{gw.http_url}/board#token={supervisor_token(grp, name=SCRIPT)}")
    await board.wait_for_function(
        "sid => [...document.querySelectorAll('tr[data-session]')].some(r => r.dataset.session === sid"
        " && r.querySelector('td.alerts .badge'))", arg=s, timeout=20_000)
    await _assert_inert(board, dialogs, s, cid)

    # the drill-down: rationales and verified quotes of scores and of the alert's evidence
    await board.evaluate("sid => [...document.querySelectorAll('tr[data-session]')]"
                         ".find(r => r.dataset.session === sid).click()", s)
    drawer = board.locator("#drawer")
    await drawer.locator(".phase-block").nth(1).wait_for(timeout=20_000)
    await drawer.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
    quotes = await drawer.locator("blockquote").all_inner_texts()
    assert IMG in quotes and SVG in quotes and JS_URL in quotes, quotes
    await _assert_inert(board, dialogs, s, f"counselor {cid}", SCRIPT, IFRAME, "bond fell " + SVG)

    panel = await context.new_page()
    await panel.goto(f"{gw.http_url}/counselor#token={counselor_token(cid)}")
    await panel.locator(f'article[data-alert="val-{unique}"]').wait_for(timeout=20_000)
    assert IMG in await panel.locator("blockquote").all_inner_texts()
    await _assert_inert(panel, dialogs, s, "bond fell " + SVG)

    # the after-session page, through the drawer's link: ids, quotes and rationales as text
    href = await drawer.locator("a[data-session-link]").evaluate("a => a.href")
    after = await context.new_page()
    await after.goto(href)
    await after.locator("svg.trajectory circle").first.wait_for(timeout=20_000)
    await after.locator(".feedback-card blockquote").wait_for(timeout=20_000)
    assert await after.locator("h2").inner_text() == s
    await _assert_inert(after, dialogs, s, IMG)
    assert not errors, f"page errors: {errors}"
