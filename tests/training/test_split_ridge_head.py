"""Pure parts of training: the time/session split, closed-form ridge with CV, the head artefact."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from scoring.errors import HeadError
from scoring.head import ReadoutHead, head_item
from scoring.prompts import Line
from streams.contracts import ITEM_IDS, ItemScore
from training.dataset import LabelledSession, fingerprint
from training.errors import TrainingError
from training.ridge import fit_ridge
from training.split import split_by_time

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _session(i: int, counselor: str, day: int, answer: float = 3.0) -> LabelledSession:
    return LabelledSession(f"s-{i}", counselor, "en", T0 + timedelta(days=day),
                           (Line("counselor", "Hello."), Line("client", f"Turn {i}.")),
                           {q: answer for q in ITEM_IDS})


def test_split_is_by_time_and_session_and_counts_shared_counselors():
    sessions = [_session(i, f"c-{i % 3}", day=i) for i in range(10)]
    sessions.append(_session(10, "c-late-only", day=20))
    split = split_by_time(sessions, 0.3)
    train_ids = {s.session_id for s in split.train}
    eval_ids = {s.session_id for s in split.evaluation}
    assert not train_ids & eval_ids and len(train_ids | eval_ids) == 11
    assert max(s.started_at for s in split.train) < min(s.started_at for s in split.evaluation)
    assert len(split.evaluation) == 3
    assert split.shared_counselors == 2  # eval: s-8 (c-2), s-9 (c-0), s-10 (only there)
    assert "counselor(s) appear on both sides" in split.summary()


def test_sessions_at_the_cutoff_instant_all_go_to_evaluation():
    sessions = [_session(i, "c", day=0 if i < 5 else 1) for i in range(10)]
    split = split_by_time(sessions, 0.2)  # cutoff falls inside the day-1 block
    assert all(s.started_at < split.cutoff for s in split.train)
    assert {s.session_id for s in split.evaluation} == {f"s-{i}" for i in range(5, 10)}


def test_split_refuses_duplicates_and_bad_shares():
    s = _session(1, "c", 0)
    with pytest.raises(TrainingError):
        split_by_time([s, s], 0.3)
    with pytest.raises(TrainingError):
        split_by_time([s], 1.0)


def test_fingerprint_depends_on_text_and_labels_not_order():
    a, b = _session(1, "c", 0), _session(2, "c", 1)
    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a, b]) != fingerprint([a, _session(2, "c", 1, answer=4.0)])


def test_ridge_recovers_a_linear_map_and_penalises_pure_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30))
    w = np.zeros(30)
    w[:3] = [1.0, -0.5, 0.25]
    signal = x @ w + 3.0 + rng.normal(scale=0.1, size=200)
    noise = rng.normal(size=200)
    fit = fit_ridge(x, np.column_stack([signal, noise]))
    pred = fit.predict(x)
    assert np.corrcoef(pred[:, 0], signal)[0, 1] > 0.99
    assert fit.alphas[1] > fit.alphas[0]  # CV picks a heavier penalty where there is nothing to learn
    x_new = rng.normal(size=(50, 30))
    assert np.corrcoef(fit.predict(x_new)[:, 0], x_new @ w)[0, 1] > 0.98


def _head(fp: str = "abc") -> ReadoutHead:
    rng = np.random.default_rng(1)
    return ReadoutHead(features="hidden", base_name="m", base_revision="r1", mean=rng.normal(size=8),
                       scale=np.ones(8), coef=rng.normal(size=(8, 12)) * 0.1, intercept=np.full(12, 3.0),
                       lineage={"data_fingerprint": fp})


def test_head_artefact_round_trip_new_identity_and_tamper_check(tmp_path):
    head = _head()
    head.save(tmp_path / "h")
    loaded = ReadoutHead.load(tmp_path / "h")
    assert loaded.identity() == head.identity()
    ident = head.identity()
    assert ident.readout == "head" and ident.name == "m" and ident.revision.startswith("r1+head-")
    assert _head("other-data").identity() != ident  # same weights, other training data: another identity
    x = np.zeros(8)
    assert loaded.predict(x) == head.predict(x)
    npz = (tmp_path / "h" / "head.npz")
    other = _head()
    object.__setattr__(other, "intercept", np.full(12, 2.0))
    npz.write_bytes(other._npz_bytes())
    with pytest.raises(HeadError, match="do not match"):
        ReadoutHead.load(tmp_path / "h")
    with pytest.raises(HeadError, match="not a head artefact"):
        ReadoutHead.load(tmp_path / "nothing")


def test_head_item_is_a_two_point_distribution_with_the_head_answer_as_mean():
    base = ItemScore(item_id="Q1", dimension="goal", expected=1.4, probs=[0.7, 0.2, 0.1, 0.0, 0.0])
    for v in (1.0, 2.25, 3.5, 4.99, 5.0):
        it = head_item(base, v)
        assert abs(sum(it.probs) - 1) < 1e-9
        assert abs(sum(p * k for p, k in zip(it.probs, range(1, 6), strict=True)) - v) < 1e-9
        assert it.expected == v


def test_a_head_refuses_an_engine_running_another_model_or_revision():
    """Fault injection: a scorer whose engine reports another revision than the head was trained on."""
    from types import SimpleNamespace

    from scoring.head import HeadScorer
    from scoring.scorer import ScoringConfig

    head = _head()
    other = SimpleNamespace(engine=SimpleNamespace(model_name="m", revision="r2"), config=ScoringConfig())
    with pytest.raises(HeadError, match="trained on m@r1"):
        HeadScorer(other, head, extractor=object())
    same = SimpleNamespace(engine=SimpleNamespace(model_name="m", revision="r1"), config=ScoringConfig())
    with pytest.raises(HeadError, match="hidden-state features"):
        HeadScorer(same, head, extractor=None)


def test_model_identity_accepts_the_head_read_out_and_still_rejects_unknown_ones():
    from pydantic import ValidationError

    from streams.contracts import ModelIdentity

    assert ModelIdentity(name="m", readout="head").readout == "head"
    assert ModelIdentity(name="m").readout == "expected"  # old records and scores read as before
    with pytest.raises(ValidationError):
        ModelIdentity(name="m", readout="svm")


def test_the_head_scorer_takes_every_argument_the_scorer_takes():
    """The worker calls ``scorer.score(**request fields)``; a head wrapper missing one (e.g. ``watched``)
    dead-letters every request with a TypeError."""
    import inspect

    from scoring.head import HeadScorer
    from scoring.scorer import Scorer

    base = set(inspect.signature(Scorer.score).parameters)
    assert base <= set(inspect.signature(HeadScorer.score).parameters)
    assert base <= set(inspect.signature(HeadScorer.score_with_base).parameters)
