"""A trained turn detector served live (``score --turn-detector``, issue 23): its answers stand in for the word
rules' in feedback cards, the record names it, and the gate decides on its own record.

The detector is trained here on the synthetic coded corpus (``validation/synthetic_turns.py``, a few sessions,
cues the word rules miss) and written as ``train-turns`` writes it; the scorer's loader reads it back. The worker
test runs the real scoring worker on the tiny model and a real broker.
"""

from __future__ import annotations

import dataclasses

import pytest

from scoring.live_detector import serve, word_codes
from streams.contracts import TranscriptLine
from training.turn_detector import data_hash, fit, labelled_turns
from training.turn_detector_files import save
from validation.detectors import COUNSELOR_WORDS
from validation.synthetic_turns import coded_corpus

from .helpers import EN_SESSION

#: a directive in words the rules do not know (the corpus's "missed" directive cue)
MISSED_DIRECTIVE = "Write the exams down before bed tonight."


def _train(out, root, parent: str = "counselor-words", codes: tuple[str, ...] = ("directive",)):
    corpus = coded_corpus(n_sessions=8, turns_per_session=40, missed_share=0.8)
    texts = {(t.session_id, t.turn_id): (t.speaker, t.text) for t in corpus}
    coded = {(t.session_id, t.turn_id): [{k: float(v) for k, v in c.items()} for c in t.coders] for t in corpus}
    turns = labelled_turns(texts, coded)
    models = fit(codes, turns)
    return save(models, parent, codes, out=out, data_source="synthetic", data_fingerprint=data_hash(turns),
                train_sessions=frozenset(t.session_id for t in turns), n_held_out=0, params={}, root=root)


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    """A trained counselor-words detector for ``directive``: (identity, its directory)."""
    base = tmp_path_factory.mktemp("turn-detector")
    return _train(base / "det", base / "trained")


def test_the_served_detector_answers_its_codes_and_the_rules_the_rest(artefact):
    from alliance_monitor.commands.score import load_turn_detector

    detector, path = artefact
    live = load_turn_detector(str(path))
    assert live.detector.key == detector.key and live.codes == ("directive",)
    f, sources = word_codes(MISSED_DIRECTIVE, "I keep worrying about the exams.", live)
    assert f.directive and sources["directive"] == detector.key
    assert {c for c, k in sources.items() if k == COUNSELOR_WORDS.key} == {
        "open_question", "closed_question", "reflection", "self_disclosure"}
    rules, by_rules = word_codes(MISSED_DIRECTIVE, "", None)  # the rules miss this cue
    assert not rules.directive and set(by_rules.values()) == {COUNSELOR_WORDS.key}
    asked, _ = word_codes("What is it like for you when the exams come up?", "", live)
    assert asked.open_question and not asked.directive


def test_only_a_counselor_words_stand_in_can_be_served(tmp_path):
    from scoring.errors import DetectorError

    detector, _path = _train(tmp_path / "det", tmp_path / "trained", parent="rupture-markers", codes=("withdrawal",))
    with pytest.raises(DetectorError, match="cannot be served"):
        serve(detector, {"withdrawal": object()})
    with pytest.raises(DetectorError, match="cannot be served"):
        serve(COUNSELOR_WORDS, {"directive": object()})


