"""The stretch sampler (validation/coding_sample.py, stretch half): whole windows for the /code page, pure.

Its windows must be the very blocks ``eval-turns`` judges (validation/window_agreement.py), stratified by
whether a judged process-signal flag was up, deterministic by seed, within the retention window, a share twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streams.session_replay import ReplayTurn, replay_session
from validation.coding_sample import (
    CandidateStretch,
    SessionTurn,
    sample_stretches,
    session_stretches,
    stretch_queue_for,
)
from validation.synthetic_episodes import episode_corpus
from validation.window_agreement import MIN_CODED, WINDOW_TURNS, WindowTurn, blocks, window_progress

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)


def _session(sid: str, n: int, *, at: datetime = NOW - timedelta(hours=2), first_id: int = 0) -> list[SessionTurn]:
    return [SessionTurn(first_id + i, "client" if i % 2 else "counselor", at + timedelta(minutes=i)) for i in range(n)]


def test_the_stretches_are_the_blocks_eval_turns_judges_and_carry_the_replayed_flags():
    corpus = episode_corpus(n_sessions=6)
    for s in corpus:
        replayed = replay_session(s.session_id, [ReplayTurn(t.turn_id, t.speaker, t.text, t.at) for t in s.turns],
                                  lang=s.lang)
        stretches = session_stretches(s.session_id, [SessionTurn(t.turn_id, t.speaker, t.at) for t in s.turns],
                                      replayed.flags)
        window_turns = [WindowTurn(t.turn_id, t.speaker, 1, replayed.flags.get(t.turn_id, ()), ()) for t in s.turns]
        judged = blocks(window_turns)
        assert [st.turn_ids for st in stretches] == [tuple(t.turn_id for t in judged[st.index]) for st in stretches]
        assert [st.index for st in stretches] == list(range(len(judged)))[:len(stretches)]
        for st in stretches:
            raised = any(f in ("withdrawal", "minimal_responses", "over_directing", "rushing")
                         for t in judged[st.index] for f in t.flags)
            assert st.flagged == raised
    assert any(st.flagged for s in corpus for st in session_stretches(
        s.session_id, [SessionTurn(t.turn_id, t.speaker, t.at) for t in s.turns],
        replay_session(s.session_id, [ReplayTurn(t.turn_id, t.speaker, t.text, t.at) for t in s.turns],
                       lang=s.lang).flags))


def test_turn_ids_with_gaps_are_cut_by_position_like_eval_turns_and_a_short_last_block_is_left_out():
    turns = _session("s", 2 * WINDOW_TURNS + 2, first_id=5)[::-1]  # unordered, ids from 5
    stretches = session_stretches("s", turns, {})
    assert [st.turn_ids[0] for st in stretches] == [5, 5 + WINDOW_TURNS]  # 2 turns left: no reference possible
    assert all(len(st.turn_ids) == WINDOW_TURNS and not st.flagged for st in stretches)
    short = session_stretches("s", _session("s", WINDOW_TURNS + 2 * MIN_CODED), {})
    assert len(short) == 2 and len(short[1].turn_ids) == 2 * MIN_CODED  # MIN_CODED of each speaker: kept


def _candidates(n_flagged: int, n_quiet: int, old: int = 0) -> list[CandidateStretch]:
    def st(sid: str, i: int, flagged: bool, at: datetime) -> CandidateStretch:
        return CandidateStretch(sid, i, tuple(range(i * 12, i * 12 + 12)), ("counselor", "client") * 6, at,
                                at + timedelta(minutes=11), flagged)
    out = [st(f"f{i % 7}", i, True, NOW - timedelta(hours=3)) for i in range(n_flagged)]
    out += [st(f"q{i % 7}", i, False, NOW - timedelta(hours=3)) for i in range(n_quiet)]
    out += [st(f"old{i}", 0, True, NOW - timedelta(days=40)) for i in range(old)]
    return out


def test_the_sample_is_half_flagged_half_quiet_within_retention_deterministic_by_seed():
    cands = _candidates(30, 30, old=20)
    sample = sample_stretches(cands, now=NOW, retention_days=30, size=20, double_share=0.25)
    assert len(sample) == 20 and sum(s.flagged for s in sample) == 10
    assert not any(s.session_id.startswith("old") for s in sample)
    assert sum(s.double for s in sample) == 5
    assert sample == sample_stretches(list(reversed(cands)), now=NOW, retention_days=30, size=20, double_share=0.25)
    assert sample != sample_stretches(cands, now=NOW, retention_days=30, size=20, double_share=0.25, seed=1)
    assert sample == sorted(sample, key=lambda s: (s.session_id, s.index))
    # a window partly older than the retention window is not offered (its first turns may be purged)
    straddling = CandidateStretch("edge", 0, tuple(range(12)), ("client",) * 12, NOW - timedelta(days=30, minutes=5),
                                  NOW - timedelta(days=29), True)
    assert not sample_stretches([straddling], now=NOW, retention_days=30, size=5)
    # a short stratum leaves its place to the other
    few = sample_stretches(_candidates(3, 30), now=NOW, retention_days=30, size=10)
    assert len(few) == 10 and sum(s.flagged for s in few) == 3
    with pytest.raises(ValueError):
        sample_stretches(cands, now=NOW, retention_days=30, size=-1)


def test_a_stretch_is_open_to_as_many_coders_as_it_needs_and_stays_with_those_who_started_it():
    sample = sample_stretches(_candidates(4, 4), now=NOW, retention_days=30, size=8, double_share=0.5)
    double = next(s for s in sample if s.double)
    single = next(s for s in sample if not s.double)
    coded = {(double.session_id, double.turn_ids[0]): frozenset({"a"}),
             (single.session_id, single.turn_ids[3]): frozenset({"a"})}
    assert double in stretch_queue_for("b", sample, coded) and single not in stretch_queue_for("b", sample, coded)
    assert single in stretch_queue_for("a", sample, coded)  # started: to finish
    coded[(double.session_id, double.turn_ids[5])] = frozenset({"b"})
    assert double not in stretch_queue_for("c", sample, coded)
    assert double in stretch_queue_for("b", sample, coded)


def test_window_progress_counts_the_windows_a_coder_gave_a_reference_per_judging_speaker():
    coded = {"withdrawal": 1.0, "confrontation": 0.0}
    turns = {"s1": [WindowTurn(i, "client" if i % 2 else "counselor", 1, (),
                               ((coded if i % 2 and i < 6 else None),)) for i in range(24)],
             "s2": [WindowTurn(i, "client", 1, (), ({"withdrawal": 0.0},)) for i in range(30)]}
    by = {p.speaker: p for p in window_progress(turns)}
    assert (by["client"].windows, by["client"].sessions) == (1 + 3, 2)  # s1: 3 coded client turns in block 0
    assert (by["counselor"].windows, by["counselor"].sessions) == (0, 0)
    assert by["client"].flags == ("withdrawal", "minimal_responses")
    assert (by["client"].need_windows, by["client"].need_sessions) == (60, 10)
