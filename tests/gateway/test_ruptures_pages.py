"""Rupture episodes on the supervisor board and the counselor panel, in real headless Chromium.

The episodes are what the processor core finds in the samples (replayed with
their times moved to now), published on ``alliance.ruptures`` through the real
broker into a real gateway. Screenshots go to artifacts/.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from streams.contracts import ModelDrop, RuptureEpisode, SessionEvent
from streams.replay import read_file, rebase
from streams.rupture_replay import replay_ruptures
from tests.gateway.conftest import counselor_token, publish, supervisor_token, until_known
from tests.gateway.test_feedback_gateway import feedback
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the real-Chromium fixture
from validation.detectors import RUPTURE_MARKERS, gate_episode
from validation.records import RecordBook
from validation.stats import Interval
from validation.turn_agreement import CodeAgreement, turn_record

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def sample_now(name: str, sid: str, group: str, minutes_ago: float, tmp: Path) -> tuple[SessionEvent, list]:
    """The sample with its times moved so it started ``minutes_ago``; its session event and episode records."""
    events, bad = read_file(SAMPLES / name)
    assert not bad
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    lines = [orjson.dumps(e.event.model_copy(update={"session_id": sid}).model_dump(mode="json"))
             for e in rebase(events, start)]
    path = tmp / f"{sid}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    started = next(e.event for e in events if isinstance(e.event, SessionEvent))
    started = started.model_copy(update={"session_id": sid, "at": start, "group": group})
    return started, replay_ruptures(path)


def _passing(code: str) -> CodeAgreement:
    """A turn-level agreement that clears the gate (kappa .65, its interval above the floor and length)."""
    return CodeAgreement(code, "binary", "kappa", 200, 20, 40, 0.65, Interval(0.55, 0.75, 0.95, 500), 0.05,
                         Interval(-0.1, 0.2, 0.95, 500), Interval(0.3, 0.6, 0.95, 500), None, 0, "agrees")


def _turns(name: str) -> list:
    events, _ = read_file(SAMPLES / name)
    return [e.event for e in events if not isinstance(e.event, SessionEvent)]


async def test_board_timeline_and_counselor_panel_show_the_episodes(make_gateway, kafka_bootstrap, unique, tmp_path,
                                                                  artifacts_dir: Path, browser_context):  # noqa: F811
    context, errors = browser_context
    gw = await make_gateway()
    grp = f"ward-{unique}"
    sids = {k: f"{k}-{unique}" for k in ("withdrawal", "repaired", "mixed", "model")}
    s02, r02 = sample_now("s02_bond_rupture_middle_en.jsonl", sids["withdrawal"], grp, 44, tmp_path)
    s04, r04 = sample_now("s04_confrontation_repaired_en.jsonl", sids["repaired"], grp, 49, tmp_path)
    s06, r06 = sample_now("s06_over_directing_zh.jsonl", sids["mixed"], grp, 30, tmp_path)
    model_start = s02.model_copy(update={"session_id": sids["model"], "at": s02.at + timedelta(minutes=10)})
    model_only = RuptureEpisode(
        episode_id=f"{sids['model']}:rupture:1", session_id=sids["model"], counselor_id=s02.counselor_id, version=1,
        kind="untyped", status="open", sources=["model"], phase="middle", opened_at=model_start.at + timedelta(minutes=17),
        opened_turn_id=30, model_drop=ModelDrop(alert_id=f"{sids['model']}:middle:bond:drop", dimension="bond",
                                                phase="middle", previous=2.1, current=1.8, model="smollm2-135m-demo"),
        suggestion="Check in about the conversation itself.", lang="en")
    await publish(kafka_bootstrap, "chat.sessions", s02, s04, s06, model_start)
    await until_known(gw, *sids.values())
    # s02 and s06 while still open (all but the record that closed them); s04 to its repair. The markers'
    # episodes as the processor publishes them once the site's rupture-marker record passed both families
    passing = RecordBook([turn_record(RUPTURE_MARKERS.identity, [_passing(c) for c in RUPTURE_MARKERS.codes],
                                      labels_n=200)])
    await publish(kafka_bootstrap, "alliance.ruptures",
                  *[gate_episode(r, passing) for r in [*[r for r in r02 if not r.closed], *r04,
                                                       *[r for r in r06 if not r.closed]]], model_only)

    # turn-level feedback on real counselor turns: unvalidated for s06, validated (as if a site had
    # validated turn-level measures) for s02's last question
    texts = {e.turn_id: e.text for e in _turns("s06_over_directing_zh.jsonl")}
    await publish(kafka_bootstrap, "alliance.feedback",
                  *[feedback(sids["mixed"], s06.counselor_id, t, texts[t], lang="zh") for t in (29, 31, 33)],
                  feedback(sids["withdrawal"], s02.counselor_id, 47, "Great. And the office hours?", validated=True,
                           ratings={"boundary_overstepping": 2.2, "empathy": 1.3}))

    board = await context.new_page()
    console: list[str] = []
    board.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await board.goto(f"{gw.http_url}/board#token={supervisor_token(grp, name='Dr. Rivera')}")
    await board.wait_for_selector(".status.live", timeout=20_000)
    for sid, text in ((sids["withdrawal"], "Withdrawal · repair attempted"), (sids["repaired"], "Confrontation · repaired"),
                      (sids["mixed"], "Mixed · open"), (sids["model"], "Model drop · open")):
        chip = board.locator(f'tr[data-session="{sid}"] .rupture-chip')
        await chip.first.wait_for(timeout=20_000)
        assert text in await chip.first.inner_text(), (sid, await chip.first.inner_text())
    assert "unvalidated" in await board.locator(f'tr[data-session="{sids["model"]}"] .rupture-chip').inner_text()

    await board.locator(f'tr[data-session="{sids["repaired"]}"]').click()
    await board.wait_for_selector(".drawer .rupture-strip .span", timeout=20_000)
    card = board.locator(".drawer .rupture-card").first
    text = await card.inner_text()
    assert "turn 17 (criticises the session)" in text and "turn 19 (acknowledges)" in text
    assert "re-engaged at turn 20" in text
    span = board.locator(".drawer .rupture-strip .span").first
    assert "st-repaired" in (await span.get_attribute("class"))
    box = await span.bounding_box()
    strip = await board.locator(".drawer .rupture-strip").bounding_box()
    # opened at 17:42 and repaired at 20:34 of a 50-minute session: a short bar in the middle third
    assert box and strip and 0.3 < (box["x"] - strip["x"]) / strip["width"] < 0.4
    await board.screenshot(path=str(artifacts_dir / "ruptures-board.png"))

    # the over-directing session: its episode card names the pattern of the last counselor turns
    await board.locator(f'tr[data-session="{sids["mixed"]}"]').click()
    await board.wait_for_selector(f'.drawer .feedback-card[data-feedback="{sids["mixed"]}:middle:t33"]', timeout=20_000)
    line = await board.locator(".drawer .rupture-card .feedback-line").inner_text()
    assert "boundary-overstepping" in line and "那就更要学会拒绝周末的会" not in line  # t33 is the plan summary
    cards = board.locator(".drawer .feedback-card")
    assert await cards.count() == 3
    first = await cards.first.inner_text()
    assert "turn 33" in first and "unvalidated" in first.lower() and "我来总结一下今天的减压计划" in first
    await board.screenshot(path=str(artifacts_dir / "feedback-board.png"))

    panel = await context.new_page()
    panel.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await panel.set_viewport_size({"width": 440, "height": 760})
    await panel.goto(f"{gw.http_url}/counselor?session={sids['withdrawal']}#token={counselor_token(s02.counselor_id)}")
    card = panel.locator(f'.c-rupture[data-episode="{sids["withdrawal"]}:rupture:1"]')
    await card.wait_for(timeout=20_000)
    text = await card.inner_text()
    assert "Withdrawal rupture" in text and "you addressed it" in text
    assert "You named it; now leave room" in await card.locator("[data-suggestion]").inner_text()
    # validated turn-level feedback joins the card, quoting the counselor's own turn
    await card.locator(".feedback-line").wait_for(timeout=20_000)
    line = await card.locator(".feedback-line").inner_text()
    assert "no poor-alliance pattern" in line and '"Great. And the office hours?"' in line
    await panel.screenshot(path=str(artifacts_dir / "ruptures-counselor.png"))
    # the model-only episode of an unvalidated model never reaches the counselor
    await panel.goto(f"{gw.http_url}/counselor?session={sids['model']}#token={counselor_token(s02.counselor_id)}")
    await panel.wait_for_selector(".c-scores", timeout=20_000)
    await panel.wait_for_timeout(500)
    assert await panel.locator(".c-rupture").count() == 0

    zh = await context.new_page()
    zh.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await zh.set_viewport_size({"width": 440, "height": 760})
    await zh.goto(f"{gw.http_url}/counselor#token={counselor_token(s06.counselor_id)}")
    card = zh.locator(f'.c-rupture[data-episode="{sids["mixed"]}:rupture:1"]')
    await card.wait_for(timeout=20_000)
    assert "放慢节奏" in await card.locator("[data-suggestion]").inner_text()
    await zh.wait_for_timeout(500)
    assert await card.locator(".feedback-line").count() == 0  # unvalidated feedback: supervisors only
    await zh.screenshot(path=str(artifacts_dir / "ruptures-counselor-zh.png"))
    assert not errors and not console, f"page errors: {errors + console}"
