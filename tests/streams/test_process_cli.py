"""``alliance-monitor process``: argument errors are one line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance_monitor.cli import main


@pytest.mark.parametrize("argv, needle", [
    (["process", "--clock-rate", "0"], "must be greater than 0"),
    (["process", "--clock-rate", "fast"], "expected a number"),
    (["process", "--lateness", "-1"], "must not be negative"),
    (["process", "--transcript", "all"], "invalid choice"),
])
def test_bad_arguments(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_bad_alert_settings_file(tmp_path, capsys):
    assert main(["process", "--alert-settings", str(tmp_path / "missing.json")]) != 0
    err = capsys.readouterr().err.strip()
    assert "no such file" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"default": {"low_fire": 3.5}}')  # breaks the hysteresis order
    assert main(["process", "--alert-settings", str(bad)]) != 0
    err = capsys.readouterr().err.strip()
    assert "hysteresis" in err and len(err.splitlines()) == 1


def _trained(where, parent: str, codes: tuple[str, ...]) -> str:
    """A detector trained on a few synthetic coded sessions, written as train-turns writes it."""
    from training.turn_detector import data_hash, fit, labelled_turns
    from training.turn_detector_files import save
    from validation.synthetic_turns import coded_corpus

    corpus = coded_corpus(n_sessions=6, turns_per_session=30)
    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    turns = labelled_turns(texts, coded)
    _detector, path = save(fit(codes, turns), parent, codes, out=where / parent, data_source="synthetic",
                           data_fingerprint=data_hash(turns), train_sessions=frozenset(t.session_id for t in turns),
                           n_held_out=0, params={}, root=where / "trained")
    return str(path)


def test_a_bad_rupture_detector_is_one_line_before_the_worker_starts(tmp_path, capsys):
    def refused(spec: str) -> str:
        assert main(["process", "--rupture-detector", spec]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return err

    assert "no trained detector" in refused(str(tmp_path / "missing"))
    assert "no trained detector" in refused("trained.rupture-markers@000000000000")
    words = _trained(tmp_path, "counselor-words", ("directive",))
    assert "stands in for counselor-words, not rupture-markers" in refused(words)
    markers = Path(_trained(tmp_path, "rupture-markers", ("withdrawal",)))
    blob = bytearray((markers / "model.pkl").read_bytes())
    blob[-2] ^= 1
    (markers / "model.pkl").write_bytes(bytes(blob))
    assert "was changed after training" in refused(str(markers))
