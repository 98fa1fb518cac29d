"""The supervisor board and the counselor panel in a real headless Chromium.

Uses Debian's chromium (apt-get install chromium) driven by the PyPI
``playwright`` package with ``executable_path``: no browser is downloaded.
If the browser is missing the test FAILS (CI installs it), it never skips.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.gateway import events as ev
from tests.gateway.conftest import counselor_token, publish, supervisor_token, until_known

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("headless Chromium not found: install Debian's browser with `apt-get install -y chromium` "
                    "(or set CHROMIUM=/path/to/chromium)", pytrace=False)
    return path


@pytest.fixture
async def browser_context():
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]'", pytrace=False)
    exe = chromium_path()
    with tempfile.TemporaryDirectory(prefix="am-chromium-") as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=exe, headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1600, "height": 860}, device_scale_factor=1,
            )
            errors: list[str] = []
            context.on("weberror", lambda e: errors.append(str(e.error)))
            try:
                yield context, errors
            finally:
                await context.close()


async def test_board_shows_session_scores_alert_and_ack(make_gateway, kafka_bootstrap, unique, artifacts_dir: Path,
                                                         browser_context):
    context, errors = browser_context
    gw = await make_gateway()
    grp, cid, s = f"ward-{unique}", f"counselor-{unique}", f"session-{unique}"
    other = f"calm-{unique}"
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await page.goto(f"{gw.http_url}/board#token={supervisor_token(grp, name='Dr. Rivera')}")
    await page.wait_for_selector(".status.live", timeout=20_000)
    assert "token=" not in page.url  # the token is taken out of the address bar

    # a session appears
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp, minutes_ago=24),
                  ev.started(other, f"counselor-b-{unique}", grp, minutes_ago=9))
    row = page.locator(f'tr[data-session="{s}"]')
    await row.wait_for(timeout=20_000)
    await until_known(gw, s, other)

    # its scores update, with the change since the previous phase
    await publish(kafka_bootstrap, "alliance.scores", ev.score(s, cid, "early", 4.1, 3.9, 4.0),
                  ev.score(other, f"counselor-b-{unique}", "early", 4.2, 4.0, 4.4))
    await page.wait_for_function(
        "sid => document.querySelector(`tr[data-session=\"${sid}\"] td[data-dim=bond] .value`).textContent === '4.0'",
        arg=s, timeout=20_000)
    await publish(kafka_bootstrap, "alliance.signals", ev.signal(s, cid, "middle", flags=("client_withdrawal", "question_streak")))
    await publish(kafka_bootstrap, "alliance.scores", ev.score(s, cid, "middle", 3.6, 3.5, 2.9))
    bond = row.locator("td[data-dim=bond]")
    await page.wait_for_function(
        "sid => document.querySelector(`tr[data-session=\"${sid}\"] td[data-dim=bond] .value`).textContent === '2.9'",
        arg=s, timeout=20_000)
    assert "−1.1" in await bond.locator(".delta").inner_text()

    # an alert arrives (from the demo model: unvalidated, and marked so)
    alert_id = f"alert-{unique}"
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(alert_id, s, cid, validated=False, severity="warning"))
    badge = row.locator("td.alerts .badge")
    await badge.first.wait_for(timeout=20_000)
    assert "unvalidated" in (await badge.first.inner_text()).lower()
    # unvalidated signals (this alert, the unvalidated model's falling bond) show beside the risk, marked,
    # and do not move the ranking (issue 23): the sessions still sort as equals, by id
    await row.locator("td.risk .risk-unval").wait_for(timeout=20_000)
    assert "unvalidated" in (await row.locator("td.risk .risk-unval").inner_text()).lower()
    assert await row.locator("td.risk .riskpill").inner_text() == "0"
    assert await page.locator("tbody#rows tr").first.get_attribute("data-session") == other
    assert await page.locator(".kpi.falling b").inner_text() == "0"
    assert "unvalidated model" in await page.locator(".kpi.falling .unval").inner_text()

    # drill down: phase timeline with rationales and verified quotes only
    await row.click()
    drawer = page.locator("#drawer")
    try:
        await drawer.locator(".phase-block").nth(1).wait_for(timeout=20_000)
    except Exception as err:  # any failure: keep a screenshot, then fail with the page's errors
        await page.screenshot(path=str(artifacts_dir / "gateway-board-failed.png"))
        raise AssertionError(f"drawer never showed two phases; page errors: {errors + console}") from err
    await drawer.locator("details").first.evaluate("d => d.open = true")
    quotes = await drawer.locator("blockquote").all_inner_texts()
    assert "we agreed to work on sleep" in quotes and "you don't get it" in quotes
    assert not any("invented" in q or "made-up" in q for q in quotes)

    # acknowledge it: the board shows who acked (the ack went through Kafka and back)
    await drawer.locator(f'button[data-ack="{alert_id}"]').click()
    await drawer.locator(".acked-by").wait_for(timeout=20_000)
    assert "Dr. Rivera" in await drawer.locator(".acked-by").inner_text()
    await page.wait_for_function(
        "sid => document.querySelector(`tr[data-session=\"${sid}\"] td.alerts .badge .ackby`) !== null",
        arg=s, timeout=20_000)
    await drawer.locator("details").first.evaluate("d => d.open = false")
    await page.screenshot(path=str(artifacts_dir / "gateway-board-drilldown.png"))
    await page.keyboard.press("Escape")
    await drawer.wait_for(state="hidden")
    # the session's process flags are marked: no rule is validated on a new site
    assert await row.locator('td.flags .chip[data-gate="unvalidated"]').count() == 2
    await page.screenshot(path=str(artifacts_dir / "gateway-board.png"))

    # the counselor panel for the same session: validated alerts only, calm wording
    await publish(kafka_bootstrap, "alliance.alerts", ev.alert(f"valid-{unique}", s, cid, validated=True))
    # a validated alert ranks: the riskiest session is sorted first
    await page.wait_for_function(
        "sid => document.querySelector('tbody#rows tr').dataset.session === sid", arg=s, timeout=20_000)
    panel = await context.new_page()
    await panel.set_viewport_size({"width": 440, "height": 760})
    await panel.goto(f"{gw.http_url}/counselor#token={counselor_token(cid)}")
    await panel.locator(f'article[data-alert="valid-{unique}"]').wait_for(timeout=20_000)
    assert await panel.locator(f'article[data-alert="{alert_id}"]').count() == 0  # unvalidated: supervisors only
    # no validation record for this model: no number on the panel, "validation mode" instead
    for dim in ("goal", "approach", "bond"):
        assert (await panel.locator(f'.c-score[data-dim="{dim}"] .big').inner_text()) == "validation mode"
    assert "less understood" in await panel.locator(".c-alert .hint").first.inner_text()
    # no rule detector is validated on a new site: the panel says their notes go to the supervisor for now
    assert "go to your supervisor" in await panel.locator("[data-rules-withheld]").inner_text()
    await panel.screenshot(path=str(artifacts_dir / "gateway-counselor.png"))
    assert not errors and not console, f"page errors: {errors + console}"


async def test_counselor_panel_shows_validation_mode_for_unvalidated_dimensions(make_gateway, kafka_bootstrap, unique,
                                                                               artifacts_dir: Path, browser_context):
    """A record that passes bond only: the panel shows bond's number, goal and approach in validation mode."""
    from gateway.policy import Policy
    from tests.gateway.test_protocol_gate import _bond_record
    from validation.records import RecordBook

    context, errors = browser_context
    gw = await make_gateway(Policy(record_book=RecordBook([_bond_record()])))
    grp, cid, s = f"ward-{unique}", f"counselor-{unique}", f"session-{unique}"
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp, minutes_ago=20))
    await until_known(gw, s)
    await publish(kafka_bootstrap, "alliance.scores", ev.score(s, cid, "early", 4.1, 3.9, 4.0),
                  ev.score(s, cid, "middle", 3.6, 3.5, 2.9))
    panel = await context.new_page()
    await panel.set_viewport_size({"width": 440, "height": 760})
    await panel.goto(f"{gw.http_url}/counselor#token={counselor_token(cid)}")
    await panel.wait_for_function(
        "() => { const b = document.querySelector('.c-score[data-dim=bond] .big'); return b && b.textContent === '2.9'; }",
        timeout=20_000)
    for dim in ("goal", "approach"):
        card = panel.locator(f'.c-score[data-dim="{dim}"]')
        assert await card.get_attribute("data-withheld") == "1"
        assert (await card.locator(".big").inner_text()) == "validation mode"
        assert not any(ch.isdigit() for ch in await card.inner_text())
    note = await panel.locator("[data-validation-mode]").inner_text()
    assert "its estimates of goals and way of working, and its alerts go to your supervisor" in note
    await panel.screenshot(path=str(artifacts_dir / "gateway-counselor-validation-mode.png"))

    board = await context.new_page()
    await board.goto(f"{gw.http_url}/board#token={supervisor_token(grp)}")
    row = board.locator(f'tr[data-session="{s}"]')
    await row.wait_for(timeout=20_000)
    assert (await row.locator("td[data-dim=goal] .value").inner_text()) == "3.6"  # supervisors see it, marked
    assert await row.locator("td[data-dim=goal]").get_attribute("data-unvalidated") == "1"
    assert await row.locator("td[data-dim=bond]").get_attribute("data-unvalidated") is None
    await board.screenshot(path=str(artifacts_dir / "gateway-board-unvalidated-dimensions.png"))
    assert not errors, f"page errors: {errors}"


