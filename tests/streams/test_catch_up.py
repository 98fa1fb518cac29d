"""The restart gate: the timer ends no phase before the backlog found at start is read."""

from __future__ import annotations

from streams.catch_up import CatchUp


def test_holds_until_every_partition_is_read_to_its_end_offset():
    gate = CatchUp.from_end_offsets({("chat.turns", 0): 10, ("chat.turns", 1): 3, ("chat.sessions", 0): 2},
                                    started_wall=100.0)
    assert not gate.is_open(101.0) and gate.behind == 3
    gate.observe("chat.turns", 0, 9)
    gate.observe("chat.sessions", 0, 1)
    assert not gate.is_open(102.0) and gate.behind == 1
    gate.observe("chat.turns", 1, 1)  # not yet the last record
    assert not gate.is_open(102.5)
    gate.observe("chat.turns", 1, 2)
    assert gate.is_open(103.0) and gate.opened_by == "read"


def test_other_topics_and_earlier_offsets_do_not_open_it():
    gate = CatchUp.from_end_offsets({("chat.turns", 0): 5}, started_wall=0.0)
    gate.observe("alliance-processor-ticks", 0, 50)
    gate.observe("chat.turns", 1, 50)
    gate.observe("chat.turns", 0, 3)
    assert not gate.is_open(1.0)


def test_empty_partitions_leave_nothing_to_wait_for():
    gate = CatchUp.from_end_offsets({("chat.turns", 0): 0, ("chat.sessions", 0): 0}, started_wall=0.0)
    assert gate.is_open(0.0) and gate.opened_by == "read"
    assert CatchUp.open().is_open(0.0)


def test_a_stuck_partition_delays_phase_ends_but_never_stops_them():
    gate = CatchUp.from_end_offsets({("chat.turns", 0): 5}, started_wall=10.0, max_wait_s=30.0)
    assert not gate.is_open(39.9)
    assert gate.is_open(40.0) and gate.opened_by == "timeout" and gate.behind == 1
    gate.observe("chat.turns", 0, 4)  # read later: stays open, keeps its reason
    assert gate.is_open(41.0) and gate.opened_by == "timeout"
