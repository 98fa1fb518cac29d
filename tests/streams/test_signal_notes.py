"""Process-signal notes in plain words (issue 23): what was seen and one move that fits, en + zh, never statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.replay_format import read_file
from streams.rupture_replay import replay_events
from streams.signal_notes import MOVES, signal_note

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FIGURES = {"client_length_ratio": 0.38, "client_latency_s": 85.0, "client_idle_s": 240.0, "question_streak": 5,
           "directive_density": 0.6, "minimal_response_rate": 0.8}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_flag_says_what_was_seen_and_its_own_move(lang):
    notes = {flag: signal_note(flag, FIGURES, list(MOVES), lang) for flag in MOVES}
    for flag, (seen, move) in notes.items():
        assert "=" not in seen and "_" not in seen, (flag, seen)  # a sentence, not client_length_ratio=0.38
        assert seen.endswith(("." if lang == "en" else "。")) and move, flag
    assert len({seen for seen, _ in notes.values()}) == len(MOVES)  # withdrawal and minimal no longer alike
    assert len({move for _, move in notes.values()}) == len(MOVES)  # no one-size "short check-in"


def test_the_figures_are_said_the_way_a_person_would():
    seen, _ = signal_note("withdrawal", FIGURES, ["withdrawal", "slow_replies"])
    assert seen == ("The client's replies got much shorter and slower than their own earlier replies in the last "
                    "10 minutes (about 38% of their usual length).")
    assert "4 minutes" in signal_note("idle", FIGURES)[0]
    assert "60%" in signal_note("over_directing", FIGURES)[0] and "建议" in signal_note("over_directing", FIGURES, (),
                                                                                         "zh")[0]
    assert "advice" in signal_note("withdrawal", FIGURES)[1] and "reflect" in signal_note("rushing", FIGURES)[1]


def test_a_counselor_with_a_rupture_gets_one_note_a_phase_not_three():
    events, _ = read_file(SAMPLES / "s02_bond_rupture_middle_en.jsonl")
    alerts = replay_events(events).alerts
    phases = [a.phase for a in alerts]
    assert len(phases) == len(set(phases)) and alerts, [(a.phase, a.signal) for a in alerts]
    assert all("=" not in a.message and a.evidence[0].note for a in alerts)
