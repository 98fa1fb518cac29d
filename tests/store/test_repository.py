"""History reads: phase timeline, alerts with acks, resume after a cursor; the gateway adapter."""

from __future__ import annotations

import pytest

from store.history import StoreHistory
from store.repository import CursorGap, ModelKey, StoreRepository, pick_model
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
        write_events(conn, events, origins=[Origin(t, 0, o) for t, o in zip(topics, offsets)])
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


def test_since_cursor_resumes_and_detects_gaps(engine):
    fill(engine)
    repo = StoreRepository(engine)
    everything = repo.since({})
    assert [e.id for e in everything][:3] == ["chat.sessions:0:0", "chat.sessions:0:1", "alliance.scores:0:0"]
    assert len(everything) == 7
    after = repo.since({"chat.sessions:0": 1, "alliance.scores:0": 1, "alliance.alerts:0": 0,
                        "alliance.signals:0": 99})  # signals are not stored: ignored
    assert [e.id for e in after] == ["alliance.scores:0:2", "alliance.acks:0:0"]
    assert isinstance(repo.since({"alliance.scores:0": 7}), CursorGap)  # ahead of the store
    assert isinstance(repo.since({}, limit=3), CursorGap)  # too much to replay
    assert [e.kind for e in repo.events_after(repo.last_seq() - 2)] == ["alert", "ack"]


def test_store_history_implements_the_gateway_protocol(engine):
    history_mod = pytest.importorskip("gateway.history")
    a = fill(engine)
    h = StoreHistory(engine)
    assert isinstance(h, history_mod.History)
    tl = h.session_timeline("s-h")
    assert [e.kind for e in tl] == ["session", "session", "score", "score", "score", "alert", "ack"]
    assert str(tl[0].id) == "chat.sessions:0:0" and tl[5].data["alert_id"] == a.alert_id
    assert [e.data["alert_id"] for e in h.alerts("s-h")] == [a.alert_id]
    assert isinstance(h.since({"alliance.scores:0": 50}), history_mod.Gap)
    # append writes through the same idempotent path
    a2 = alert("s-h", n=2)
    ev = history_mod.StoredEvent(history_mod.EventId.of("alliance.alerts", 0, 1), "alert", "s-h",
                                 a2.model_dump(mode="json"))
    h.append(ev)
    h.append(ev)
    assert [str(e.id) for e in h.alerts("s-h")] == ["alliance.alerts:0:0", "alliance.alerts:0:1"]


def test_pick_model():
    ids = [(ModelKey("a"), 10), (ModelKey("b", "r2"), 3)]
    assert pick_model(ids, None) == ModelKey("a")
    assert pick_model(ids, "b") == ModelKey("b", "r2")
    assert pick_model(ids, "b@r2:v1/expected") == ModelKey("b", "r2")
    with pytest.raises(LookupError, match="no predictions by model"):
        pick_model(ids, "zzz")
    with pytest.raises(LookupError):
        pick_model([], None)
