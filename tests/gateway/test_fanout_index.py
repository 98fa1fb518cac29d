"""The subscription index of the fan-out: the same deliveries as visiting every connection, fewer visits.

The reference is the rule the hub used before the index: :meth:`Hub.apply` looked at
every open connection and let ``_visible`` decide. ``BruteHub`` keeps that rule (its
audience is every connection), and the tests feed the same connections and events to
both hubs and compare everything a client could observe.
"""

from __future__ import annotations

import random

import orjson
import pytest

from gateway.auth import Viewer
from gateway.client_messages import CLOSE_TOO_SLOW, Hello
from gateway.history import EventId, MemoryHistory, StoredEvent
from gateway.hub import Hub
from gateway.policy import Policy
from tests.gateway import events as ev


class BruteHub(Hub):
    """The pre-index rule: every event visits every connection."""

    def audience(self, session_id, data=None):
        return list(self.connections.values())


COUNSELORS = ["c0", "c1", "c2", "c3"]
GROUPS = ["g0", "g1", "g2"]


def random_viewer(rng: random.Random, i: int) -> Viewer:
    kind = rng.random()
    if kind < 0.4:
        return Viewer("counselor", f"v{i}", counselor_id=rng.choice(COUNSELORS + ["c-nobody"]))
    if kind < 0.5:
        return Viewer("supervisor", f"v{i}", all_groups=True)
    if kind < 0.55:
        return Viewer("supervisor", f"v{i}")  # no group: sees nothing
    return Viewer("supervisor", f"v{i}", groups=frozenset(rng.sample(GROUPS + ["g-empty"], rng.randint(1, 3))))


