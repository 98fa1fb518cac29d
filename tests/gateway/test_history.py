"""Event ids, cursors and the bounded in-memory history (pure)."""

from __future__ import annotations

import pytest

from gateway.history import EventId, Gap, History, MemoryHistory, StoredEvent, parse_cursor


def ev(topic: str, partition: int, offset: int, kind: str = "score", session: str = "s1") -> StoredEvent:
    return StoredEvent(EventId.of(topic, partition, offset), kind, session, {"n": offset})


def test_event_id_round_trip():
    eid = EventId.of("alliance.scores", 2, 41)
    assert str(eid) == "alliance.scores:2:41" and EventId.parse(str(eid)) == eid
    with pytest.raises(ValueError):
        EventId.parse("alliance.scores:x")


def test_parse_cursor_names_the_problem():
    assert parse_cursor({"a:0": 3, "b:1": -1}) == {"a:0": 3, "b:1": -1}
    for bad, msg in (([], "must be an object"), ({"nocolon": 1}, "is not"), ({"a:0": "3"}, "integer"),
                     ({"a:0": True}, "integer"), ({"a:0": -2}, ">= -1")):
        with pytest.raises(ValueError, match=msg):
            parse_cursor(bad)


def test_memory_history_is_a_history():
    assert isinstance(MemoryHistory(), History)


def test_since_returns_exactly_what_is_after_the_cursor_in_arrival_order():
    h = MemoryHistory()
    h.mark_start("a:0", 0)
    h.mark_start("b:0", 0)
    order = [ev("a", 0, 0), ev("b", 0, 0), ev("a", 0, 1), ev("b", 0, 1), ev("a", 0, 2)]
    for e in order:
        h.append(e)
    assert h.since({"a:0": 0, "b:0": 0}) == [order[2], order[3], order[4]]
    assert h.since({"a:0": 2, "b:0": 1}) == []
    assert h.since({}) == order  # a client that has seen nothing gets everything


def test_eviction_turns_old_cursors_into_gaps():
    h = MemoryHistory(max_events=3)
    h.mark_start("a:0", 0)
    for i in range(5):
        h.append(ev("a", 0, i))
    assert len(h) == 3 and h.covered_from["a:0"] == 2
    assert [e.id.offset for e in h.since({"a:0": 1})] == [2, 3, 4]
    gap = h.since({"a:0": 0})
    assert isinstance(gap, Gap) and "no longer" in gap.reason


def test_a_consumer_that_started_late_cannot_answer_earlier_positions():
    h = MemoryHistory()
    h.mark_start("a:0", 100)  # the topic's retention already dropped offsets < 100
    assert isinstance(h.since({"a:0": 50}), Gap)
    assert h.since({"a:0": 99}) == []


def test_cursor_ahead_of_the_log_is_a_gap():
    h = MemoryHistory()
    h.mark_start("a:0", 0)
    h.append(ev("a", 0, 0))
    gap = h.since({"a:0": 7})
    assert isinstance(gap, Gap) and "ahead" in gap.reason


def test_timeline_keeps_session_events_but_not_signals():
    h = MemoryHistory(per_session=2)
    h.append(ev("s", 0, 0, "session", "x"))
    h.append(ev("g", 0, 0, "signal", "x"))
    h.append(ev("c", 0, 0, "score", "x"))
    h.append(ev("l", 0, 0, "alert", "x"))
    assert [e.kind for e in h.session_timeline("x")] == ["score", "alert"]  # bounded per session
    assert [e.kind for e in h.alerts("x")] == ["alert"]
    assert h.session_timeline("unknown") == []


# -- the scope index: resume in time proportional to what the viewer may see (issue 21) ------------------------

def _scoped(n_other: int = 500) -> tuple[MemoryHistory, list[StoredEvent]]:
    """Alice's session s-a (group ward) among n_other events of bob's sessions in group other."""
    h = MemoryHistory(max_events=100_000)
    mine = []
    for i in range(n_other + 10):
        if i % 50 == 0:
            e = ev("scores", 0, i, session="s-a")
            mine.append(e)
            h.append(e)
            h.assign("s-a", "alice", "ward")
        else:
            h.append(ev("scores", 0, i, session=f"s-b{i % 7}"))
            h.assign(f"s-b{i % 7}", "bob", "other")
    return h, mine


def test_since_for_returns_only_the_scopes_events_in_arrival_order():
    h, mine = _scoped()
    assert h.since_for({}, "alice", (), False, 1000) == mine
    assert h.since_for({"scores:0": mine[3].id.offset}, "alice", (), False, 1000) == mine[4:]
    assert h.since_for({}, None, ("ward",), False, 1000) == mine
    assert h.since_for({}, None, ("nobody",), False, 1000) == []
    everything = h.since({})
    assert h.since_for({}, None, (), True, 10_000) == everything
    assert isinstance(h.since_for({}, None, (), True, 100), Gap)  # stops counting past the limit


def test_since_for_counts_before_it_collects_and_says_gap_past_the_limit():
    h, mine = _scoped()
    gap = h.since_for({}, None, ("other",), False, 100)
    assert isinstance(gap, Gap) and "more than 100 events" in gap.reason
    assert h.since_for({}, "alice", (), False, len(mine)) == mine  # exactly the limit is served


def test_since_for_keeps_the_range_checks_of_since():
    h, _ = _scoped()
    assert isinstance(h.since_for({"scores:0": 10_000}, "alice", (), False, 1000), Gap)  # ahead of the history
    small = MemoryHistory(max_events=5)
    for i in range(10):
        small.append(ev("a", 0, i))
        small.assign("s1", "alice", "ward")
    assert isinstance(small.since_for({"a:0": 1}, "alice", (), False, 100), Gap)  # evicted since
    assert [e.id.offset for e in small.since_for({"a:0": 6}, "alice", (), False, 100)] == [7, 8, 9]


def test_a_reassigned_session_moves_with_all_its_events():
    h, mine = _scoped()
    h.assign("s-a", "carol", "ward")
    assert h.since_for({}, "alice", (), False, 1000) == []
    assert h.since_for({}, "carol", (), False, 1000) == mine


def test_evicted_sessions_leave_the_scope_index():
    h = MemoryHistory(max_events=3)
    for i in range(6):
        h.append(ev("a", 0, i, session=f"s{i}"))
        h.assign(f"s{i}", f"c{i}", "ward")
    assert h.since_for({"a:0": 2}, None, ("ward",), False, 100) == h.since({"a:0": 2})
    assert set(h._by_counselor) == {"c3", "c4", "c5"} and set(h._tails) == {"s3", "s4", "s5"}
