"""The sans-I/O core (gateway/hub.py and its parts): visibility, snapshots, resume, slow clients, acks."""

from __future__ import annotations

import orjson
import pytest

from gateway.auth import Viewer
from gateway.client_messages import (
    CLOSE_PROTOCOL,
    CLOSE_RATE_LIMITED,
    CLOSE_TOKEN_EXPIRED,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    Hello,
    parse_hello,
)
from gateway.errors import ProtocolError
from gateway.history import EventId, MemoryHistory, StoredEvent
from gateway.hub import Hub
from gateway.policy import Policy
from tests.gateway import events as ev

ALICE = Viewer("counselor", "alice", counselor_id="alice")
BOB = Viewer("counselor", "bob", counselor_id="bob")
WARD = Viewer("supervisor", "ward sup", groups=frozenset({"ward"}))
ALL = Viewer("supervisor", "chief", all_groups=True)


class Feed:
    """Numbers events like a topic partition would (topic:0:offset)."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.offsets: dict[str, int] = {}

    def __call__(self, topic: str, kind: str, contract, partition: int = 0):
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        event = StoredEvent(EventId.of(topic, partition, offset), kind, contract.session_id,
                            contract.model_dump(mode="json"))
        return event, self.hub.apply(event, now=0.0)


def frames(conn, hub: Hub | None = None) -> list[dict]:
    """What the shell would send: missed events in the backlog are encoded by ``hub.render``."""
    out = [orjson.loads(hub.render(conn, f) if hub else f) for f in list(conn.backlog) + list(conn.outbox)]
    conn.backlog.clear()
    conn.outbox.clear()
    return out


def ev_ids(msgs) -> list[str]:
    return [m["id"] for m in msgs if m["type"] == "event"]


@pytest.fixture
def hub():
    return Hub(MemoryHistory(), Policy(max_queue=50))


@pytest.fixture
def feed(hub):
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s-alice", "alice", "ward"))
    f("chat.sessions", "session", ev.started("s-bob", "bob", "ward"))
    f("chat.sessions", "session", ev.started("s-carol", "carol", "other"))
    return f


def test_snapshot_respects_visibility(hub, feed):
    seen = {}
    for viewer in (ALICE, BOB, WARD, ALL):
        conn = hub.open(Hello(viewer, None), server_time=0)
        msgs = frames(conn)
        assert [m["type"] for m in msgs] == ["welcome", "snapshot"]
        seen[viewer.name] = sorted(s["session_id"] for s in msgs[1]["sessions"])
        assert msgs[1]["cursor"] == {"chat.sessions:0": 2}
    assert seen == {"alice": ["s-alice"], "bob": ["s-bob"], "ward sup": ["s-alice", "s-bob"],
                    "chief": ["s-alice", "s-bob", "s-carol"]}


def test_live_events_go_only_to_viewers_who_may_see_them(hub, feed):
    conns = {v.name: hub.open(Hello(v, None), 0) for v in (ALICE, BOB, WARD, ALL)}
    for c in conns.values():
        frames(c)
    feed("alliance.scores", "score", ev.score("s-bob", "bob", "early", 3, 3, 3))
    feed("alliance.scores", "score", ev.score("s-carol", "carol", "early", 3, 3, 3))
    got = {name: [m["session_id"] for m in frames(c) if m["type"] == "event"] for name, c in conns.items()}
    assert got == {"alice": [], "bob": ["s-bob"], "ward sup": ["s-bob"], "chief": ["s-bob", "s-carol"]}


def test_counselor_cannot_subscribe_to_or_drill_into_another_counselors_session(hub, feed):
    conn = hub.open(Hello(ALICE, None), 0)
    frames(conn)
    hub.handle(conn, orjson.dumps({"type": "subscribe", "sessions": ["s-bob"]}))
    hub.handle(conn, orjson.dumps({"type": "timeline", "session_id": "s-bob"}))
    hub.handle(conn, orjson.dumps({"type": "subscribe", "sessions": ["no-such-session"]}))
    msgs = frames(conn)
    assert [(m["type"], m["code"]) for m in msgs] == [("error", "forbidden")] * 3
    assert conn.focus is None
    feed("alliance.scores", "score", ev.score("s-bob", "bob", "early", 3, 3, 3))
    assert frames(conn) == []


def test_subscribe_narrows_to_chosen_visible_sessions(hub, feed):
    conn = hub.open(Hello(WARD, None), 0)
    frames(conn)
    hub.handle(conn, orjson.dumps({"type": "subscribe", "sessions": ["s-alice"]}))
    assert frames(conn)[0] == {"type": "subscribed", "sessions": ["s-alice"]}
    feed("alliance.signals", "signal", ev.signal("s-bob", "bob"))
    feed("alliance.signals", "signal", ev.signal("s-alice", "alice"))
    assert [m["session_id"] for m in frames(conn)] == ["s-alice"]


def test_unvalidated_model_alerts_are_for_supervisors_only(hub, feed):
    alice, ward = hub.open(Hello(ALICE, None), 0), hub.open(Hello(WARD, None), 0)
    frames(alice), frames(ward)
    feed("alliance.alerts", "alert", ev.alert("u1", "s-alice", "alice", validated=False))
    feed("alliance.alerts", "alert", ev.alert("p1", "s-alice", "alice", validated=False, kind="process",
                                              dimension="process", severity="info"))
    feed("alliance.alerts", "alert", ev.alert("v1", "s-alice", "alice", validated=True))
    feed("alliance.alerts", "alert", ev.alert("p2", "s-alice", "alice", validated=True, kind="process",
                                              dimension="process", severity="info"))
    assert [m["data"]["alert_id"] for m in frames(ward)] == ["u1", "p1", "v1", "p2"]
    msgs = frames(alice)  # a process alert is a rule detector's notice: gated by its own record like a model's
    assert [m["data"]["alert_id"] for m in msgs] == ["v1", "p2"]
    assert [a["alert_id"] for a in msgs[-1]["summary"]["alerts"]] == ["v1", "p2"]
    # acks of a gated alert are not shown to the counselor either
    feed("alliance.acks", "ack", _ack("u1", "s-alice"))
    assert frames(alice) == [] and len(frames(ward)) == 1


def test_demo_policy_can_show_unvalidated_alerts_to_counselors(feed):
    hub = Hub(MemoryHistory(), Policy(unvalidated_to_counselors=True))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s-alice", "alice", "ward"))
    alice = hub.open(Hello(ALICE, None), 0)
    frames(alice)
    f("alliance.alerts", "alert", ev.alert("u1", "s-alice", "alice", validated=False))
    assert [m["data"]["validated"] for m in frames(alice)] == [False]


def test_slow_connection_is_cut_with_a_reason_and_others_are_untouched(feed):
    hub = Hub(MemoryHistory(), Policy(max_queue=3))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s", "alice", "ward"))
    slow, fast = hub.open(Hello(WARD, None), 0), hub.open(Hello(WARD, None), 0)
    frames(fast)
    for i in range(5):
        _, touched = f("alliance.signals", "signal", ev.signal("s", "alice", flags=(f"n{i}",)))
        assert fast in touched
        assert len(fast.outbox) == 1
        fast.outbox.clear()  # the fast client keeps up
    assert slow.close_code == CLOSE_TOO_SLOW and "resume" in slow.close_reason
    assert not slow.outbox and not slow.backlog  # nothing more is queued for it
    assert not fast.closing and hub.stats["cut_slow"] == 1


def test_resume_delivers_exactly_the_missed_visible_events(hub, feed):
    conn = hub.open(Hello(WARD, None), 0)
    cursor = frames(conn)[1]["cursor"]
    e1, _ = feed("alliance.scores", "score", ev.score("s-alice", "alice", "early", 4, 4, 4))
    cursor["alliance.scores:0"] = e1.id.offset  # the client saw e1, then dropped
    hub.close(conn)
    e2, _ = feed("alliance.scores", "score", ev.score("s-alice", "alice", "middle", 3, 3, 3))
    feed("alliance.scores", "score", ev.score("s-carol", "carol", "middle", 3, 3, 3))  # not in scope
    e4, _ = feed("alliance.alerts", "alert", ev.alert("a1", "s-bob", "bob"))
    again = hub.open(Hello(WARD, cursor), 0)
    msgs = frames(again, hub)
    assert [m["type"] for m in msgs] == ["welcome", "resumed", "event", "event", "position"]
    assert msgs[1]["missed"] == 2
    assert ev_ids(msgs) == [str(e2.id), str(e4.id)]
    assert msgs[-1]["cursor"]["alliance.scores:0"] == 2  # past the invisible one too
    # a live duplicate of what it already has (e.g. from another replica) is not re-sent
    hub.apply(e4, 0)
    assert frames(again) == []


def test_gap_is_reported_plainly_then_a_fresh_snapshot(feed):
    hub = Hub(MemoryHistory(max_events=2), Policy())
    f = Feed(hub)
    for i in range(4):
        f("chat.sessions", "session", ev.started(f"s{i}", "alice", "ward"))
    conn = hub.open(Hello(ALICE, {"chat.sessions:0": 0}), 0)
    msgs = frames(conn)
    assert [m["type"] for m in msgs] == ["welcome", "gap", "snapshot"]
    assert len(msgs[2]["sessions"]) == 4


def test_ack_needs_a_visible_alert_and_comes_back_as_an_event(hub, feed):
    feed("alliance.alerts", "alert", ev.alert("a1", "s-bob", "bob", validated=True))
    alice, ward = hub.open(Hello(ALICE, None), 0), hub.open(Hello(WARD, None), 0)
    frames(alice), frames(ward)
    assert hub.handle(alice, orjson.dumps({"type": "ack", "alert_id": "a1"})) == []
    assert frames(alice)[0]["code"] == "forbidden"
    (req,) = hub.handle(ward, orjson.dumps({"type": "ack", "alert_id": "a1", "note": "on it"}))
    assert (req.alert_id, req.session_id, req.by, req.role, req.note) == ("a1", "s-bob", "ward sup", "supervisor", "on it")
    assert frames(ward) == [{"type": "ack_sent", "alert_id": "a1"}]
    feed("alliance.acks", "ack", _ack("a1", "s-bob", by="ward sup"))
    (msg,) = frames(ward)
    assert msg["kind"] == "ack" and msg["summary"]["alerts"][0]["acks"][0]["by"] == "ward sup"
    assert msg["summary"]["unacked"] == 0
    # the same person acking again is answered but not published twice
    assert hub.handle(ward, orjson.dumps({"type": "ack", "alert_id": "a1"})) == []
    assert frames(ward) == [{"type": "ack_sent", "alert_id": "a1"}]


def test_risk_puts_unacked_severe_alerts_and_falling_bond_first(hub, feed):
    feed("alliance.scores", "score", ev.score("s-alice", "alice", "early", 4, 4, 4))
    feed("alliance.scores", "score", ev.score("s-alice", "alice", "middle", 4, 4, 2.5))
    feed("alliance.alerts", "alert", ev.alert("c1", "s-bob", "bob", severity="critical"))
    snap = frames(hub.open(Hello(ALL, None), 0))[1]["sessions"]
    assert [s["session_id"] for s in snap] == ["s-bob", "s-alice", "s-carol"]
    assert snap[1]["change"]["bond"] == -1.5 and snap[1]["phase"] == "middle"


def test_duplicate_records_are_applied_once(hub, feed):
    conn = hub.open(Hello(ALL, None), 0)
    frames(conn)
    e, _ = feed("alliance.signals", "signal", ev.signal("s-alice", "alice"))
    assert hub.apply(e, 0) == [] and hub.stats["duplicates"] == 1
    assert len(frames(conn)) == 1


def test_hello_parsing_gives_close_codes():
    from gateway.auth import issue_token

    secret = b"s" * 20
    with pytest.raises(ProtocolError) as err:
        parse_hello(b"{", secret, 0)
    assert err.value.code == CLOSE_PROTOCOL
    with pytest.raises(ProtocolError) as err:
        parse_hello(orjson.dumps({"type": "hello"}), secret, 0)
    assert (err.value.code, err.value.reason) == (CLOSE_UNAUTHORIZED, "missing token")
    tok = issue_token(secret, role="counselor", counselor_id="c", now=0, ttl_s=10)
    with pytest.raises(ProtocolError) as err:
        parse_hello(orjson.dumps({"type": "hello", "token": tok, "resume": {"x": 1}}), secret, 1)
    assert err.value.code == CLOSE_PROTOCOL and "resume cursor" in err.value.reason
    assert parse_hello(orjson.dumps({"type": "hello", "token": tok}), secret, 1).viewer.counselor_id == "c"


def test_tokens_expiring_while_connected_close_the_connection(hub, feed):
    conn = hub.open(Hello(Viewer("counselor", "a", counselor_id="alice", expires_at=100.0), None), 0)
    assert hub.expire_tokens(99.0) == []
    assert hub.expire_tokens(100.0) == [conn] and conn.close_code == CLOSE_TOKEN_EXPIRED


def test_prune_forgets_ended_sessions_after_a_while():
    hub = Hub(MemoryHistory(), Policy(ended_keep_s=60))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s", "alice", "ward"))
    f("chat.sessions", "session", ev.ended("s", "alice", "ward"))
    assert hub.prune(30) == [] and hub.prune(61) == ["s"]


def _ack(alert_id: str, session_id: str, by: str = "someone"):
    from streams.contracts import AlertAck

    return AlertAck(alert_id=alert_id, session_id=session_id, by=by, role="supervisor")


# --- validation mode (docs/validation.md) ------------------------------------------------------------


def _validated_book(*dimensions: str):
    """A RecordBook whose record for the events' model passes exactly ``dimensions``."""
    from streams.contracts import ModelIdentity
    from validation import synthetic
    from validation.records import RecordBook
    from validation.verdict import GateSettings, evaluate

    model = ModelIdentity.model_validate(ev.score("x", "alice", "early", 4, 4, 4).model.model_dump())
    book = RecordBook()
    if dimensions:
        ds = synthetic.signal_in(dimensions[0])
        book.add(evaluate(model, ds.predictions, ds.labels, ds.covariates, GateSettings(resamples=300)))
    return book