@pytest.mark.parametrize("argv, words", [
    (["--turn-detector", "/no/such/detector", "--feedback-turns", "1"], "no trained detector"),
    (["--turn-detector", "trained.counselor-words@nope", "--feedback-turns", "1"], "no trained detector"),
    (["--turn-detector", "{path}", "--feedback-turns", "0"], "feedback is off"),
])
def test_a_bad_turn_detector_stops_the_scorer_with_one_line(argv, words, artefact, capsys, tmp_path, monkeypatch):
    from alliance_monitor.cli import main

    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(tmp_path / "trained"))
    argv = [a.replace("{path}", str(artefact[1])) for a in argv]
    rc = main(["score", "--bootstrap", "127.0.0.1:1", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_an_edited_artefact_is_refused_by_the_scorer(tmp_path, capsys):
    from alliance_monitor.cli import main

    _detector, path = _train(tmp_path / "det", tmp_path / "trained")
    model = path / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")
    rc = main(["score", "--bootstrap", "127.0.0.1:1", "--feedback-turns", "1", "--turn-detector", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and "changed after training" in err and len(err.strip().splitlines()) == 1


@pytest.mark.integration
def test_the_worker_serves_the_trained_detector_and_the_gate_follows_its_record(
        artefact, kafka_bootstrap, tiny_hf_engine, engine_loop, unique):
    from scoring.principles import FEEDBACK_PROMPT_VERSION
    from scoring.scorer import Scorer
    from scoring.worker import WorkerConfig, run_worker
    from streams.broker import ensure_topics
    from streams.codec import decode
    from streams.contracts import CounselorFeedback, ModelIdentity, ScoreRequest
    from streams.topics import spec
    from tests.kafka_helpers import consume_all_sync, produce
    from tests.validation.test_detector_feedback_gate import _record
    from validation.records import RecordBook

    detector, path = artefact
    from alliance_monitor.commands.score import load_turn_detector

    live = load_turn_detector(str(path))
    requests, feedback_topic = f"alliance.requests.ld{unique}", f"alliance.feedback.ld{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=requests, partitions=1),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=f"{requests}.dlq",
                                                        partitions=1),
                                    dataclasses.replace(spec("alliance.feedback"), name=feedback_topic, partitions=1)])
    turns = [*EN_SESSION[:5], type(EN_SESSION[0])("counselor", MISSED_DIRECTIVE)]
    lines = [TranscriptLine(turn_id=i, speaker=t.speaker, text=t.text) for i, t in enumerate(turns)]
    sids = [f"ld-{unique}-with", f"ld-{unique}-without"]
    produce(kafka_bootstrap, requests, [(sid, ScoreRequest(request_id=f"{sid}:early", session_id=sid, phase="early",
                                                           upto_turn_id=len(lines) - 1, transcript=lines, lang="en",
                                                           counselor_id="c-1")) for sid in sids])
    model = ModelIdentity(name=tiny_hf_engine.model_name, revision=tiny_hf_engine.revision,
                          prompt_version=FEEDBACK_PROMPT_VERSION, readout="expected")
    model_passes = _record(model, {"autonomy": True, "boundary_overstepping": True})
    # the first request is scored with the trained detector's passing record in the book, the second without
    books = [RecordBook([model_passes, _record(detector.identity, {"directive": True})]), RecordBook([model_passes])]
    cfg = WorkerConfig(group_id=f"gld-{unique}", concurrency=1, timeout_s=300, max_records=2, feedback_turns=1,
                       requests_topic=requests, scores_topic="alliance.scores", feedback_topic=feedback_topic,
                       record_loader=lambda: books.pop(0), record_reload_s=0.0, turn_detector=live)
    stats = engine_loop.run(run_worker(kafka_bootstrap, Scorer(tiny_hf_engine), cfg), timeout=900)
    assert (stats.scored, stats.feedback) == (2, 2)
    got = {decode(CounselorFeedback, r.value).session_id: decode(CounselorFeedback, r.value)
           for r in consume_all_sync(kafka_bootstrap, feedback_topic, expect=2)}
    for sid in sids:
        fb = got[sid]
        assert fb.turn_id == 5 and fb.features["directive"] is True  # the rules miss it; the detector does not
        assert fb.feature_detectors["directive"] == detector.key
        assert fb.feature_detectors["open_question"] == COUNSELOR_WORDS.key
        assert (fb.pattern, fb.pattern_source, fb.principle) == ("boundary_overstepping", "features", "autonomy")
    assert got[sids[0]].validated is True  # its record passes directive
    assert got[sids[1]].validated is False  # no record of the trained identity: supervisors only
