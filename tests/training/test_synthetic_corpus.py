"""The labelled synthetic corpus: seeded, en + zh, labels follow the text cues, length runs against them in part."""

from __future__ import annotations

import numpy as np
import pytest

from store.eval import read_labels
from streams.contracts import DIMENSIONS, ChatTurn
from streams.replay import read_file
from training.corpus_files import write_corpus
from training.synthetic_corpus import SYNTHETIC_NOTE, CorpusSpec, generate


@pytest.fixture(scope="module")
def corpus():
    return generate(CorpusSpec(sessions=600, seed=0))


def test_same_seed_same_corpus_other_seed_other_corpus():
    a = generate(CorpusSpec(sessions=40, seed=3))
    b = generate(CorpusSpec(sessions=40, seed=3))
    c = generate(CorpusSpec(sessions=40, seed=4))
    assert [s.session_line() for s in a] == [s.session_line() for s in b]
    assert [s.answers for s in a] == [s.answers for s in b]
    assert [s.session_line()["turns"] for s in a] != [s.session_line()["turns"] for s in c]


def test_both_languages_short_sessions_spread_in_time(corpus):
    assert {s.lang for s in corpus} == {"en", "zh"}
    assert all(8 <= len(s.turns) <= 16 for s in corpus)
    assert max(s.chars for s in corpus) < 2000  # a few hundred tokens at most
    starts = [s.started_at for s in corpus]
    days = [t.date() for t in starts]
    assert days == sorted(days) and (max(starts) - min(starts)).days >= 100
    assert len({s.counselor_id for s in corpus}) > 5


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_labels_follow_the_text_cues(corpus, dimension):
    """The positive-minus-negative cue count of a dimension predicts its client rating."""
    cue = np.array([s.cues[dimension][0] - s.cues[dimension][1] for s in corpus], dtype=float)
    label = np.array([s.dimension_label(dimension) for s in corpus])
    assert np.corrcoef(cue, label)[0, 1] > 0.45
    # and the answers are driven by the latent level the text was composed from
    latent = np.array([s.latents[dimension] for s in corpus])
    assert np.corrcoef(latent, label)[0, 1] > 0.7


def test_length_runs_against_the_rating_in_the_designated_part(corpus):
    inverse = [s for s in corpus if s.part == "length-inverse"]
    free = [s for s in corpus if s.part == "length-free"]
    assert 200 < len(inverse) < 400
    mean_label = lambda ss: np.array([np.mean([s.dimension_label(d) for d in DIMENSIONS]) for s in ss])  # noqa: E731
    chars = lambda ss: np.array([s.chars for s in ss], dtype=float)  # noqa: E731
    assert np.corrcoef(chars(inverse), mean_label(inverse))[0, 1] < -0.3
    assert abs(np.corrcoef(chars(free), mean_label(free))[0, 1]) < 0.15


def test_files_are_marked_synthetic_and_parse_as_replay_and_labels(tmp_path):
    sessions, paths = write_corpus(CorpusSpec(sessions=30, seed=1), tmp_path)
    for name in ("sessions", "labels", "latents"):
        assert paths[name].read_text(encoding="utf-8").startswith(f"# {SYNTHETIC_NOTE}")
    events, bad = read_file(paths["sessions"])
    assert not bad
    turns = [e.event for e in events if isinstance(e.event, ChatTurn)]
    assert len({t.session_id for t in turns}) == 30 and len(turns) == sum(len(s.turns) for s in sessions)
    labels = read_labels(paths["labels"])
    assert set(labels) == {s.session_id for s in sessions}
    first = sessions[0]
    assert labels[first.session_id].items == {k: float(v) for k, v in first.answers.items()}


def test_corpus_command_writes_and_bad_arguments_exit_2(tmp_path, capsys):
    from alliance_monitor.cli import main

    assert main(["corpus", "synth", "--out", str(tmp_path / "c"), "--sessions", "12", "--langs", "zh"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "zh 12" in out
    for bad in (["--sessions", "0"], ["--langs", "en,fr"], ["--inverse-share", "2"]):
        with pytest.raises(SystemExit) as exc:
            main(["corpus", "synth", "--out", str(tmp_path / "x"), *bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_the_hard_corpus_is_long_spreads_its_cues_and_runs_length_against_the_rating():
    import numpy as np

    from training.synthetic_corpus import BANK, CorpusSpec, generate

    spec = CorpusSpec(sessions=200, seed=3, difficulty="hard")
    sessions = generate(spec)
    assert generate(spec)[17] == sessions[17]  # seeded
    turns = np.array([len(s.turns) for s in sessions])
    assert 24 <= turns.mean() <= 36 and turns.min() >= 20
    mean_label = np.array([np.mean(list(s.answers.values())) for s in sessions])
    assert -0.35 < np.corrcoef(turns, mean_label)[0, 1] < -0.05  # against the rating, about as weakly as real chats
    # cues of one dimension in both speakers' turns, and sessions without any cue in most exchanges
    bank_lines = {speaker: {ln for lang in BANK for d in BANK[lang] for pos in (True, False)
                            for ln in BANK[lang][d][pos][i]} for i, speaker in enumerate(("counselor", "client"))}
    seen = {"counselor": 0, "client": 0}
    for s in sessions[:40]:
        for t in s.turns:
            if any(ln.split("{")[0][:12] in t.text for ln in bank_lines[t.speaker]):
                seen[t.speaker] += 1
    assert seen["counselor"] > 20 and seen["client"] > 20
    cues = sum(sum(a + b for a, b in s.cues.values()) for s in sessions)
    assert cues < 0.5 * sum((len(s.turns) - 4) / 2 for s in sessions)
