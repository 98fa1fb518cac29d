"""The after-session page for a session the gateway never held (or forgot): its timeline from the store.

The session's events are written into a real SQLite store by the sink's own write path
(with the Kafka positions the sink records); nothing of it goes through the broker, so
the gateway knows the session only from the store. The same rules as live must hold:
scope on the stored counselor and group, the validation gate per event, an ack only with
its visible alert; an unknown session and a stranger get the same "not visible".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance_monitor.commands.gateway import store_archive
from gateway.policy import Policy
from store.db import make_engine, upgrade
from store.retention import purge_text
from store.writes import Origin, write_events
from streams.contracts import AlertAck
from tests.gateway import events as ev
from tests.gateway.conftest import collect_until, counselor_token, open_client, recv_json, supervisor_token
from tests.gateway.test_feedback_gateway import feedback
from tests.gateway.test_pages_browser import browser_context  # noqa: F401 - the real-Chromium fixture
from tests.gateway.test_protocol_gate import _bond_record
from tests.gateway.test_session_page import HELPED, HURT, VALIDATED, _open, episode
from validation.records import RecordBook

pytestmark = [pytest.mark.integration]


def _store(tmp_path: Path, sid: str, cid: str, grp: str) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    low = {"boundary_overstepping": 1.2, "passive_response": 1.3}
    shown = ev.alert(f"{sid}:middle:bond:drop", sid, cid, validated=True)
    held = ev.alert(f"{sid}:middle:goal:drop", sid, cid, dimension="goal", validated=False)
    events = [ev.started(sid, cid, grp, minutes_ago=55),
              ev.score(sid, cid, "early", 4.1, 3.9, 4.2), ev.score(sid, cid, "middle", 3.4, 3.3, 2.6),
              ev.score(sid, cid, "late", 3.8, 3.6, 3.7), episode(sid, cid, 1), episode(sid, cid, 2),
              feedback(sid, cid, 21, HURT),
              feedback(sid, cid, 23, HELPED, phase="late", ratings={"empathy": 4.6, **low}),
              feedback(sid, cid, 25, VALIDATED, phase="late", validated=True, ratings={"self_exploration": 4.2, **low}),
              ev.ended(sid, cid, grp)]
    events += [shown, held, *(AlertAck(alert_id=a.alert_id, session_id=sid, by="sup-1", role="supervisor")
                              for a in (shown, held))]
    engine = make_engine(url)
    with engine.begin() as conn:
        write_events(conn, events, origins=[Origin("alliance.x", 0, i) for i in range(len(events))])
    engine.dispose()
    return url


async def _timeline(gw, tok: str, sid: str) -> dict:
    ws = await open_client(gw, tok)
    try:
        await collect_until(ws, lambda ms: any(m.get("type") == "snapshot" for m in ms))
        await ws.send('{"type": "timeline", "session_id": "%s"}' % sid)
        while True:
            msg = await recv_json(ws)
            if msg.get("type") in ("timeline", "error"):
                return msg
    finally:
        await ws.close()


async def test_timeline_of_a_session_only_the_store_knows(make_gateway, unique, tmp_path):
    grp, cid, sid = f"ward-{unique}", f"counselor-{unique}", f"stored-{unique}"
    gw = await make_gateway(Policy(record_book=RecordBook([_bond_record()])),
                            archive_loader=store_archive(_store(tmp_path, sid, cid, grp)))
    assert sid not in gw.hub.sessions

    sup = await _timeline(gw, supervisor_token(grp), sid)
    assert sup["type"] == "timeline" and sup.get("archived") is True
    kinds = [e["kind"] for e in sup["events"]]
    assert kinds.count("score") == 3 and kinds.count("feedback") == 3 and kinds.count("session") == 2
    assert kinds.count("rupture") == 2 and kinds.count("alert") == 2 and kinds.count("ack") == 2
    assert {e["id"].rsplit(":", 1)[0] for e in sup["events"]} == {"alliance.x:0"}  # the ids it had live
    late = next(e["data"] for e in sup["events"] if e["kind"] == "score" and e["data"]["phase"] == "late")
    assert set(late["dimensions"]) == {"goal", "approach", "bond"}

    mine = await _timeline(gw, counselor_token(cid), sid)
    feedback_turns = [e["data"]["turn_id"] for e in mine["events"] if e["kind"] == "feedback"]
    assert feedback_turns == [25]  # only the validated record
    scores = [e["data"] for e in mine["events"] if e["kind"] == "score"]
    assert scores and all(set(s["dimensions"]) == {"bond"} for s in scores)  # goal/approach withheld
    alerts = [e["data"]["alert_id"] for e in mine["events"] if e["kind"] == "alert"]
    acks = [e["data"]["alert_id"] for e in mine["events"] if e["kind"] == "ack"]
    assert alerts == acks == [f"{sid}:middle:bond:drop"]  # the unvalidated alert and its ack stay hidden

    for tok, target in ((counselor_token(f"other-{unique}"), sid), (supervisor_token(f"elsewhere-{unique}"), sid),
                        (supervisor_token(grp), f"never-{unique}")):
        msg = await _timeline(gw, tok, target)
        assert msg["type"] == "error" and msg["code"] == "forbidden", msg


async def test_a_store_that_cannot_be_read_says_so(make_gateway, unique, tmp_path):
    def broken(session_id: str):
        raise OSError("database unreachable")

    gw = await make_gateway(archive_loader=broken)
    msg = await _timeline(gw, supervisor_token(all_groups=True), f"gone-{unique}")
    assert msg["type"] == "error" and msg["code"] == "archive_unavailable"


@pytest.mark.browser
async def test_session_page_from_the_store(make_gateway, unique, tmp_path, artifacts_dir: Path,
                                           browser_context):  # noqa: F811
    context, errors = browser_context
    console: list[str] = []
    grp, cid, sid = f"ward-{unique}", f"counselor-{unique}", f"stored-{unique}"
    url = _store(tmp_path, sid, cid, grp)
    gw = await make_gateway(Policy(record_book=RecordBook([_bond_record()])), archive_loader=store_archive(url))
    sup = await _open(context, f"{gw.http_url}/session?id={sid}#token={supervisor_token(grp)}", console)
    await sup.wait_for_function(
        "() => document.querySelectorAll('svg.trajectory circle').length === 9"
        " && document.querySelectorAll('.feedback-card').length === 3", timeout=20_000)
    bond = await sup.locator("svg.trajectory circle[data-dim=bond]").evaluate_all("cs => cs.map(c => +c.dataset.value)")
    assert bond == [4.2, 2.6, 3.7]
    assert "Confrontation · repaired" in await sup.locator(".rupture-card").inner_text()
    await sup.screenshot(path=str(artifacts_dir / "session-page-from-store.png"), full_page=True)

    mine = await _open(context, f"{gw.http_url}/session?id={sid}#token={counselor_token(cid)}", console, width=900)
    await mine.wait_for_selector(".feedback-card", timeout=20_000)
    assert await mine.locator("svg.trajectory circle").count() == 3
    assert await mine.locator(".feedback-card").evaluate_all("cs => cs.map(c => c.dataset.turn)") == ["25"]
    body = await mine.locator("main").inner_text()
    assert HURT[:30] not in body and HELPED[:30] not in body

    # after the retention period the ratings stay and the quotes are gone, and the page says so
    engine = make_engine(url)
    with engine.begin() as conn:
        assert purge_text(conn, 0).feedback == 3
    engine.dispose()
    old = await _open(context, f"{gw.http_url}/session?id={sid}#token={supervisor_token(grp)}", console)
    await old.wait_for_function("() => document.querySelectorAll('.feedback-card [data-retention]').length === 3",
                                timeout=20_000)
    body = await old.locator("main").inner_text()
    assert HURT[:30] not in body and "removed after the retention period" in body
    assert await old.locator("svg.trajectory circle").count() == 9
    assert not errors and not console, f"page errors: {errors + console}"
