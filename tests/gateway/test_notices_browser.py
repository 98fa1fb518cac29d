"""Notices in plain words on the board and the panel, in real headless Chromium (issue 23).

Two samples' notices as the processor core makes them (replayed with their times moved to
now), published through the real broker into a real gateway whose site has validated the
process-signal and rupture-marker rules: every notice on the board and the panel is a
sentence with one move, not a list of statistics; an unrepaired rupture is not shown in
green; a severity has the same colour on both pages. Screenshots go to artifacts/.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.policy import Policy
from streams.contracts import SessionEvent
from streams.replay import read_file, rebase
from streams.rupture_replay import replay_events
from tests.gateway.conftest import counselor_token, publish, supervisor_token, until_known
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the real-Chromium fixture
from validation.detectors import PROCESS_SIGNALS, RUPTURE_MARKERS, gate_episode, gate_process_alert
from validation.records import RecordBook
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
GREEN = "rgb(47, 133, 90)"  # --high


def _passing(code: str) -> CodeAgreement:
    return CodeAgreement(code, "binary", "kappa", 200, 20, 40, 0.65, Interval(0.55, 0.75, 0.95, 500), 0.05,
                         Interval(-0.1, 0.2, 0.95, 500), Interval(0.3, 0.6, 0.95, 500), None, 0, "agrees")


BOOK = RecordBook([turn_record(d.identity, [_passing(c) for c in d.codes], labels_n=200)
                   for d in (PROCESS_SIGNALS, RUPTURE_MARKERS)])


def _sample(name: str, sid: str, group: str, minutes_ago: float, *, ended: bool):
    """The sample moved to now under ``sid``: its started (and ended) event, alerts and episode records."""
    events, bad = read_file(SAMPLES / name)
    assert not bad
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    moved = rebase(events, start)
    moved = [e.__class__(e.topic, e.event.model_copy(update={"session_id": sid}), e.at, e.source, e.order)
             for e in moved]
    out = replay_events(moved)
    sessions = [e.event for e in moved if isinstance(e.event, SessionEvent)]
    started = sessions[0].model_copy(update={"group": group})
    alerts = [gate_process_alert(a, BOOK) for a in out.alerts]
    episodes = [gate_episode(e, BOOK) for e in out.episodes if ended or not e.closed]
    closing = [s.model_copy(update={"group": group}) for s in sessions[1:]] if ended else []
    return started, closing, alerts, episodes


async def test_notices_are_sentences_with_one_move_and_colours_agree(make_gateway, kafka_bootstrap, unique,
                                                                     artifacts_dir: Path,
                                                                     browser_context):  # noqa: F811
    context, errors = browser_context
    gw = await make_gateway(Policy(record_book=BOOK))
    grp = f"ward-{unique}"
    live, done = f"rupture-{unique}", f"passive-{unique}"
    s02, _, a02, e02 = _sample("s02_bond_rupture_middle_en.jsonl", live, grp, 44, ended=False)
    s09, end09, a09, e09 = _sample("ruptures/s09_passive_counselor_en.jsonl", done, grp, 40, ended=True)
    assert a02 and all(a.validated for a in a02)
    await publish(kafka_bootstrap, "chat.sessions", s02, s09)
    await until_known(gw, live, done)
    await publish(kafka_bootstrap, "alliance.alerts", *a02, *a09)
    await publish(kafka_bootstrap, "alliance.ruptures", *e02, *e09)
    await publish(kafka_bootstrap, "chat.sessions", *end09)

    console: list[str] = []
    board = await context.new_page()
    board.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await board.set_viewport_size({"width": 1400, "height": 900})
    await board.goto(f"{gw.http_url}/board#token={supervisor_token(grp, name='Dr. Rivera')}")
    await board.wait_for_selector(".status.live", timeout=20_000)
    await board.locator(f'tr[data-session="{live}"] td.alerts .badge').first.wait_for(timeout=20_000)
    await board.locator(f'tr[data-session="{live}"]').click()
    cards = board.locator(".drawer .alert-card")
    await cards.first.wait_for(timeout=20_000)
    texts = await cards.all_inner_texts()
    assert len(texts) == len(a02)  # one note a phase, not a row of "Chat rhythm" notes
    for text in texts:
        assert "=" not in text and "client_length_ratio" not in text, text
    assert any("much shorter than their own earlier replies" in t for t in texts), texts
    assert await board.locator(".drawer .alert-card .hint").count() == len(a02)  # each with its move
    board_info = await cards.first.evaluate("el => getComputedStyle(el).borderLeftColor")
    await board.screenshot(path=str(artifacts_dir / "notices-board.png"))

    panel = await context.new_page()
    panel.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await panel.set_viewport_size({"width": 440, "height": 900})
    cid = s02.counselor_id
    await panel.goto(f"{gw.http_url}/counselor?session={live}#token={counselor_token(cid)}")
    notes = panel.locator("article.c-alert")
    await notes.first.wait_for(timeout=20_000)
    for text in await notes.all_inner_texts():
        assert "=" not in text and "A short check-in can help" not in text, text
    hints = await panel.locator("article.c-alert .hint").all_inner_texts()
    assert len(hints) == len(set(hints)) == await notes.count()  # each note its own move
    panel_info = await notes.first.evaluate("el => getComputedStyle(el).borderLeftColor")
    assert await panel.locator("[data-rules-withheld]").count() == 0  # this site validated its rules
    assert panel_info == board_info  # the same severity, the same colour on both pages
    await panel.screenshot(path=str(artifacts_dir / "notices-counselor.png"))

    # the ended session's episode stayed unrepaired: named as something to come back to, not in green
    await panel.goto(f"{gw.http_url}/counselor?session={done}#token={counselor_token(s09.counselor_id)}")
    line = panel.locator(f'p.unrepaired[data-episode="{done}:rupture:1"]')
    await line.wait_for(timeout=20_000)
    assert "was not repaired" in await line.inner_text()
    assert await line.evaluate("el => getComputedStyle(el).color") != GREEN
    await panel.screenshot(path=str(artifacts_dir / "notices-counselor-unrepaired.png"))
    assert not errors and not console, f"page errors: {errors + console}"