@pytest.mark.parametrize("passing,mode", [((), True), (("bond",), True)])
def test_counselor_summary_says_validation_mode_until_watched_dimensions_pass(passing, mode):
    hub = Hub(MemoryHistory(), Policy(max_queue=50, record_book=_validated_book(*passing)))
    feed = Feed(hub)
    conn = hub.open(Hello(ALICE, None), server_time=0.0)
    feed("chat.sessions", "session", ev.started("s1", "alice"))
    frames(conn)
    feed("alliance.scores", "score", ev.score("s1", "alice", "early", 4.0, 3.5, 3.0))
    summary = [m for m in frames(conn) if m["type"] == "event"][-1]["summary"]
    assert summary["validation"]["mode"] is mode
    assert summary["validation"]["passed"] == sorted(passing)


def test_validation_mode_is_off_when_goal_and_bond_pass_or_the_gate_is_off():
    from validation.records import RecordBook

    book = _validated_book("bond")
    record = next(iter(book))
    both = record.model_copy(update={"dimensions": {**record.dimensions,
                                                    "goal": record.dimensions["bond"].model_copy(
                                                        update={"dimension": "goal"})}})
    for policy in (Policy(record_book=RecordBook([both])), Policy(record_book=None, unvalidated_to_counselors=True)):
        hub = Hub(MemoryHistory(), policy)
        feed = Feed(hub)
        feed("chat.sessions", "session", ev.started("s1", "alice"))
        feed("alliance.scores", "score", ev.score("s1", "alice", "early", 4.0, 3.5, 3.0))
        assert hub.sessions["s1"].summary(policy, True)["validation"]["mode"] is False


