"""The audit trail's core: which views the hub records, and the records it hands the shell (pure)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from gateway.access import AccessLog, access_event
from gateway.auth import Viewer
from gateway.client_messages import Hello
from gateway.history import MemoryHistory
from gateway.hub import Hub
from gateway.policy import Policy
from streams.codec import decode, encode
from streams.contracts import MAX_ACCESS_SESSIONS, AccessEvent
from tests.gateway import events as ev
from tests.gateway.test_protocol import ALICE, WARD, Feed, frames

AT = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def hub():
    h = Hub(MemoryHistory(), Policy(max_queue=50), replica="gw-test")
    f = Feed(h)
    f("chat.sessions", "session", ev.started("s-alice", "alice", "ward"))
    f("chat.sessions", "session", ev.started("s-bob", "bob", "ward"))
    f("chat.sessions", "session", ev.started("s-carol", "carol", "other"))
    return h


def msg(**m) -> bytes:
    return orjson.dumps(m)


def test_a_timeline_is_recorded_with_who_which_session_and_the_token(hub):
    sup = Viewer("supervisor", "Dr Ward", groups=frozenset({"ward"}), token_id="jti-1", key_id="k-2026")
    conn = hub.open(Hello(sup, None), 0)
    assert [(r.action, r.sessions_shown) for r in hub.access.take()] == [("board", 2)]  # the snapshot
    hub.handle(conn, msg(type="timeline", session_id="s-bob"))
    (rec,) = hub.access.take()
    event = access_event(rec, AT, "gw-test")
    assert (event.action, event.session_ids, event.viewer, event.role) == ("timeline", ["s-bob"], "Dr Ward", "supervisor")
    assert (event.key_id, event.token_id, event.scope, event.replica) == ("k-2026", "jti-1", "ward", "gw-test")
    assert event.event_id.startswith(f"gw-test:{conn.id}:") and event.at == AT
    assert decode(AccessEvent, encode(event)) == event  # travels on the topic as is
    assert hub.access.take() == []  # drained


def test_a_refused_timeline_records_nothing_and_shows_nothing(hub):
    conn = hub.open(Hello(ALICE, None), 0)
    hub.access.take()
    hub.handle(conn, msg(type="timeline", session_id="s-bob"))  # bob's session: not alice's
    assert frames(conn)[-1]["code"] == "forbidden"
    assert hub.access.take() == []


def test_subscribe_records_only_newly_focused_sessions_and_back_to_the_board(hub):
    conn = hub.open(Hello(WARD, None), 0)
    hub.access.take()
    hub.handle(conn, msg(type="subscribe", sessions=["s-bob", "s-alice"]))
    hub.handle(conn, msg(type="subscribe", sessions=["s-bob", "s-alice"]))  # nothing new
    hub.handle(conn, msg(type="subscribe", sessions=["s-alice"]))  # narrower: nothing new
    hub.handle(conn, msg(type="subscribe", sessions=["s-alice", "s-bob"]))  # s-bob again after leaving
    hub.handle(conn, msg(type="subscribe", sessions=None))  # the whole board again
    recs = hub.access.take()
    assert [(r.action, r.session_ids, r.sessions_shown) for r in recs] == [
        ("subscribe", ("s-alice", "s-bob"), 2), ("subscribe", ("s-bob",), 1), ("board", ("s-alice", "s-bob"), 2)]
    assert len({r.event_id for r in recs}) == 3


def test_resume_records_which_sessions_the_missed_events_showed(hub):
    feed = Feed(hub)
    feed.offsets["chat.sessions"] = 2
    feed("alliance.scores", "score", ev.score("s-alice", "alice", "early", 4, 4, 4))
    feed("alliance.scores", "score", ev.score("s-bob", "bob", "early", 3, 3, 3))
    feed("alliance.scores", "score", ev.score("s-carol", "carol", "early", 3, 3, 3))
    hub.open(Hello(WARD, {"chat.sessions:0": 2, "alliance.scores:0": -1}), 0)
    (rec,) = hub.access.take()
    assert (rec.action, rec.sessions_shown, rec.session_ids) == ("resume", 2, ("s-alice", "s-bob"))  # not carol's


def test_ids_never_repeat_across_connections_and_replicas():
    a, b = AccessLog("gw-a"), AccessLog("gw-b")
    ids = [r.event_id for log in (a, b) for c in (1, 2) for r in log.record(c, "timeline", ALICE, ("s",))]
    assert len(set(ids)) == 4


def test_a_huge_subscribe_is_split_to_fit_the_contract():
    log = AccessLog("gw")
    sessions = tuple(f"s-{i}" for i in range(MAX_ACCESS_SESSIONS + 5))
    recs = log.record(1, "subscribe", ALICE, sessions)
    assert [len(r.session_ids) for r in recs] == [MAX_ACCESS_SESSIONS, 5]
    for r in recs:
        access_event(r, AT)  # each validates


def test_an_undrained_log_stays_bounded_and_counts_what_it_dropped():
    log = AccessLog("gw", max_pending=3)
    for i in range(5):
        log.record(1, "timeline", ALICE, (f"s-{i}",))
    assert [r.session_ids for r in log.take()] == [("s-2",), ("s-3",), ("s-4",)] and log.dropped == 2


@pytest.mark.parametrize("name,expected", [("  Dr\tWard \n", "Dr Ward"), ("x" * 300, "x" * 128), ("   ", "counselor")])
def test_any_token_subject_becomes_a_valid_viewer_name(name, expected):
    rec = AccessLog("gw").record(1, "timeline", Viewer("counselor", name, counselor_id="c"), ("s",))[0]
    event = access_event(rec, AT)
    assert event.viewer == expected and event.counselor_id == "c" and event.scope == ""


def test_the_contract_holds_the_action_and_its_sessions_together():
    base = dict(event_id="e", viewer="v", role="supervisor", at=AT)
    with pytest.raises(ValueError, match="exactly one session"):
        AccessEvent(action="timeline", session_ids=[], **base)
    with pytest.raises(ValueError, match="at least one session"):
        AccessEvent(action="subscribe", **base)
    assert "text" not in AccessEvent.model_fields and "note" not in AccessEvent.model_fields


# -- every view that shows session content names the sessions (issue 21) -------------------------------------

def test_a_board_snapshot_names_the_sessions_it_shows(hub):
    """Issue 21: the board and resume records named no session, so ``audit --session`` could not find them."""
    hub.open(Hello(WARD, None), 0)
    (rec,) = hub.access.take()
    assert (rec.action, rec.session_ids, rec.sessions_shown) == ("board", ("s-alice", "s-bob"), 2)
    assert access_event(rec, AT).session_ids == ["s-alice", "s-bob"]


def test_live_content_is_audited_once_per_connection_and_session(hub):
    """Issue 21: live frames carrying quotes recorded nothing."""
    feed = Feed(hub)
    feed.offsets["chat.sessions"] = 2
    conn = hub.open(Hello(WARD, None), 0)
    other = hub.open(Hello(ALICE, None), 0)
    hub.access.take()
    feed("chat.sessions", "session", ev.started("s-dan", "dan", "ward"))  # no content yet: nothing recorded
    feed("alliance.signals", "signal", ev.signal("s-dan", "dan"))  # flags, no quotes: nothing recorded
    assert hub.access.take() == []
    feed("alliance.scores", "score", ev.score("s-dan", "dan", "early", 3, 3, 2))  # item reasons and quotes
    feed("alliance.scores", "score", ev.score("s-dan", "dan", "middle", 3, 3, 2))  # the same session again
    feed("alliance.scores", "score", ev.score("s-alice", "alice", "early", 3, 3, 2))  # named by the snapshots
    recs = hub.access.take()
    assert [(r.action, r.event_id.split(":")[1], r.session_ids) for r in recs] == [("live", str(conn.id), ("s-dan",))]
    assert any(m.get("session_id") == "s-alice" for m in frames(other))  # alice saw it; her board named it
    for rec in recs:
        access_event(rec, AT)  # valid on the topic


def test_the_live_action_names_its_sessions():
    base = dict(event_id="e", viewer="v", role="supervisor", at=AT)
    with pytest.raises(ValueError, match="at least one session"):
        AccessEvent(action="live", **base)
