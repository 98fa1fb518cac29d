"""Turn ids as ranges: the same answers as a set of ids, in a record whose size does not grow with the session."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from streams import turn_index as ti


@pytest.mark.parametrize("seed", range(20))
def test_ranges_answer_like_a_set_of_ids(seed):
    rng = random.Random(seed)
    ids = list(range(rng.randint(0, 60)))
    rng.shuffle(ids)
    ids = [i for i in ids if rng.random() > 0.15] + [rng.randint(0, 70) for _ in range(10)]  # gaps, repeats
    ranges: ti.Ranges = []
    seen: set[int] = set()
    for tid in ids:
        assert ti.add(ranges, tid) is (tid not in seen)
        seen.add(tid)
        assert list(ti.ids(ranges)) == sorted(seen)
    for tid in range(-2, 75):
        assert ti.contains(ranges, tid) is (tid in seen)
    assert ti.count(ranges) == len(seen)
    assert ti.last(ranges) == (max(seen) if seen else -1)
    # sorted, disjoint and never adjacent: the most compact form
    assert all(a[1] + 1 < b[0] for a, b in pairwise(ranges))
    assert ranges == ti.from_ids(sorted(seen))


def test_a_gap_filled_late_joins_its_neighbours():
    ranges = ti.from_ids([0, 1, 2, 4, 5])
    assert ranges == [[0, 2], [4, 5]]
    ti.add(ranges, 3)
    assert ranges == [[0, 5]]


def test_empty():
    assert ti.last([]) == -1 and ti.count([]) == 0 and not ti.contains([], 0) and list(ti.ids([])) == []