def test_alert_events_carry_the_gate_decision_and_the_signal(hub):
    """The pages read ``gate`` (and ``signal``) from the event; they never parse alert ids."""
    from streams.alert_policy import AlertSettings, on_signal_flags

    feed = Feed(hub)
    feed("chat.sessions", "session", ev.started("s1", "alice"))
    (process,) = on_signal_flags(None, session_id="s1", counselor_id="alice", phase="early", flags=["rushing"],
                                 figures={}, settings=AlertSettings()).alerts
    feed("alliance.alerts", "alert", process)
    feed("alliance.alerts", "alert", ev.alert("s1:middle:bond:drop", "s1", "alice", validated=False))
    alerts = hub.sessions["s1"].summary(hub.policy, for_counselor=False)["alerts"]
    by_id = {a["alert_id"]: a for a in alerts}
    assert by_id[process.alert_id]["gate"] == "unvalidated" and by_id[process.alert_id]["signal"] == "rushing"
    assert by_id["s1:middle:bond:drop"]["gate"] == "unvalidated"
    assert hub.sessions["s1"].summary(hub.policy, for_counselor=True)["alerts"] == []


def _busy_history(n: int, max_resume: int = 100) -> tuple[Hub, Feed]:
    hub = Hub(MemoryHistory(max_events=100_000), Policy(max_queue=50, max_resume=max_resume))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s-alice", "alice", "ward"))
    f("chat.sessions", "session", ev.started("s-bob", "bob", "ward"))
    for i in range(n):
        f("alliance.scores", "score", ev.score("s-bob" if i % 2 else "s-alice", "x", "early", 3, 3, 3))
    return hub, f


