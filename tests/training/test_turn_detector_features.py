"""``train-turns --features hidden|both`` (issue 23): a turn detector that reads the scoring model's hidden states of
the turn in its context is a new identity tied to that model. Trained and evaluated through the real commands on
the tiny random model (tests/tiny_model.py) and a few synthetic coded sessions (validation/synthetic_turns.py);
the tiny model's states carry no signal, so these tests check identity, lineage and refusal, not agreement.
"""

from __future__ import annotations

import json
import shutil

import pytest

from scoring.models import MARKER
from validation.detectors import COUNSELOR_WORDS

from ..store.test_detector_eval import _coded_file, _renamed, _run

pytestmark = pytest.mark.integration

DIRECTIVE = "Write the exams down before bed tonight."


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """The same coded file trained three ways: {kind: (identity, directory)}; and the coded files."""
    base = tmp_path_factory.mktemp("turn-features")
    codes = _coded_file(base / "codes.jsonl", n_sessions=6, turns_per_session=16, missed_share=0.8)
    fresh = _renamed(_coded_file(base / "fresh.jsonl", n_sessions=4, turns_per_session=16, seed=7), "site-")
    out = {}
    mp = pytest.MonkeyPatch()
    mp.setenv("ALLIANCE_TRAINED_DIR", str(base / "trained"))
    capsys = _Capture()
    try:
        for kind in ("lexical", "hidden", "both"):
            rc, stdout, err = capsys.run(["train-turns", "--turn-codes", str(codes), "--code", "directive",
                                          "--features", kind, "--model", str(tiny_model.path),
                                          "--out", str(base / kind)])
            assert rc == 0, err
            identity = next(w for w in stdout.split() if w.startswith("trained.counselor-words@"))
            out[kind] = (identity, base / kind, stdout, err)
    finally:
        mp.undo()
    return out, codes, fresh


class _Capture:
    """The CLI's output without pytest's function-scoped capsys (a module fixture trains once)."""

    def run(self, argv):
        import contextlib
        import io

        from alliance_monitor.cli import main

        o, e = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
            rc = main(argv)
        return rc, o.getvalue(), e.getvalue()


def test_hidden_and_both_are_new_identities_that_name_their_model(trained, tiny_model):
    runs, _codes, _fresh = trained
    identities = {kind: run[0] for kind, run in runs.items()}
    assert len(set(identities.values())) == 3  # a feature kind is part of what the identity hashes
    for kind in ("hidden", "both"):
        meta = json.loads((runs[kind][1] / "detector.json").read_text())
        assert meta["features"] == kind and meta["identity"] == identities[kind]
        assert meta["hidden_model"]["name"] == tiny_model.name and meta["hidden_model"]["revision"] == tiny_model.revision
        lineage = json.loads((runs[kind][1] / "lineage.json").read_text())
        assert lineage["base_name"] == tiny_model.name and lineage["params"]["features"] == kind
        assert lineage["params"]["stands_in_for"] == COUNSELOR_WORDS.key
        assert "hidden-state extraction" in runs[kind][3] and "turns/s" in runs[kind][3]
        assert f"hidden states of {tiny_model.name}@{tiny_model.revision}" in runs[kind][2]
    lexical = json.loads((runs["lexical"][1] / "detector.json").read_text())
    assert lexical["features"] == "lexical" and "hidden_model" not in lexical
    assert "hidden-state extraction" not in runs["lexical"][3]


def test_eval_turns_runs_a_hidden_detector_on_its_model(trained, tiny_model, capsys):
    runs, _codes, fresh = trained
    for kind in ("hidden", "both"):
        rc, out, err = _run(["eval-turns", "--turn-codes", str(fresh), "--detector", str(runs[kind][1]),
                             "--model", str(tiny_model.path), "--resamples", "100"], capsys)
        assert rc == 0, err
        assert f"{runs[kind][0]} (trained)" in out and "directive" in out and "turns/s" in err


def test_a_hidden_detector_refuses_another_model(trained, tiny_model, capsys, tmp_path):
    runs, _codes, fresh = trained
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model.path, other)
    (other / MARKER).write_text(json.dumps({"name": tiny_model.name, "revision": "another-revision"}))
    rc, _o, err = _run(["eval-turns", "--turn-codes", str(fresh), "--detector", str(runs["hidden"][1]),
                        "--model", str(other), "--resamples", "100"], capsys)
    assert rc == 2 and "reads the hidden states of" in err and "another-revision" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    rc, _o, err = _run(["score", "--bootstrap", "127.0.0.1:1", "--feedback-turns", "1", "--turn-detector",
                        str(runs["both"][1]), "--model", str(other)], capsys)
    assert rc == 2 and "reads the hidden states of" in err and len(err.strip().splitlines()) == 1, err


def test_the_scorer_serves_a_hidden_detector_with_its_model(trained, tiny_model):
    from alliance_monitor.commands.score import load_turn_detector
    from scoring.live_detector import word_codes

    runs, _codes, _fresh = trained
    live = load_turn_detector(str(runs["both"][1]), str(tiny_model.path))
    assert live.states is not None and live.codes == ("directive",)
    f, sources = word_codes(DIRECTIVE, "I keep worrying about the exams.", live)
    assert sources["directive"] == runs["both"][0] and isinstance(f.directive, bool)
    assert sources["reflection"] == COUNSELOR_WORDS.key


def test_a_bad_feature_kind_is_one_line(capsys, tmp_path):
    codes = _coded_file(tmp_path / "codes.jsonl", n_sessions=4, turns_per_session=10)
    from alliance_monitor.cli import main

    with pytest.raises(SystemExit) as stop:  # an argparse error: one line, exit 2
        main(["train-turns", "--turn-codes", str(codes), "--features", "pixels"])
    rc, err = stop.value.code, capsys.readouterr().err
    assert rc == 2 and "--features" in err and "pixels" in err and len(err.strip().splitlines()) == 1, err
