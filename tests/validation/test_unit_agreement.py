"""Session-level rupture codes and window-level process-signal references (validation/episode_agreement.py,
validation/window_agreement.py), and the detector gate reading their records: hand-made sessions whose answer is known.
"""

from __future__ import annotations

import math

import pytest

from streams.contracts import RuptureEpisode
from validation.detectors import (
    PROCESS_SIGNALS,
    RUPTURE_MARKERS,
    detector_passes,
    episode_identity,
    gate_episode,
    markers_pass,
)
from validation.episode_agreement import (
    EPISODE_GATE,
    CodedSession,
    coder_reading,
    evaluate_episodes,
    rules_reading,
)
from validation.records import RecordBook
from validation.turn_agreement import turn_record
from validation.window_agreement import (
    NO_COUNTERPART,
    WINDOW_GATE,
    WindowTurn,
    evaluate_windows,
    no_counterpart_verdicts,
    reference,
    window_units,
)

W = {"type": "withdrawal", "repaired": True}
C = {"type": "confrontation", "repaired": False}


def test_a_sessions_codes_from_the_rules_episodes_and_from_a_coder():
    assert rules_reading([]) == {"withdrawal": 0.0, "confrontation": 0.0, "repaired": None}
    assert rules_reading([("mixed", "unrepaired")]) == {"withdrawal": 1.0, "confrontation": 1.0, "repaired": 0.0}
    assert rules_reading([("withdrawal", "unrepaired"), ("withdrawal", "repaired")])["repaired"] == 1.0
    assert coder_reading(None) == {"withdrawal": 0.0, "confrontation": 0.0, "repaired": None}
    assert coder_reading(C) == {"withdrawal": 0.0, "confrontation": 1.0, "repaired": 0.0}


def _sessions(n: int, *, agree: bool) -> list[CodedSession]:
    """A third without rupture, a third withdrawal (repaired), a third confrontation; the rules see the same or,
    with ``agree=False``, the type of the session after."""
    plans = [None, W, C]
    episodes = {None: (), "withdrawal": (("withdrawal", "repaired"),), "confrontation": (("confrontation",
                                                                                          "unrepaired"),)}
    out = []
    for i in range(n):
        code = plans[i % 3]
        seen = code if agree else plans[(i + 1) % 3]
        out.append(CodedSession(f"s{i:03d}", (code, code) if i % 4 == 0 else (code,),
                                episodes[None if seen is None else str(seen["type"])], float(300 + (i * 37) % 200)))
    return out


def test_rules_that_open_the_coded_episodes_agree_and_pass_the_gate():
    by_code = {a.code: a for a in evaluate_episodes(_sessions(36, agree=True), resamples=200)}
    assert set(by_code) == {"withdrawal", "confrontation", "repaired"}
    w = by_code["withdrawal"]
    assert w.n == 36 and w.sessions == 36 and w.positives == 12 and w.agreement == pytest.approx(1.0)
    assert w.coders == pytest.approx(1.0) and w.coder_pairs == 9  # every fourth session coded twice
    assert by_code["repaired"].n == 24  # only sessions where the rules and the coder both saw a rupture
    record = turn_record(episode_identity(RUPTURE_MARKERS), list(by_code.values()), EPISODE_GATE, labels_n=36,
                         unit="sessions")
    assert record.passes("withdrawal") and record.passes("confrontation")
    book = RecordBook([record])
    assert detector_passes(book, RUPTURE_MARKERS, "withdrawal")
    assert not detector_passes(book, PROCESS_SIGNALS, "withdrawal")  # another detector's identity: no record
    episode = RuptureEpisode.model_validate({
        "episode_id": "s:rupture:1", "session_id": "s", "counselor_id": "c", "version": 1, "kind": "withdrawal",
        "status": "open", "closed": False, "sources": ["markers"], "phase": "early", "opened_at": "2026-01-01T00:00:00Z",
        "opened_turn_id": 7, "at": "2026-01-01T00:00:00Z"})
    assert markers_pass(book, episode) and gate_episode(episode, book).validated
    assert not gate_episode(episode, RecordBook()).validated  # no record: supervisors only


def test_rules_that_see_other_episodes_than_the_coders_fail():
    by_code = {a.code: a for a in evaluate_episodes(_sessions(36, agree=False), resamples=200)}
    assert by_code["withdrawal"].agreement < 0.0
    record = turn_record(episode_identity(RUPTURE_MARKERS), list(by_code.values()), EPISODE_GATE, labels_n=36,
                         unit="sessions")
    assert record.passed_dimensions() == [] and "36 sessions" in record.dimensions["withdrawal"].reason
    assert not detector_passes(RecordBook([record]), RUPTURE_MARKERS, "confrontation")


