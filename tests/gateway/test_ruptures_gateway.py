"""Rupture episodes through the gateway: routing for counselors vs supervisors over real websockets."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from gateway.policy import Policy
from gateway.visibility import episode_for_counselor, episode_is_gated
from streams.contracts import ModelDrop, RuptureEpisode, RuptureMarker
from tests.gateway import events as ev
from tests.gateway.conftest import (
    collect_until,
    counselor_token,
    events_of,
    open_client,
    publish,
    supervisor_token,
    until_known,
)

TOPIC = "alliance.ruptures"


def episode(sid: str, cid: str, n: int, *, sources=("markers",), validated: bool = False, version: int = 1,
            status: str = "open", kind: str = "withdrawal", markers_passed: bool = False) -> RuptureEpisode:
    """``validated``: the model drop's flag; ``markers_passed``: the rupture-marker rules passed on this site."""
    drop = None
    if "model" in sources:
        drop = ModelDrop(alert_id=f"{sid}:middle:bond:drop", dimension="bond", phase="middle", previous=4.0,
                         current=3.1, model="smollm2-135m-demo", validated=validated)
    closed = status in ("repaired", "unrepaired")
    return RuptureEpisode(
        episode_id=f"{sid}:rupture:{n}", session_id=sid, counselor_id=cid, version=version, kind=kind,  # type: ignore[arg-type]  # kind: a str parameter
        status=status, closed=closed, sources=list(sources), phase="middle", opened_at=ev.T0,  # type: ignore[arg-type]  # status, sources: strs
        opened_turn_id=24, markers=[RuptureMarker(turn_id=24, speaker="client", family="withdrawal", cue="minimal")]
        if "markers" in sources else [], model_drop=drop, validated=validated or markers_passed,
        closed_at=ev.T0 + timedelta(minutes=5) if closed else None,
        suggestion="" if closed else "Name the shift and invite them back in.", at=ev.T0 + timedelta(seconds=version),
    )


def test_routing_every_episode_follows_the_gate_markers_by_their_detectors_record():
    policy = Policy()
    markers = episode("s", "c", 1).model_dump(mode="json")  # rupture-marker rules not validated: supervisors only
    markers_ok = {**markers, "validated": True}  # as validation.detectors.gate_episode marks a passing detector
    model_only = episode("s", "c", 2, sources=("model",)).model_dump(mode="json")
    model_ok = episode("s", "c", 3, sources=("model",), validated=True).model_dump(mode="json")
    both = {**episode("s", "c", 4, sources=("markers", "model")).model_dump(mode="json"), "validated": True}
    assert [episode_is_gated(e, policy) for e in (markers, markers_ok, model_only, model_ok, both)] == [
        True, False, True, False, False]
    assert not episode_is_gated(model_only, Policy(unvalidated_to_counselors=True))
    assert not episode_is_gated(markers, Policy(opened_detectors=frozenset({"rupture-markers"})))
    view = episode_for_counselor(both, policy)
    assert view["model_drop"] is None and view["sources"] == ["markers"] and both["model_drop"] is not None
    assert episode_for_counselor(markers_ok, policy) is markers_ok


@pytest.mark.integration
async def test_counselor_gets_marker_episodes_supervisor_gets_every_episode(gateway, kafka_bootstrap, unique):
    s, cid, grp = f"rs-{unique}", f"rc-{unique}", f"rg-{unique}"
    counselor = await open_client(gateway, counselor_token(cid))
    other = await open_client(gateway, counselor_token(f"other-{unique}"))
    sup = await open_client(gateway, supervisor_token(grp))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid, grp))
    await until_known(gateway, s)
    await publish(kafka_bootstrap, TOPIC,
                  episode(s, cid, 1, sources=("model",)),  # unvalidated model-only: supervisors only
                  # validated markers + an unvalidated drop
                  episode(s, cid, 2, sources=("markers", "model"), markers_passed=True),
                  episode(s, cid, 2, sources=("markers", "model"), version=2, status="repair_attempted",
                          markers_passed=True),
                  episode(s, cid, 2, sources=("markers", "model"), version=1, markers_passed=True))  # a stale v1

    sup_msgs = await collect_until(sup, lambda ms: len(events_of(ms, s, "rupture")) == 4)
    summary = events_of(sup_msgs, s, "rupture")[-1]["summary"]
    assert [(e["episode_id"][-1], e["version"], e["status"]) for e in summary["ruptures"]] == [
        ("1", 1, "open"), ("2", 2, "repair_attempted")]
    assert summary["ruptures"][1]["model_drop"]["dimension"] == "bond"

    c_msgs = await collect_until(counselor, lambda ms: len(events_of(ms, s, "rupture")) == 3)
    await counselor.send(orjson.dumps({"type": "ping"}).decode())
    c_msgs += await collect_until(counselor, lambda ms: any(m.get("type") == "pong" for m in ms))
    seen = events_of(c_msgs, s, "rupture")
    assert {m["data"]["episode_id"] for m in seen} == {f"{s}:rupture:2"}
    assert all(m["data"]["model_drop"] is None and m["data"]["sources"] == ["markers"] for m in seen)
    c_summary = seen[-1]["summary"]
    assert [(e["episode_id"], e["status"], e["model_drop"]) for e in c_summary["ruptures"]] == [
        (f"{s}:rupture:2", "repair_attempted", None)]

    # the timeline follows the same rules
    await counselor.send(orjson.dumps({"type": "timeline", "session_id": s}).decode())
    tl = (await collect_until(counselor, lambda ms: any(m.get("type") == "timeline" for m in ms)))[-1]
    ruptures = [e["data"] for e in tl["events"] if e["kind"] == "rupture"]
    assert ruptures and all(d["episode_id"].endswith(":2") and d["model_drop"] is None for d in ruptures)

    # someone else's counselor sees nothing of it
    await other.send(orjson.dumps({"type": "ping"}).decode())
    other_msgs = await collect_until(other, lambda ms: any(m.get("type") == "pong" for m in ms))
    assert events_of(other_msgs, s) == []
    for ws in (counselor, other, sup):
        await ws.close()


@pytest.mark.integration
async def test_a_validated_model_episode_reaches_the_counselor(gateway, kafka_bootstrap, unique):
    s, cid = f"rv-{unique}", f"rvc-{unique}"
    counselor = await open_client(gateway, counselor_token(cid))
    await publish(kafka_bootstrap, "chat.sessions", ev.started(s, cid))
    await until_known(gateway, s)
    await publish(kafka_bootstrap, TOPIC, episode(s, cid, 1, sources=("model",), validated=True, kind="untyped"))
    msgs = await collect_until(counselor, lambda ms: len(events_of(ms, s, "rupture")) == 1)
    data = events_of(msgs, s, "rupture")[0]["data"]
    assert data["validated"] is True and data["model_drop"]["validated"] is True
    await counselor.close()