def test_resume_from_nothing_is_bounded_a_gap_and_a_snapshot_not_the_whole_history():
    """``resume: {}`` from a supervisor used to encode the entire history into the backlog at once."""
    hub, _ = _busy_history(2_000)
    conn = hub.open(Hello(ALL, {}), 0)
    assert len(conn.backlog) <= 3  # welcome, gap, snapshot
    msgs = frames(conn, hub)
    assert [m["type"] for m in msgs] == ["welcome", "gap", "snapshot"]
    assert "no position" in msgs[1]["reason"]  # nothing seen: the snapshot is the answer, not a replay
    assert sum(len(orjson.dumps(m)) for m in msgs) < 50_000
    conn = hub.open(Hello(ALL, {"chat.sessions:0": -1, "alliance.scores:0": -1}), 0)  # forged: from the start
    msgs = frames(conn, hub)
    assert [m["type"] for m in msgs] == ["welcome", "gap", "snapshot"]
    assert "more than 100 events" in msgs[1]["reason"]


def test_a_resume_within_the_budget_is_queued_as_references_and_encoded_when_sent():
    hub, _f = _busy_history(10)
    conn = hub.open(Hello(ALL, {"chat.sessions:0": 1, "alliance.scores:0": 4}), 0)
    lazy = [item for item in conn.backlog if not isinstance(item, str)]
    assert len(lazy) == 5  # scores 5..9, not yet encoded
    msgs = frames(conn, hub)
    assert [m["type"] for m in msgs] == ["welcome", "resumed"] + ["event"] * 5 + ["position"]
    assert ev_ids(msgs) == [f"alliance.scores:0:{i}" for i in range(5, 10)]


