"""Which turn ids a session has seen, as sorted inclusive ranges (pure).

Why ranges: the session record is written to its changelog on every turn, and a
list with one entry per turn made that record grow with the session (8 KB by
turn 200, copied, JSON-encoded and produced each time; the worker drained a
third fewer turns per second for long sessions than for new ones). Turn ids of
one session are almost always consecutive, so ``[[0, 199]]`` says the same in
a constant size; a gap (a turn still in flight, or lost) costs one more pair.
"""

from __future__ import annotations

__layer__ = "core"

import bisect
from typing import Iterator

Ranges = list[list[int]]  # [[lo, hi], ...] sorted, disjoint, not adjacent; JSON-friendly


def contains(ranges: Ranges, turn_id: int) -> bool:
    i = bisect.bisect_right(ranges, turn_id, key=lambda r: r[0]) - 1
    return i >= 0 and ranges[i][1] >= turn_id


def add(ranges: Ranges, turn_id: int) -> bool:
    """Add ``turn_id`` in place, merging neighbours; False if it was already there."""
    i = bisect.bisect_right(ranges, turn_id, key=lambda r: r[0]) - 1  # the range starting at or before it
    if i >= 0 and ranges[i][1] >= turn_id:
        return False
    joins_left = i >= 0 and ranges[i][1] == turn_id - 1
    joins_right = i + 1 < len(ranges) and ranges[i + 1][0] == turn_id + 1
    if joins_left and joins_right:
        ranges[i][1] = ranges[i + 1][1]
        del ranges[i + 1]
    elif joins_left:
        ranges[i][1] = turn_id
    elif joins_right:
        ranges[i + 1][0] = turn_id
    else:
        ranges.insert(i + 1, [turn_id, turn_id])
    return True


def ids(ranges: Ranges) -> Iterator[int]:
    """Every id, ascending."""
    for lo, hi in ranges:
        yield from range(lo, hi + 1)


def last(ranges: Ranges) -> int:
    """The highest id, -1 when empty."""
    return ranges[-1][1] if ranges else -1


def count(ranges: Ranges) -> int:
    return sum(hi - lo + 1 for lo, hi in ranges)


def from_ids(turn_ids: list[int]) -> Ranges:
    ranges: Ranges = []
    for tid in sorted(turn_ids):
        add(ranges, tid)
    return ranges
