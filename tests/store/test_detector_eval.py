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


def _renamed(path, prefix):
    """The same kind of coded file with session ids no detector was trained on."""
    lines = [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines()]
    path.write_text("".join(json.dumps({**d, "session_id": prefix + d["session_id"]}, ensure_ascii=False) + "\n"
                            for d in lines), encoding="utf-8")
    return path


def test_a_detector_trained_on_a_sites_codes_is_validated_like_the_rules(sqlite_url, capsys, tmp_path, monkeypatch):
    """train-turns on one coded file, eval-turns --record on sessions it never saw: the gate reads the trained
    identity's record, and reflections the rules miss pass for it and not for the rules."""
    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(tmp_path / "trained"))
    upgrade(sqlite_url)
    train = _coded_file(tmp_path / "train.jsonl", n_sessions=16, missed_share=0.8)
    rc, out, err = _run(["train-turns", "--turn-codes", str(train), "--code", "reflection", "--code", "directive"],
                        capsys)
    assert rc == 0, err
    identity = next(w for w in out.split() if w.startswith("trained.counselor-words@"))
    assert "held out" in out and "rules" in out
    fresh = _renamed(_coded_file(tmp_path / "fresh.jsonl", n_sessions=12, missed_share=0.8, seed=7), "site-")
    rc, out, err = _run(["eval-turns", "--turn-codes", str(fresh), "--detector", identity, "--resamples", "200",
                         "--record", "--db", sqlite_url], capsys)
    assert rc == 0, err
    assert f"{identity} (trained)" in out and "left out" not in out
    rc, _o, err = _run(["eval-turns", "--turn-codes", str(fresh), "--detector", "counselor-words", "--resamples", "200",
                        "--record", "--db", sqlite_url], capsys)
    assert rc == 0, err
    from training.turn_detector_files import load, resolve

    trained = load(resolve(identity))[0]
    book = load_record_book(sqlite_url)
    record = book.for_turns(trained.identity)
    assert record is not None and set(record.dimensions) == {"reflection", "directive"}
    assert detector_passes(book, trained, "reflection") and not detector_passes(book, COUNSELOR_WORDS, "reflection")
    assert not detector_passes(book, trained, "open_question")  # not trained, not evaluated: closed


def test_an_edited_trained_detector_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(tmp_path / "trained"))
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=8)
    rc, _o, err = _run(["train-turns", "--turn-codes", str(codes), "--code", "directive", "--out",
                        str(tmp_path / "det")], capsys)
    assert rc == 0, err
    from training.turn_detector_files import load

    detector, models, trained_on = load(tmp_path / "det")
    assert detector.key.startswith("trained.counselor-words@") and set(models) == {"directive"}
    assert len(trained_on) == 6  # 8 sessions, 30 % held out (2), split whole
    # evaluated on its own training file: its training sessions are left out
    rc, out, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", str(tmp_path / "det"),
                         "--resamples", "100"], capsys)
    assert rc == 0, err
    assert "6 coded session(s) left out" in out
    model = tmp_path / "det" / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")
    rc, _o, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", str(tmp_path / "det")], capsys)
    assert rc == 2 and "changed after training" in err and "Traceback" not in err


def test_train_turns_bad_arguments_are_one_line(capsys, tmp_path):
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=3, turns_per_session=10)
    for argv, words in ((["--turn-codes", str(tmp_path / "none.jsonl")], "not found"),
                        (["--turn-codes", str(codes), "--code", "withdrawal"], "has no code 'withdrawal'"),
                        (["--turn-codes", str(codes)], "3 coded session(s): at least 4"),
                        ([], "--turn-codes FILE or --from-store")):
        rc, _o, err = _run(["train-turns", *argv], capsys)
        assert rc == 2 and words in err and len(err.strip().splitlines()) == 1, (argv, err)
    rc, _o, err = _run(["eval-turns", "--turn-codes", str(codes), "--detector", "trained.counselor-words@nope"], capsys)
    assert rc == 2 and "no trained detector" in err