def test_a_counselor_with_a_forged_cursor_sees_nothing_of_other_counselors():
    hub, _ = _busy_history(300)  # half of them Bob's: more than the budget, but none visible to Alice
    conn = hub.open(Hello(ALICE, {"chat.sessions:0": -1, "alliance.scores:0": -1}), 0)
    msgs = frames(conn, hub)
    assert msgs[1]["type"] == "gap"  # Alice's own 150 missed scores exceed the budget of 100
    assert {s["session_id"] for s in msgs[2]["sessions"]} == {"s-alice"}
    hub2, _ = _busy_history(60)
    conn = hub2.open(Hello(ALICE, {"chat.sessions:0": -1, "alliance.scores:0": -1}), 0)
    msgs = frames(conn, hub2)
    assert msgs[1] == {"type": "resumed", "missed": 31}
    events = [m for m in msgs if m["type"] == "event"]
    assert {m["session_id"] for m in events} == {"s-alice"}
    assert all(m["summary"]["session_id"] == "s-alice" for m in events)


def test_a_restarted_gateway_dates_sessions_by_their_events_not_by_when_it_read_them():
    """On restart the gateway re-reads weeks of records in seconds; sessions whose last event is old
    must not show as live for another 12 h because they were *consumed* just now."""
    from datetime import datetime, timedelta, timezone

    hub = Hub(MemoryHistory(), Policy(stale_after_s=12 * 3600, ended_keep_s=600))
    f = Feed(hub)
    wall = datetime.now(timezone.utc)
    now = 1000.0  # the shell's monotonic clock

    def apply(topic, kind, contract):
        f.offsets[topic] = f.offsets.get(topic, -1) + 1
        event = StoredEvent(EventId.of(topic, 0, f.offsets[topic]), kind, contract.session_id,
                            contract.model_dump(mode="json"))
        hub.apply(event, now=now, wall=wall.timestamp())

    old = ev.started("s-dead", "alice", "ward").model_copy(update={"at": wall - timedelta(days=2)})
    ended = ev.ended("s-over", "alice", "ward").model_copy(update={"at": wall - timedelta(hours=1)})
    live = ev.started("s-live", "alice", "ward").model_copy(update={"at": wall - timedelta(minutes=5)})
    for e in (old, ev.started("s-over", "alice", "ward"), ended, live):
        apply("chat.sessions", "session", e)
    assert set(hub.sessions) == {"s-dead", "s-over", "s-live"}
    assert sorted(hub.prune(now)) == ["s-dead", "s-over"]  # at once, not 12 h / 10 min from now
    assert set(hub.sessions) == {"s-live"}