async def test_board_detector_table_lists_a_served_trained_detector(make_gateway, kafka_bootstrap, unique,
                                                                    artifacts_dir: Path, browser_context):
    """The board's detector table (issue 23): the rule detectors and a trained detector a scorer serves in
    feedback cards, each code with its state from the detector's own record."""
    from gateway.policy import Policy
    from tests.gateway.test_feedback_gateway import feedback
    from tests.validation.test_detector_feedback_gate import TRAINED, _record
    from validation.detectors import COUNSELOR_WORDS
    from validation.records import RecordBook

    context, errors = browser_context
    gw = await make_gateway(Policy(record_book=RecordBook([_record(TRAINED.identity, {"directive": True})])))
    grp, cid, s = f"ward-{unique}", f"counselor-{unique}", f"session-{unique}"
    page = await context.new_page()
    await page.goto(f"{gw.http_url}/board#token={supervisor_token(grp)}")
    await page.wait_for_selector(".status.live", timeout=20_000)
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gw, s)
    card = feedback(s, cid, 31, "Write the exams down before bed tonight.")
    answered = {c: TRAINED.key if c == "directive" else COUNSELOR_WORDS.key for c in card.features}
    await publish(kafka_bootstrap, "alliance.feedback", card.model_copy(update={"feature_detectors": answered}))
    trained = page.locator(f'#detector-rows tr[data-detector="{TRAINED.key}"]')
    await trained.first.wait_for(state="attached", timeout=20_000)
    assert await page.locator("#detectors").is_visible()
    await page.locator("#detectors").evaluate("d => d.open = true")
    assert [await r.get_attribute("data-status") for r in await trained.all()] == ["validated"]
    assert await trained.first.get_attribute("data-kind") == "trained"
    assert TRAINED.identity.name in await trained.first.inner_text()
    rules = page.locator(f'#detector-rows tr[data-detector="{COUNSELOR_WORDS.key}"]')
    assert {await r.get_attribute("data-status") for r in await rules.all()} == {"unvalidated"}
    assert "1 of" in await page.locator("#detectors-title").inner_text()
    await page.screenshot(path=str(artifacts_dir / "board-detectors.png"))
    assert not errors, f"page errors: {errors}"
