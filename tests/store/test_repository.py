"""History reads: phase timeline, alerts with acks, resume after a cursor; the gateway adapter."""

from __future__ import annotations

import pytest

from store.repository import ModelKey, StoreRepository, pick_model
from store.writes import Origin, write_events

from .factories import ack, alert, score, session_events

pytestmark = pytest.mark.integration


def fill(engine, sid="s-h"):
    a = alert(sid)
    events = [*session_events(sid), score(sid, "early", 4.5), score(sid, "middle", 3.0), score(sid, "late", 3.5),
              a, ack(a)]
    topics = ["chat.sessions", "chat.sessions", "alliance.scores", "alliance.scores", "alliance.scores",
              "alliance.alerts", "alliance.acks"]
    offsets = [0, 1, 0, 1, 2, 0, 0]
    with engine.begin() as conn:
        write_events(conn, events, origins=[Origin(t, 0, o) for t, o in zip(topics, offsets, strict=True)])
    return a


def test_phase_timeline_and_alerts_with_acks(engine):
    a = fill(engine)
    repo = StoreRepository(engine)
    tl = repo.phase_timeline("s-h")
    assert [p.phase for p in tl] == ["early", "middle", "late"]
    assert [p.dimensions["bond"] for p in tl] == [4.5, 3.0, 3.5]
    assert tl[0].model == ModelKey("test-model")
    assert tl[1].items[0]["rationale"] == "reason for Q1" and len(tl[1].items) == 12
    views = repo.alerts_with_acks("s-h")
    assert [v.alert["alert_id"] for v in views] == [a.alert_id]
    assert [x["by"] for x in views[0].acks] == ["sup-1"]
    assert repo.phase_timeline("nope") == [] and repo.alerts_with_acks("nope") == []


def test_pick_model():
    ids = [(ModelKey("a"), 10), (ModelKey("b", "r2"), 3)]
    assert pick_model(ids, None) == ModelKey("a")
    assert pick_model(ids, "b") == ModelKey("b", "r2")
    assert pick_model(ids, "b@r2:v1/expected") == ModelKey("b", "r2")
    with pytest.raises(LookupError, match="no predictions by model"):
        pick_model(ids, "zzz")
    with pytest.raises(LookupError):
        pick_model([], None)