def test_a_flooding_client_is_rate_limited_then_closed_and_others_are_unaffected(hub, feed):
    flood, calm = hub.open(Hello(WARD, None), 0), hub.open(Hello(WARD, None), 0)
    frames(flood), frames(calm)
    burst = hub.policy.msg_burst
    for _ in range(burst):  # a burst is fine
        hub.handle(flood, orjson.dumps({"type": "timeline", "session_id": "s-alice"}), now=100.0)
    assert not flood.closing and all(m["type"] == "timeline" for m in frames(flood))
    hub.handle(flood, orjson.dumps({"type": "ping"}), now=100.0)
    (msg,) = frames(flood)
    assert msg["type"] == "error" and msg["code"] == "rate_limited"
    for _ in range(burst):  # keeps going: cut off
        hub.handle(flood, orjson.dumps({"type": "ping"}), now=100.0)
    assert flood.close_code == CLOSE_RATE_LIMITED
    hub.handle(calm, orjson.dumps({"type": "ping", "ref": 1}), now=100.0)
    assert frames(calm) == [{"type": "pong", "ref": 1}]
    # tokens refill with time
    again = hub.open(Hello(WARD, None), 0)
    frames(again)
    for t in range(3 * burst):
        hub.handle(again, orjson.dumps({"type": "ping"}), now=200.0 + t / hub.policy.msg_rate)
        assert [m["type"] for m in frames(again)] == ["pong"]
    assert not again.closing


def test_connections_per_token_are_capped():
    from dataclasses import replace

    hub = Hub(MemoryHistory(), Policy(max_connections_per_token=2))
    viewer = replace(WARD, token_id="t-1")
    a, b, c = (hub.open(Hello(viewer, None), 0) for _ in range(3))
    assert not a.closing and not b.closing
    assert c.close_code == CLOSE_RATE_LIMITED and "connections" in c.close_reason
    hub.close(a)
    assert not hub.open(Hello(viewer, None), 0).closing  # a slot is free again


# -- resume proportional to the viewer's scope; reconnect rate per token (issue 21) -----------------------------

