"""The gate end to end through real parts: alert policy → gate → broker → gateway → websockets.

The processor's wiring is one call (``apply_gate`` after ``alert_policy.on_score``);
this test makes exactly that call, then lets the real gateway, fed by the real
broker, decide what real websocket clients receive.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from websockets.asyncio.client import connect

from gateway.auth import issue_token
from gateway.server import Gateway, GatewayConfig
from streams.alert_policy import SettingsBook, on_score
from streams.contracts import AllianceScore, DimensionScore, ItemScore, ModelIdentity, SessionEvent, utcnow
from tests.kafka_helpers import produce
from validation import synthetic
from validation.gate import apply_gate
from validation.records import RecordBook
from validation.verdict import evaluate

pytestmark = pytest.mark.integration

SECRET = b"validation-test-secret-0123456789"
MODEL = ModelIdentity(name="care-8b", revision="abc123", prompt_version="v1", readout="expected")
DIM_OF = {f"Q{i}": ("goal" if i <= 4 else "approach" if i <= 8 else "bond") for i in range(1, 13)}


def _score(session_id: str, counselor_id: str, phase: str, bond: float) -> AllianceScore:
    level = {"goal": 4.0, "approach": 4.0, "bond": bond}
    items = []
    for item_id, dim in DIM_OF.items():
        lo = int(level[dim])
        w = level[dim] - lo
        probs = [0.0] * 5
        probs[lo - 1] += 1 - w
        probs[min(lo, 4)] += w
        items.append(ItemScore(item_id=item_id, dimension=dim, expected=level[dim], probs=probs))
    return AllianceScore(request_id=f"{session_id}:{phase}", session_id=session_id, counselor_id=counselor_id,
                         phase=phase, upto_turn_id=10, items=items,
                         dimensions={d: DimensionScore(score=v) for d, v in level.items()}, model=MODEL)


def _policy_alerts(session_id: str, counselor_id: str, book: RecordBook):
    """What the processor would publish: the policy's alerts, with the gate applied."""
    settings = SettingsBook.builtin().for_model(MODEL.name)
    state = on_score(None, _score(session_id, counselor_id, "early", 4.0), settings).state
    decision = on_score(state, _score(session_id, counselor_id, "middle", 2.8), settings)
    assert [a.dimension for a in decision.alerts] == ["bond"]
    return [apply_gate(a, book.for_model(MODEL), MODEL) for a in decision.alerts]


async def _client(gw: Gateway, token: str):
    ws = await connect(gw.url)
    await ws.send(orjson.dumps({"type": "hello", "token": token}).decode())
    return ws


async def _until(ws, done, timeout: float = 30.0) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while not done(out):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"condition not met; got {[(m.get('type'), m.get('kind')) for m in out][-20:]}")
        try:
            out.append(orjson.loads(await asyncio.wait_for(ws.recv(), left)))
        except asyncio.TimeoutError:
            continue
    return out


def _alerts(messages: list[dict], session_id: str) -> list[dict]:
    return [m["data"] for m in messages
            if m.get("type") == "event" and m.get("kind") == "alert" and m.get("session_id") == session_id]


async def test_unvalidated_alert_reaches_supervisor_only_until_a_passing_record(kafka_bootstrap, unique):
    cid, grp = f"c-{unique}", f"g-{unique}"
    before, after = f"gate-before-{unique}", f"gate-after-{unique}"
    gw = Gateway(GatewayConfig(secret=SECRET, port=0, bootstrap=kafka_bootstrap, heartbeat_s=3600))
    await gw.start()
    try:
        await asyncio.wait_for(gw.ready.wait(), 60)
        counselor = await _client(gw, issue_token(SECRET, role="counselor", counselor_id=cid))
        supervisor = await _client(gw, issue_token(SECRET, role="supervisor", groups=[grp]))
        starts = [SessionEvent(session_id=s, kind="started", at=utcnow(), counselor_id=cid, group=grp)
                  for s in (before, after)]
        await asyncio.to_thread(produce, kafka_bootstrap, "chat.sessions", [(e.session_id, e) for e in starts])
        deadline = time.monotonic() + 30
        while not all(s in gw.hub.sessions and gw.hub.sessions[s].started_at for s in (before, after)):
            assert time.monotonic() < deadline, "gateway never saw the sessions start"
            await asyncio.sleep(0.05)

        book = RecordBook()  # no validation record yet
        unvalidated = _policy_alerts(before, cid, book)
        assert [a.validated for a in unvalidated] == [False]
        await asyncio.to_thread(produce, kafka_bootstrap, "alliance.alerts", [(before, a) for a in unvalidated])
        sup = await _until(supervisor, lambda ms: len(_alerts(ms, before)) == 1)
        assert _alerts(sup, before)[0]["validated"] is False  # marked unvalidated on the board

        ds = synthetic.signal_in("bond")  # a record that passes for bond only
        book.add(evaluate(MODEL, ds.predictions, ds.labels, ds.covariates))
        validated = _policy_alerts(after, cid, book)
        assert [a.validated for a in validated] == [True]
        await asyncio.to_thread(produce, kafka_bootstrap, "alliance.alerts", [(after, a) for a in validated])

        sup += await _until(supervisor, lambda ms: len(_alerts(ms, after)) == 1)
        seen = await _until(counselor, lambda ms: len(_alerts(ms, after)) == 1)
        await counselor.send(orjson.dumps({"type": "ping"}).decode())
        seen += await _until(counselor, lambda ms: any(m.get("type") == "pong" for m in ms))
        assert _alerts(seen, before) == []  # the unvalidated one never reached the counselor
        assert [a["alert_id"] for a in _alerts(seen, after)] == [validated[0].alert_id]
        for m in seen:  # nor did it ride along in a session summary
            for a in (m.get("summary") or {}).get("alerts", []):
                assert a["alert_id"] != unvalidated[0].alert_id
        await counselor.close()
        await supervisor.close()
    finally:
        await gw.stop()
