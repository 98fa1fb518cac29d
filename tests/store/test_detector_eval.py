"""How a site validates a rule detector (issue 23): ``eval-turns --detector NAME --record`` on coded turns with text
writes the detector's turn-level record to a real SQLite store, and the gate then reads it: codes that pass open
their notices to counselors, codes that fail (or are not evaluated) keep them with supervisors.

The coded turns are the synthetic coded corpus (``validation/synthetic_turns.py``, en + zh, two coders on a share).
"""

from __future__ import annotations

import json

import pytest

from store.db import upgrade
from store.records import load_record_book
from validation.detectors import COUNSELOR_WORDS, RUPTURE_MARKERS, detector_passes
from validation.synthetic_turns import coded_corpus

pytestmark = pytest.mark.integration


def _coded_file(path, **corpus):
    coders = ("ana", "bo")
    with path.open("w", encoding="utf-8") as f:
        for t in coded_corpus(**corpus):
            for coder, codes in zip(coders, t.coders, strict=False):
                f.write(json.dumps({"session_id": t.session_id, "turn_id": t.turn_id, "coder": coder,
                                    "speaker": t.speaker, "text": t.text, "codes": codes}, ensure_ascii=False) + "\n")
    return path


def _run(argv, capsys):
    from alliance_monitor.cli import main

    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_rules_that_see_every_cue_pass_and_their_notices_open(sqlite_url, capsys, tmp_path):
    upgrade(sqlite_url)
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=24, missed_share=0.0)  # cues the rules know
    rc, out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "rupture-markers",
                         "--resamples", "200", "--record", "--db", sqlite_url], capsys)
    assert rc == 0, err
    assert "detector rupture-markers@2 (rules)" in out and "confrontation" in out and "kappa" in out
    book = load_record_book(sqlite_url)
    record = book.for_turns(RUPTURE_MARKERS.identity)
    assert record is not None and set(record.dimensions) == {"withdrawal", "confrontation"}
    assert detector_passes(book, RUPTURE_MARKERS, "confrontation")  # kappa high, far above length alone
    for code, verdict in record.dimensions.items():
        assert detector_passes(book, RUPTURE_MARKERS, code) == verdict.passed
    assert not detector_passes(book, COUNSELOR_WORDS, "directive")  # another detector: still no record


def test_rules_that_miss_most_cues_do_not_pass(sqlite_url, capsys, tmp_path):
    upgrade(sqlite_url)
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=24, missed_share=0.8)
    rc, out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "counselor-words",
                         "--resamples", "200", "--record", "--db", sqlite_url], capsys)
    assert rc == 0, err
    book = load_record_book(sqlite_url)
    assert not detector_passes(book, COUNSELOR_WORDS, "reflection")  # the rules miss most reflections
    assert "reflection" in out and "length" in out


def test_a_detector_needs_the_turns_text_and_one_source(capsys, tmp_path):
    codes = tmp_path / "codes.jsonl"
    codes.write_text(json.dumps({"session_id": "s", "turn_id": 1, "codes": {"directive": True}}) + "\n")
    rc, _out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "counselor-words"], capsys)
    assert rc == 2 and "needs the turn's text" in err
    rc, _out, err = _run(["eval-turns", "--turn-codes", str(codes)], capsys)
    assert rc == 2 and "--feedback FILE" in err and "--detector NAME" in err