def _crowded(n_other: int) -> tuple[Hub, Feed]:
    """Alice's one session with 20 scores among n_other events of 50 other counselors' sessions."""
    hub = Hub(MemoryHistory(max_events=100_000), Policy(max_resume=5000))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s-alice", "alice", "ward"))
    for s in range(50):
        f("chat.sessions", "session", ev.started(f"s{s}", f"c{s}", f"g{s % 5}"))
    for i in range(n_other):
        f("alliance.scores", "score", ev.score(f"s{i % 50}", f"c{i % 50}", "early", 3, 3, 3))
        if i % (n_other // 20) == 0:
            f("alliance.scores", "score", ev.score("s-alice", "alice", "early", 3, 3, 3))
    return hub, f


def test_a_counselors_resume_looks_only_at_her_own_sessions_events():
    """Issue 21: an empty or early cursor made the hub build and check the whole history for one counselor."""
    hub, _ = _crowded(5000)
    before = hub.stats["resume_scanned"]
    conn = hub.open(Hello(ALICE, {"chat.sessions:0": -1, "alliance.scores:0": -1}), 0)  # forged: from the start
    msgs = frames(conn, hub)
    assert msgs[1] == {"type": "resumed", "missed": 21}  # her start and her 20 scores
    assert hub.stats["resume_scanned"] - before == 21  # not 5,000 of other people's events
    conn = hub.open(Hello(ALICE, dict(hub.position)), 1)  # current: nothing to look at
    assert frames(conn, hub)[1] == {"type": "resumed", "missed": 0}
    assert hub.stats["resume_scanned"] - before == 21


def test_a_supervisors_resume_past_the_budget_is_a_gap_without_looking_at_every_event():
    hub, _ = _crowded(5000)
    hub.policy = Policy(max_resume=100)
    conn = hub.open(Hello(ALL, {"chat.sessions:0": -1, "alliance.scores:0": -1}), 0)
    msgs = frames(conn, hub)
    assert [m["type"] for m in msgs] == ["welcome", "gap", "snapshot"] and "more than 100" in msgs[1]["reason"]
    assert hub.stats["resume_scanned"] == 0


def test_one_token_reconnecting_in_a_loop_is_refused_others_are_not():
    hub = Hub(MemoryHistory(), Policy(reconnect_rate=1.0, reconnect_burst=5))
    looping = Viewer("counselor", "alice", counselor_id="alice", token_id="t-loop")
    for i in range(5):
        conn = hub.open(Hello(looping, None), 100.0 + i * 0.01)
        assert not conn.closing
        hub.close(conn)
    refused = hub.open(Hello(looping, None), 100.1)
    assert refused.close_code == CLOSE_RATE_LIMITED and "reconnecting too often" in refused.close_reason
    assert refused.id not in hub.connections and hub.stats["reconnects_refused"] == 1
    other = hub.open(Hello(Viewer("counselor", "bob", counselor_id="bob", token_id="t-other"), None), 100.1)
    assert not other.closing
    assert not hub.open(Hello(looping, None), 102.0).closing  # refilled at one a second


def test_a_snapshot_follows_hand_overs_and_pruning_through_the_owner_index():
    hub = Hub(MemoryHistory(), Policy(ended_keep_s=1))
    f = Feed(hub)
    f("chat.sessions", "session", ev.started("s-1", "alice", "ward"))
    f("chat.sessions", "session", ev.started("s-2", "bob", "other"))
    carol = Viewer("counselor", "carol", counselor_id="carol")
    other = Viewer("supervisor", "other sup", groups=frozenset({"other"}))

    def shown(viewer) -> set[str]:
        conn = hub.open(Hello(viewer, None), 0)
        hub.close(conn)
        return {s["session_id"] for s in frames(conn)[1]["sessions"]}

    assert (shown(ALICE), shown(carol), shown(WARD), shown(other)) == ({"s-1"}, set(), {"s-1"}, {"s-2"})
    f("chat.sessions", "session", ev.started("s-1", "carol", "other"))  # a hand-over to carol, group other
    assert (shown(ALICE), shown(carol), shown(WARD), shown(other)) == (set(), {"s-1"}, set(), {"s-1", "s-2"})
    assert shown(ALL) == {"s-1", "s-2"}
    hub.sessions["s-2"].ended_seen = -10.0
    hub.prune(0.0)
    assert shown(other) == {"s-1"} and "s-2" not in hub._live_by_group.get("other", {})
