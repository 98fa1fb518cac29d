"""The gate on scores through the running gateway with real websocket clients.

The model has a record that passes for bond only: the counselor's websocket
never carries a goal or approach number, item or rationale — live, in the
snapshot, or when resuming — while the supervisor's carries everything,
marked unvalidated.
"""

from __future__ import annotations

import orjson
import pytest

from tests.gateway import events as ev
from tests.gateway.conftest import (
    collect_until,
    counselor_token,
    events_of,
    open_client,
    publish,
    recv_json,
    supervisor_token,
    until_known,
)
from tests.gateway.test_protocol_gate import _bond_record, _leaks, _score_with_rationales
from validation.records import RecordBook

pytestmark = pytest.mark.integration
WITHHELD = {"goal", "approach"}


async def test_counselor_gets_only_validated_dimensions_by_every_path(make_gateway, kafka_bootstrap, unique):
    from gateway.policy import Policy

    gw = await make_gateway(Policy(record_book=RecordBook([_bond_record()])))
    s, cid, grp = f"s-{unique}", f"c-{unique}", f"g-{unique}"
    counselor = await open_client(gw, counselor_token(cid))
    supervisor = await open_client(gw, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gw, s)
    early = _score_with_rationales(s, "early", 4.0, 3.5, 2.5).model_copy(update={"counselor_id": cid})
    await publish(kafka_bootstrap, "alliance.scores", early)

    live = await collect_until(counselor, lambda ms: bool(events_of(ms, s, "score")))
    score = events_of(live, s, "score")[0]
    assert set(score["data"]["dimensions"]) == {"bond"}
    assert {i["dimension"] for i in score["data"]["items"]} == {"bond"}
    assert score["summary"]["current"] == {"bond": 2.5}
    assert score["summary"]["validation"]["withheld"] == ["approach", "goal"]
    assert not _leaks(live, WITHHELD)

    sup = await collect_until(supervisor, lambda ms: bool(events_of(ms, s, "score")))
    theirs = events_of(sup, s, "score")[0]
    assert theirs["summary"]["current"] == {"goal": 4.0, "approach": 3.5, "bond": 2.5}
    assert theirs["summary"]["validation"]["unvalidated"] == ["approach", "goal"]
    assert len(theirs["data"]["items"]) == 12 and theirs["data"]["items"][0]["rationale"] == "reason for Q1"

    # the counselor drops off, a phase is scored meanwhile, she resumes from her cursor
    cursor = {}
    for m in live:
        if m.get("type") in ("snapshot", "position") and m.get("cursor") is not None:
            cursor = dict(m["cursor"])
        elif m.get("type") == "event":
            topic, part, offset = m["id"].rsplit(":", 2)
            cursor[f"{topic}:{part}"] = int(offset)
    await counselor.close()
    middle = _score_with_rationales(s, "middle", 3.0, 3.0, 2.0).model_copy(update={"counselor_id": cid})
    await publish(kafka_bootstrap, "alliance.scores", middle)
    await collect_until(supervisor, lambda ms: bool(events_of(ms, s, "score")))
    back = await open_client(gw, counselor_token(cid), resume=cursor)
    await back.send(orjson.dumps({"type": "timeline", "session_id": s}).decode())
    resumed = await collect_until(back, lambda ms: any(m.get("type") == "timeline" for m in ms))
    assert any(m.get("type") == "resumed" and m["missed"] >= 1 for m in resumed)
    assert [set(m["data"]["dimensions"]) for m in events_of(resumed, s, "score")] == [{"bond"}]
    assert not _leaks(resumed, WITHHELD)

    # a fresh connection's snapshot
    fresh = await open_client(gw, counselor_token(cid))
    assert (await recv_json(fresh))["type"] == "welcome"
    snap = await recv_json(fresh)
    assert [x["current"] for x in snap["sessions"] if x["session_id"] == s] == [{"bond": 2.0}]
    assert not _leaks([snap], WITHHELD)
    for ws in (back, fresh, supervisor):
        await ws.close()
