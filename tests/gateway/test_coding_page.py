"""The coding page (/code) in real headless Chromium, on one gateway over a real SQLite store.

Two supervisors code the same sampled turns of the six samples, keyboard only — one
in English, one in Chinese (the first also codes a session's rupture episode); the store then holds both coders' codes; the page shows
their agreement; every load is audited; and ``eval-turns --from-store`` prints kappa per
code and the coders' agreement. Screenshot: artifacts/coding-page.png.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from alliance_monitor.coding import StoreCodingDesk
from store.db import make_engine, upgrade
from store.turn_codes import read_turn_codes
from store.writes import write_events
from streams.codec import decode
from streams.contracts import AccessEvent
from streams.replay_format import read_file
from streams.topics import ACCESS
from tests.gateway.conftest import counselor_token, recv_json, supervisor_token
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the real-Chromium fixture
from tests.kafka_helpers import consume_all
from validation.codebook import SESSION_TURN

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SIZE = 6


def stored_samples(url: str) -> None:
    """The six samples (sessions and turns) in the store, moved to end an hour ago: inside the retention window."""
    upgrade(url)
    engine = make_engine(url)
    events = []
    for path in sorted(SAMPLES.glob("s0*.jsonl")):
        evs, bad = read_file(path)
        assert not bad
        events += [e.event for e in evs]
    last = max(getattr(e, "sent_at", None) or e.at for e in events)
    shift = datetime.now(timezone.utc) - last - timedelta(hours=1)
    moved = [e.model_copy(update={"sent_at": e.sent_at + shift}) if hasattr(e, "sent_at")
             else e.model_copy(update={"at": e.at + shift}) for e in events]
    with engine.begin() as conn:
        write_events(conn, moved, store_turns=True)
    engine.dispose()


def read_turn_codes_of(url: str):
    engine = make_engine(url)
    try:
        return read_turn_codes(engine)
    finally:
        engine.dispose()


async def code_all(page, keys_for, count: int) -> None:
    """Code ``count`` turns by keyboard: on the i-th, ``keys_for(i)`` number keys, then Enter (save, go on)."""
    for i in range(count):
        turn = page.locator("#turn")
        await turn.wait_for(timeout=20_000)
        assert f"{i + 1}" in await page.locator("#progress").inner_text()
        key = (await turn.get_attribute("data-session"), await turn.get_attribute("data-turn"))
        for k in keys_for(i):
            await page.keyboard.press(k)
        assert await page.locator(".code-opt.on").count() == len(keys_for(i))
        await page.keyboard.press("Enter")
        if i == count - 1:  # the last turn stays, marked saved
            await page.locator("#saved.saved-mark").wait_for(timeout=20_000)
        else:
            await page.wait_for_function(
                "([s, t]) => { const e = document.getElementById('turn');"
                " return e && (e.dataset.session !== s || e.dataset.turn !== t); }", arg=list(key), timeout=20_000)


async def test_two_coders_code_the_same_turns_and_eval_turns_reads_them(make_gateway, tmp_path, artifacts_dir: Path,
                                                                       browser_context, capsys, kafka_bootstrap, unique):  # noqa: F811
    context, errors = browser_context
    coder_a, coder_b = f"coder-a-{unique}", f"coder-b-{unique}"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    stored_samples(url)
    desk = StoreCodingDesk(url, retention_days=30, size=SIZE, double_share=1.0)  # every turn to two coders
    gw = await make_gateway(coding=desk)
    console: list[str] = []

    # coder A, English: "1" on every turn (open question / withdrawal marker)
    page = await context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await page.goto(f"{gw.http_url}/code?lang=en#token={supervisor_token(all_groups=True, name=coder_a)}")
    await page.wait_for_selector("#turn", timeout=20_000)
    assert "Turn 1 of" in await page.locator("#progress").inner_text()
    assert await page.locator(".ctx.target").count() == 1  # the turn, below its context
    first_speaker = await page.locator(".ctx.target .who").inner_text()
    assert first_speaker in ("Counselor", "Client")
    # arrows move without saving, and come back
    await page.keyboard.press("ArrowRight")
    assert "Turn 2 of" in await page.locator("#progress").inner_text()
    await page.keyboard.press("ArrowLeft")
    # the session's own code: a withdrawal episode, then marked repaired (saved at once, no move)
    assert await page.locator("#rupture-state").inner_text() == "not coded yet"
    rupture_session = await page.locator("#turn").get_attribute("data-session")
    await page.keyboard.press("w")
    await page.wait_for_function("() => document.getElementById('rupture-state').textContent === 'withdrawal · not repaired'",
                                 timeout=20_000)
    await page.keyboard.press("r")
    await page.wait_for_function("() => document.getElementById('rupture-state').textContent === 'withdrawal · repaired'",
                                 timeout=20_000)
    assert "Turn 1 of" in await page.locator("#progress").inner_text()
    await code_all(page, lambda i: ["1"], SIZE)
    assert "No turn has been coded by two coders yet." in await page.locator("#agreement").inner_text()
    await page.close()

    # coder B, Chinese: "1" too, and "2" as well on the first two turns (two disagreements)
    page = await context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await page.set_viewport_size({"width": 1100, "height": 900})
    await page.goto(f"{gw.http_url}/code?lang=zh#token={supervisor_token(all_groups=True, name=coder_b)}")
    await page.wait_for_selector("#turn", timeout=20_000)
    assert "第 1 / " in await page.locator("#progress").inner_text()
    assert "编码" in await page.locator("#codes h3").inner_text()
    await code_all(page, lambda i: ["1", "2"] if i < 2 else ["1"], SIZE)
    agreement = page.locator("#agreement")
    await agreement.locator("table.agree").wait_for(timeout=10_000)
    text = await agreement.inner_text()
    assert f"{SIZE} 个话轮由两位编码者编码" in text and "编码者一致性" in text
    await page.locator("#main").screenshot(path=str(artifacts_dir / "coding-page.png"))
    await page.close()

    # a counselor is refused (the page is for supervisors), and nothing was coded in their name
    page = await context.new_page()
    await page.goto(f"{gw.http_url}/code#token={counselor_token('c-anna', name='anna')}")
    await page.wait_for_selector(".status.down", timeout=20_000)
    await page.close()
    assert not errors and not console, (errors, console)

    # over the socket itself: a turn outside the sample and a code outside the codebook are refused, unsaved
    async with connect("ws" + gw.http_url[len("http"):] + "/code/ws") as ws:
        await ws.send(orjson.dumps({"type": "hello", "token": supervisor_token(all_groups=True, name=f"coder-c-{unique}")}))
        assert (await recv_json(ws))["type"] == "welcome"
        await ws.send(orjson.dumps({"type": "load"}).decode())
        turns = (await recv_json(ws))["turns"]
        assert turns == []  # every sampled turn already has its two coders
        await ws.send(orjson.dumps({"type": "code", "session_id": "sample-01-steady-en", "turn_id": 9999,
                                    "codes": []}).decode())
        refused = await recv_json(ws)
        assert refused["type"] == "error" and "not in your coding sample" in refused["message"]
    async with connect("ws" + gw.http_url[len("http"):] + "/code/ws") as ws:
        await ws.send(orjson.dumps({"type": "hello", "token": supervisor_token(all_groups=True, name=coder_a)}))
        await recv_json(ws)
        await ws.send(orjson.dumps({"type": "load"}).decode())
        mine = (await recv_json(ws))["turns"]
        assert len(mine) == SIZE and all(t["codes"] for t in mine)  # coder A may revisit their turns
        t = mine[0]
        wrong = "confrontation_marker" if t["speaker"] == "counselor" else "open_question"
        await ws.send(orjson.dumps({"type": "code", "session_id": t["session_id"], "turn_id": t["turn_id"],
                                    "codes": [wrong]}).decode())
        refused = await recv_json(ws)
        assert refused["type"] == "error" and wrong in refused["message"]
    assert not any(wrong in r.codes for r in read_turn_codes_of(url))

    # the store holds both coders' codes of the same turns
    rows = read_turn_codes_of(url)
    by_coder = {c: {(r.session_id, r.turn_id) for r in rows if r.coder_id == c and r.turn_id != SESSION_TURN}
                for c in (coder_a, coder_b)}
    assert [(r.session_id, r.coder_id, r.rupture) for r in rows if r.turn_id == SESSION_TURN] == [
        (rupture_session, coder_a, {"type": "withdrawal", "repaired": True})]
    assert len(by_coder[coder_a]) == SIZE and by_coder[coder_a] == by_coder[coder_b]
    assert {r.coder_id for r in rows} == {coder_a, coder_b}
    # every load of turns was audited: action "coding", the coder, the sessions shown (A loaded twice, B once)
    recs = await consume_all(kafka_bootstrap, ACCESS.name, expect=3,
                             where=lambda r: r.key in (coder_a.encode(), coder_b.encode()))
    events = [decode(AccessEvent, r.value) for r in recs]
    assert sorted((e.viewer, e.action) for e in events) == [(coder_a, "coding"), (coder_a, "coding"),
                                                            (coder_b, "coding")]
    sampled_sessions = {sid for sid, _ in by_coder[coder_a]}
    assert all(set(e.session_ids) == sampled_sessions and e.role == "supervisor" for e in events)
    assert gw.audit.stats["lost"] == 0

    from alliance_monitor.cli import main

    capsys.readouterr()
    assert await asyncio.to_thread(main, ["eval-turns", "--from-store", "--db", url, "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert f"{SIZE} of {SIZE} coded turns coded by two coders ({coder_a}, {coder_b})" in out
    lines = {line.split()[0]: line.split() for line in out.split("Coders' agreement")[1].splitlines()[2:]}
    counselor_turns = int(lines["open_question"][1])
    assert counselor_turns + int(lines["withdrawal_marker"][1]) == SIZE
    assert lines["open_question"][2] == "100%" and lines["withdrawal_marker"][2] == "100%"
    assert "kappa" in out.split("Coders' agreement")[0]  # the word rules' table, kappa per eval-turns code


async def test_a_coder_codes_one_stretch_by_keyboard_and_its_codes_are_one_window_in_the_store(
        make_gateway, tmp_path, artifacts_dir: Path, browser_context, kafka_bootstrap, unique):  # noqa: F811
    """Stretch mode (``/code?mode=stretch``): the 12 turns of one window of a session, coded in order by keyboard,
    then the next stretch; the codes land in ``turn_codes`` as one of the blocks ``eval-turns`` judges; the page
    counts the window against what a record needs; en and zh; the load is audited like any other."""
    from sqlalchemy import select

    from store.models import Turn
    from validation.window_agreement import MIN_CODED, WINDOW_TURNS, blocks

    context, errors = browser_context
    coder = f"coder-s-{unique}"
    url = f"sqlite:///{tmp_path / 'store.db'}"
    stored_samples(url)
    desk = StoreCodingDesk(url, retention_days=30, stretches=2, double_share=0.0)
    gw = await make_gateway(coding=desk)
    console: list[str] = []
    page = await context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await page.goto(f"{gw.http_url}/code?lang=en&mode=stretch#token={supervisor_token(all_groups=True, name=coder)}")
    await page.wait_for_selector("#turn", timeout=20_000)
    assert await page.locator("#subtitle").inner_text() == "coding stretches"
    assert await page.locator("#mode-switch").inner_text() == "code single turns"
    client_line = page.locator("#windows li[data-speaker=client]")
    assert "0 of 60 windows, 0 of 10 sessions" in await client_line.inner_text()
    session = await page.locator("#turn").get_attribute("data-session")
    size = int(re.search(r"Stretch 1 of 2 · turn 1 of (\d+)", await page.locator("#progress").inner_text()).group(1))
    assert MIN_CODED <= size <= WINDOW_TURNS  # a whole block (a session's last may be shorter)
    for i in range(size):
        turn = page.locator("#turn")
        assert await turn.get_attribute("data-session") == session
        assert f"Stretch 1 of 2 · turn {i + 1} of {size}" in await page.locator("#progress").inner_text()
        key = await turn.get_attribute("data-turn")
        await page.keyboard.press("1")  # open question / withdrawal marker
        await page.keyboard.press("Enter")
        await page.wait_for_function("(t) => { const e = document.getElementById('turn');"
                                     " return e && e.dataset.turn !== t; }", arg=key, timeout=20_000)
    assert "Stretch 2 of 2 · turn 1 of" in await page.locator("#progress").inner_text()  # the next stretch
    assert "1 of 60 windows, 1 of 10 sessions" in await client_line.inner_text()
    await page.close()

    # the codes: one coder, every turn of one block of the session, as eval-turns cuts it
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(Turn.__table__.c.turn_id, Turn.__table__.c.speaker)
                                  .where(Turn.__table__.c.session_id == session)).all()
    finally:
        engine.dispose()
    rows = [r for r in read_turn_codes_of(url) if r.coder_id == coder]
    coded = [r.turn_id for r in rows]
    assert {r.session_id for r in rows} == {session} and len(coded) == size
    assert coded in [[t.turn_id for t in b] for b in blocks(stored)]
    speakers = {t.turn_id: t.speaker for t in stored}
    assert all(r.codes == (("open_question",) if speakers[r.turn_id] == "counselor" else ("withdrawal_marker",))
               for r in rows)

    # in Chinese: the coder comes back to the second stretch, the window count in zh
    page = await context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    await page.goto(f"{gw.http_url}/code?lang=zh&mode=stretch#token={supervisor_token(all_groups=True, name=coder)}")
    await page.wait_for_selector("#turn", timeout=20_000)
    assert "第 2 / 2 个片段 · 第 1 / " in await page.locator("#progress").inner_text()  # first open turn
    assert "1 / 60 个窗口，1 / 10 个会话" in await page.locator("#windows li[data-speaker=client]").inner_text()
    assert await page.locator("#subtitle").inner_text() == "片段编码"
    await page.locator("#main").screenshot(path=str(artifacts_dir / "coding-stretch-zh.png"))
    await page.close()
    assert not errors and not console, (errors, console)

    async with connect("ws" + gw.http_url[len("http"):] + "/code/ws") as ws:  # an unknown mode: refused, unloaded
        await ws.send(orjson.dumps({"type": "hello", "token": supervisor_token(all_groups=True, name=coder)}))
        assert (await recv_json(ws))["type"] == "welcome"
        await ws.send(orjson.dumps({"type": "load", "mode": "windows"}).decode())
        refused = await recv_json(ws)
        assert refused["type"] == "error" and refused["code"] == "protocol" and "stretch" in refused["message"]
    recs = await consume_all(kafka_bootstrap, ACCESS.name, expect=2, where=lambda r: r.key == coder.encode())
    events = [decode(AccessEvent, r.value) for r in recs]
    assert [e.action for e in events] == ["coding", "coding"] and session in events[0].session_ids