class Script:
    """Random but reproducible events: sessions with owners, scores before ``started``,
    sessions that never start, a group moving, gated and validated alerts, acks, duplicates."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.offsets: dict[str, int] = {}
        self.owner = {f"s{i}": (rng.choice(COUNSELORS), rng.choice(GROUPS + [None])) for i in range(10)}
        self.alerts: list[tuple[str, str]] = []
        self.last: StoredEvent | None = None

    def _event(self, topic: str, kind: str, session_id: str, data: dict) -> StoredEvent:
        offset = self.offsets.get(topic, -1) + 1
        self.offsets[topic] = offset
        return StoredEvent(EventId.of(topic, 0, offset), kind, session_id, data)

    def next(self) -> StoredEvent:
        rng = self.rng
        if self.last is not None and rng.random() < 0.05:
            return self.last  # re-delivered (at-least-once)
        sid = rng.choice(list(self.owner))
        cid, group = self.owner[sid]
        roll = rng.random()
        if roll < 0.15:
            if rng.random() < 0.2:  # the session moves to another group
                group = rng.choice(GROUPS)
                self.owner[sid] = (cid, group)
            event = self._event("chat.sessions", "session", sid,
                                ev.started(sid, cid, group).model_dump(mode="json"))
        elif roll < 0.35:
            score = ev.score(sid, cid, rng.choice(["early", "middle", "late"]), 4.0, 3.5, 3.0)
            event = self._event("alliance.scores", "score", sid, score.model_dump(mode="json"))
        elif roll < 0.55:
            signal = ev.signal(sid, cid, flags=("f",) if rng.random() < 0.5 else ())
            event = self._event("alliance.signals", "signal", sid, signal.model_dump(mode="json"))
        elif roll < 0.75:
            alert_id = f"a{len(self.alerts)}"
            self.alerts.append((alert_id, sid))
            alert = ev.alert(alert_id, sid, cid, validated=rng.random() < 0.5)
            event = self._event("alliance.alerts", "alert", sid, alert.model_dump(mode="json"))
        elif roll < 0.85 and self.alerts:
            alert_id, asid = rng.choice(self.alerts)
            event = self._event("alliance.acks", "ack", asid, {
                "alert_id": alert_id, "session_id": asid, "by": "someone", "role": "supervisor",
                "at": ev.T0.isoformat(), "note": None})
        else:  # an event that names no owner at all (a session nobody has announced)
            orphan = f"orphan{rng.randint(0, 2)}"
            event = self._event("alliance.signals", "signal", orphan, {"session_id": orphan, "phase": "early",
                                                                       "flags": []})
        self.last = event
        return event


def observed(conn) -> dict:
    return {"frames": [orjson.loads(f) for f in list(conn.backlog) + list(conn.outbox)],
            "cursor": dict(conn.cursor), "close": conn.close_code, "focus": conn.focus}


@pytest.mark.parametrize("seed", range(6))
def test_index_delivers_exactly_what_visiting_every_connection_delivers(seed):
    rng = random.Random(seed)
    policy = Policy(max_queue=12)
    hubs = [Hub(MemoryHistory(), policy), BruteHub(MemoryHistory(), policy)]
    script = Script(rng)
    conns: list[list] = [[], []]  # per hub, in the same order (the hubs number them alike)
    viewers = 0
    for step in range(400):
        action = rng.random()
        if action < 0.08 or not conns[0]:  # a viewer connects (snapshot of what exists by now)
            viewer = random_viewer(rng, viewers)
            viewers += 1
            for hub, mine in zip(hubs, conns, strict=True):
                mine.append(hub.open(Hello(viewer, None), server_time=0))
        elif action < 0.11:  # a viewer leaves
            k = rng.randrange(len(conns[0]))
            for hub, mine in zip(hubs, conns, strict=True):
                hub.close(mine.pop(k))
        elif action < 0.15:  # focus on some sessions in scope, or back to the whole board
            k = rng.randrange(len(conns[0]))
            visible = [s for s in hubs[0].sessions if hubs[0].can_see_session(conns[0][k].viewer, s)]
            pick = None if rng.random() < 0.3 else rng.sample(visible, min(len(visible), rng.randint(1, 2)))
            for hub, mine in zip(hubs, conns, strict=True):
                hub.handle(mine[k], orjson.dumps({"type": "subscribe", "sessions": pick}))
        elif action < 0.25:  # some clients keep up (the others fill up and get cut as too slow)
            for k in range(len(conns[0])):
                if k % 3 == 0:
                    for mine in conns:
                        mine[k].outbox.clear()
                        mine[k].backlog.clear()
        else:
            event = script.next()
            touched = [hub.apply(event, now=float(step)) for hub in hubs]
            assert sorted(c.id for c in touched[0]) == sorted(c.id for c in touched[1]), event
        for a, b in zip(*conns, strict=True):
            assert observed(a) == observed(b), (seed, step)
    indexed, brute = ({k: v for k, v in hub.stats.items() if k != "visits"} for hub in hubs)
    assert indexed == brute
    assert brute["frames"] > 100  # the script really delivered something
    assert hubs[0].stats["visits"] < hubs[1].stats["visits"]


def test_score_before_started_reaches_its_counselor_and_all_groups_then_the_group_once_known():
    hub = Hub(MemoryHistory(), Policy())
    alice = hub.open(Hello(Viewer("counselor", "alice", counselor_id="alice"), None), 0)
    ward = hub.open(Hello(Viewer("supervisor", "w", groups=frozenset({"ward"})), None), 0)
    chief = hub.open(Hello(Viewer("supervisor", "chief", all_groups=True), None), 0)
    other = hub.open(Hello(Viewer("counselor", "bob", counselor_id="bob"), None), 0)
    for c in (alice, ward, chief, other):
        c.backlog.clear()
    score = ev.score("s", "alice", "early", 4, 4, 4).model_dump(mode="json")
    touched = hub.apply(StoredEvent(EventId.of("alliance.scores", 0, 0), "score", "s", score), 0)
    # the group is not known yet: the ward supervisor cannot see it, and is not even visited
    assert {c.id for c in touched} == {alice.id, chief.id}
    assert hub.stats["visits"] == 2
    started = ev.started("s", "alice", "ward").model_dump(mode="json")
    touched = hub.apply(StoredEvent(EventId.of("chat.sessions", 0, 0), "session", "s", started), 0)
    assert {c.id for c in touched} == {alice.id, ward.id, chief.id}
    assert not other.outbox


def test_an_event_visits_only_the_connections_in_its_scope():
    hub = Hub(MemoryHistory(), Policy())
    crowd = [hub.open(Hello(Viewer("counselor", f"c{i}", counselor_id=f"c{i}"), None), 0) for i in range(50)]
    crowd += [hub.open(Hello(Viewer("supervisor", f"s{i}", groups=frozenset({f"g{i}"})), None), 0)
              for i in range(50)]
    mine = hub.open(Hello(Viewer("counselor", "alice", counselor_id="alice"), None), 0)
    ward = hub.open(Hello(Viewer("supervisor", "w", groups=frozenset({"ward", "g7"})), None), 0)
    chief = hub.open(Hello(Viewer("supervisor", "chief", all_groups=True), None), 0)
    started = ev.started("s", "alice", "ward").model_dump(mode="json")
    hub.apply(StoredEvent(EventId.of("chat.sessions", 0, 0), "session", "s", started), 0)
    visits = hub.stats["visits"]
    assert visits == 3  # alice, the ward supervisor, the all-groups supervisor: not the 100 others
    # a counselor is visited and still gated: an unvalidated alert reaches the supervisors only
    alert = ev.alert("a1", "s", "alice", validated=False).model_dump(mode="json")
    touched = hub.apply(StoredEvent(EventId.of("alliance.alerts", 0, 0), "alert", "s", alert), 0)
    assert hub.stats["visits"] - visits == 3
    assert {c.id for c in touched} == {ward.id, chief.id}
    assert all(not c.outbox for c in crowd) and len(mine.outbox) == 1  # only the session event


def test_closing_removes_a_connection_from_the_index():
    hub = Hub(MemoryHistory(), Policy())
    viewers = [Viewer("counselor", "alice", counselor_id="alice"),
               Viewer("supervisor", "w", groups=frozenset({"ward", "icu"})),
               Viewer("supervisor", "chief", all_groups=True)]
    conns = [hub.open(Hello(v, None), 0) for v in viewers]
    for c in conns:
        hub.close(c)
        hub.close(c)  # twice is harmless
    assert hub.audience("s", {"counselor_id": "alice", "group": "ward"}) == []
    assert not hub._by_counselor and not hub._by_group and not hub._all_groups
    started = ev.started("s", "alice", "ward").model_dump(mode="json")
    assert hub.apply(StoredEvent(EventId.of("chat.sessions", 0, 0), "session", "s", started), 0) == []
    assert hub.stats["visits"] == 0


def test_slow_client_is_still_cut_through_the_index():
    hub = Hub(MemoryHistory(), Policy(max_queue=3))
    started = ev.started("s", "alice", "ward").model_dump(mode="json")
    hub.apply(StoredEvent(EventId.of("chat.sessions", 0, 0), "session", "s", started), 0)
    slow = hub.open(Hello(Viewer("supervisor", "w", groups=frozenset({"ward"})), None), 0)
    for i in range(5):
        data = ev.signal("s", "alice").model_dump(mode="json")
        hub.apply(StoredEvent(EventId.of("alliance.signals", 0, i), "signal", "s", data), 0)
    assert slow.close_code == CLOSE_TOO_SLOW and hub.stats["cut_slow"] == 1
