"""The trained turn detector's pure core on the synthetic coded corpus (issue 23): sessions split whole, codes
checked, and on held-out sessions it finds the cues the word rules miss."""

from __future__ import annotations

import pytest

from scoring.turn_features import rule_codes
from training.errors import TrainingError
from training.turn_detector import (
    LabelledTurn,
    choose_codes,
    fit,
    parent_detector,
    predict,
    split_sessions,
)
from validation.synthetic_turns import coded_corpus
from validation.turn_agreement import CodedTurn, evaluate_code


def _labelled(**corpus) -> list[LabelledTurn]:
    turns = coded_corpus(**corpus)
    text = {(t.session_id, t.turn_id): t.text for t in turns}
    return [LabelledTurn(t.session_id, t.turn_id, t.speaker, t.text, text.get((t.session_id, t.turn_id - 1), ""),
                         {k: sum(float(c[k]) for c in t.coders) / len(t.coders) for k in t.coders[0]})
            for t in turns]


def test_sessions_are_split_whole_and_stably():
    ids = [f"s{i}" for i in range(20)]
    train, held = split_sessions(ids * 3, 0.3, seed=1)
    assert not train & held and train | held == set(ids) and len(held) == 6
    assert split_sessions(ids, 0.3, seed=1) == (train, held)
    assert split_sessions(ids, 0.3, seed=2) != (train, held)
    with pytest.raises(TrainingError, match="at least 4"):
        split_sessions(["a", "b", "c"], 0.3, seed=0)


def test_codes_are_the_parent_detectors():
    turns = _labelled(n_sessions=4, turns_per_session=10)
    words = parent_detector("counselor-words")
    assert choose_codes(words, [], turns) == ("open_question", "closed_question", "reflection", "directive")
    assert choose_codes(words, ["reflection"], turns) == ("reflection",)
    with pytest.raises(TrainingError, match="has no code 'withdrawal'"):
        choose_codes(words, ["withdrawal"], turns)
    with pytest.raises(TrainingError, match="no coded turn carries self_disclosure"):
        choose_codes(words, ["self_disclosure"], turns)
    with pytest.raises(TrainingError, match="these can be trained"):
        parent_detector("process-signals")


def test_a_code_needs_yes_and_no_turns_to_train():
    turns = [t for t in _labelled(n_sessions=4, turns_per_session=10) if t.speaker == "counselor"]
    none_yes = [LabelledTurn(t.session_id, t.turn_id, t.speaker, t.text, t.previous, {"directive": 0.0})
                for t in turns]
    with pytest.raises(TrainingError, match="directive: the training sessions have 0 yes"):
        fit(("directive",), none_yes)


def test_trained_detector_beats_the_rules_on_cues_they_miss_in_held_out_sessions():
    turns = _labelled(n_sessions=20, missed_share=0.8)
    train_ids, held_ids = split_sessions([t.session_id for t in turns], 0.4, seed=0)
    codes = ("reflection", "directive")
    models = fit(codes, [t for t in turns if t.session_id in train_ids])
    for code in codes:
        held = [t for t in turns if t.session_id in held_ids and t.speaker == "counselor"]

        def kappa(measure, held=held, code=code):
            rows = [CodedTurn(t.session_id, t.turn_id, (t.codes[code],), float(m), float(len(t.text)))
                    for t, m in zip(held, measure, strict=True)]
            return evaluate_code(code, rows, resamples=100).agreement

        trained = kappa([predict(models, t.text, t.previous, t.speaker)[code] for t in held])
        rules = kappa([rule_codes(t.text, t.speaker)[code] for t in held])
        assert trained > rules + 0.2 and trained > 0.6, (code, trained, rules)
    # a counselor code is never said of a client turn
    client = next(t for t in turns if t.speaker == "client")
    assert predict(models, client.text, client.previous, "client")["reflection"] is False