def test_too_few_sessions_cannot_pass_however_well_they_agree():
    agreements = evaluate_episodes(_sessions(18, agree=True), resamples=200)
    record = turn_record(episode_identity(RUPTURE_MARKERS), agreements, EPISODE_GATE, labels_n=18, unit="sessions")
    assert not record.passes("withdrawal") and "only 18 coded sessions (minimum 30)" in record.dimensions[
        "withdrawal"].reason


def t(turn_id, speaker, flags=(), *coders, length=10):
    return WindowTurn(turn_id, speaker, length, tuple(flags), tuple(coders))


def test_a_windows_reference_from_one_coders_turn_codes():
    yes, no = {"withdrawal": 1.0, "confrontation": 0.0}, {"withdrawal": 0.0, "confrontation": 0.0}
    block = [t(0, "counselor"), t(1, "client", (), yes), t(3, "client", (), yes), t(5, "client", (), no),
             t(7, "client", (), no)]
    assert reference("withdrawal", block, 0) == 1.0  # 2 of 4 coded client turns: the share reaches .5
    assert reference("withdrawal", block[:3], 0) is None  # 2 coded client turns: too few for a reference
    assert reference("withdrawal", block, 1) is None  # a second coder who coded none of them
    q = {"open_question": 1.0, "closed_question": 0.0, "reflection": 0.0, "directive": 0.0}
    r = {**q, "reflection": 1.0}
    run4 = [t(2 * i, "counselor", (), q) for i in range(4)]
    assert reference("rushing", run4, 0) == 1.0
    broken = [*run4[:2], t(4, "counselor", (), r), run4[3], t(8, "counselor", (), q)]
    assert reference("rushing", broken, 0) == 0.0  # a reflection in between breaks the run
    assert reference("over_directing", run4, 0) == 0.0


def test_a_flag_counts_for_a_window_when_it_was_up_after_any_of_its_turns():
    yes = {"withdrawal": 1.0}
    turns = [t(i, "client", ("withdrawal",) if i == 5 else (), yes, length=3) for i in range(12)]
    turns += [t(i, "client", (), {"withdrawal": 0.0}, length=20) for i in range(12, 24)]
    units = window_units({"s": turns})
    assert [(u.turn_id, u.measure, u.human, u.length) for u in units["withdrawal"]] == [
        (0, 1.0, (1.0,), 3.0), (1, 0.0, (0.0,), 20.0)]
    assert units["over_directing"] == []  # no counselor turn coded: no reference


def _window_sessions(n: int, *, flags_follow_codes: bool) -> dict[str, list[WindowTurn]]:
    """Each session: a block of withdrawn client turns (coded and, if ``flags_follow_codes``, flagged) and an engaged
    one; the flag is up in the withdrawn block, or in the engaged one. Lengths do not tell them apart."""
    out = {}
    for s in range(n):
        turns = []
        for b in range(2):
            withdrawn = (b + s) % 2 == 0
            flagged = withdrawn == flags_follow_codes
            for i in range(12):
                speaker = "client" if i % 2 else "counselor"
                codes = {"withdrawal": float(withdrawn)} if speaker == "client" else {"directive": 0.0}
                turns.append(t(12 * b + i, speaker, ("minimal_responses",) if flagged and i == 11 else (), codes,
                               length=8 + (i + s) % 5))
        out[f"s{s:02d}"] = turns
    return out


def test_flags_that_follow_the_coded_windows_pass_and_flags_that_do_not_fail():
    good = {a.code: a for a in evaluate_windows(_window_sessions(40, flags_follow_codes=True), resamples=200)}
    assert good["minimal_responses"].agreement == pytest.approx(1.0) and good["minimal_responses"].n == 80
    record = turn_record(PROCESS_SIGNALS.identity, list(good.values()), WINDOW_GATE, labels_n=80, unit="windows")
    record = record.model_copy(update={"dimensions": {**record.dimensions, **no_counterpart_verdicts()}})
    book = RecordBook([record])
    assert detector_passes(book, PROCESS_SIGNALS, "minimal_responses")
    assert not detector_passes(book, PROCESS_SIGNALS, "withdrawal")  # never up here: no agreement
    for flag in NO_COUNTERPART:  # timing alone: no codable counterpart, never passes
        assert not detector_passes(book, PROCESS_SIGNALS, flag) and "no codable counterpart" in record.dimensions[
            flag].reason
    bad = {a.code: a for a in evaluate_windows(_window_sessions(40, flags_follow_codes=False), resamples=200)}
    assert bad["minimal_responses"].agreement == pytest.approx(-1.0) and bad["minimal_responses"].verdict != "agrees"
    assert math.isnan(bad["over_directing"].agreement) or bad["over_directing"].verdict == "codes constant"
