"""Feature blocks of a site-trained head: views, lexical TF-IDF, the CV'd combination, the artefact (pure parts)."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.errors import HeadError
from scoring.feature_views import ALL_BLOCKS, parse_blocks, phase_cut, view_indices, view_text
from scoring.prompts import Line


def test_parse_blocks_expands_and_orders_and_refuses_unknown_names():
    assert parse_blocks("hidden, lexical:client,lexical") == ("lexical", "lexical:client", "hidden")
    assert parse_blocks("lexical:*") == ("lexical", "lexical:client", "lexical:counselor", "lexical:window")
    assert parse_blocks("every") == ALL_BLOCKS and len(ALL_BLOCKS) == 8
    for bad in ("", "words", "lexical:therapist", "probs:*"):
        with pytest.raises(HeadError):
            parse_blocks(bad)


def test_views_and_phase_cuts_pick_the_turns_they_name():
    speakers = ["counselor", "client"] * 6
    assert [phase_cut(12, p) for p in ("early", "middle", "late")] == [4, 8, 12]
    assert phase_cut(1, "early") == 1 and phase_cut(0, "late") == 0
    assert view_indices(speakers, "client", 4) == [1, 3]
    assert view_indices(speakers, "window", 12, window=3) == [9, 10, 11]
    assert view_indices(speakers, "window", 2, window=3) == [0, 1]
    turns = [Line("counselor", "hello  there"), Line("client", "I feel\nheard")]
    assert view_text(turns, "client") == "I feel heard" and view_text(turns, "counselor") == "hello there"


def test_lexical_reads_chinese_without_a_segmenter_and_survives_the_artefact_round_trip():
    from scoring.lexical import LexicalVectoriser

    train = ["我觉得你很理解我", "你没有听我说话", "我们一起定个目标吧", "这和我的问题无关"] * 3
    vec = LexicalVectoriser.fit(train)
    x = vec.transform(["你很理解我", "完全无关的字"])
    assert x.shape == (2, vec.dim) and x[0].nnz > 0  # character n-grams of an unsegmented sentence
    row = x[0].toarray().ravel()
    assert abs(np.linalg.norm(row) - 1.0) < 1e-9 or abs(np.linalg.norm(row) - 1 / np.sqrt(2)) < 1e-9
    vocab, idf = vec.state()
    again = LexicalVectoriser.from_state(vocab, idf)
    assert np.allclose(again.transform(["你很理解我"]).toarray(), x[0].toarray())


def _blocks(seed: int = 0, n: int = 120):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n, 30))
    noise = rng.normal(size=(n, 40))
    w = rng.normal(size=(30, 12))
    y = 3.0 + 0.3 * (signal @ w) / np.sqrt(30) + rng.normal(scale=0.3, size=(n, 12))
    return signal, noise, y


def test_combination_is_chosen_by_cv_and_prefers_the_block_with_signal():
    from training.combine import combine

    signal, noise, y = _blocks()
    comb = combine({"good": signal @ signal.T, "noise": noise @ noise.T}, y)
    assert set(comb.cv_mse) == {"single:good", "single:noise", "stack", "concat"}
    assert comb.chosen != "single:noise" and comb.cv_mse["single:good"] < comb.cv_mse["single:noise"]
    assert comb.stack_weights["good"] > comb.stack_weights["noise"]


def test_dual_weights_give_the_same_predictions_in_feature_space():
    from training.combine import combine, primal_coef

    signal, noise, y = _blocks(1)
    tr, te = slice(0, 90), slice(90, None)
    z = {"good": signal, "noise": noise}
    kernels = {b: m[tr] @ m[tr].T for b, m in z.items()}
    comb = combine(kernels, y[tr])
    for name, model in comb.models.items():
        dual = model.predict({b: m[te] @ m[tr].T for b, m in z.items()}, kernels)
        primal = np.zeros_like(dual) + model.intercept
        for b, a in model.weights.items():
            mu = z[b][tr].mean(axis=0)
            primal += (z[b][te] - mu) @ primal_coef(z[b][tr], mu, a)
        assert np.allclose(dual, primal), name


def test_block_head_round_trip_keeps_predictions_and_refuses_edits(tmp_path):
    from scoring.block_head import Block, BlockHead
    from scoring.lexical import LexicalVectoriser

    rng = np.random.default_rng(0)
    vec = LexicalVectoriser.fit(["you understand me", "you do not listen", "let us set a goal"] * 4)
    head = BlockHead([Block("lexical:client", rng.normal(size=(vec.dim, 12)), lexical=vec),
                      Block("hidden:window", rng.normal(size=(4, 12)), mean=np.zeros(4), scale=np.ones(4))],
                     np.full(12, 3.0), "m", "r1", {"data_fingerprint": "fp"})
    turns = [Line("counselor", "What brings you?"), Line("client", "you do not listen")]
    pooled = rng.normal(size=(4, 4))
    want = head.predict(turns, "en", pooled)
    head.save(tmp_path / "h")
    again = BlockHead.load(tmp_path / "h")
    assert again.revision == head.revision and again.features == "lexical:client,hidden:window"
    assert again.predict(turns, "en", pooled) == want
    with pytest.raises(HeadError, match="hidden-state features"):
        again.predict(turns, "en", None)
    z = dict(np.load(tmp_path / "h" / "head.npz"))
    z["intercept"] = z["intercept"] + 1
    np.savez(tmp_path / "h" / "head.npz", **z)
    with pytest.raises(HeadError, match="do not match their recorded revision"):
        BlockHead.load(tmp_path / "h")


def test_comparison_table_names_every_read_out_phase_and_the_references():
    from training.comparison import evaluate_rows, format_table

    rng = np.random.default_rng(2)
    y = np.clip(np.round(3 + rng.normal(size=(60, 12))), 1, 5)
    cov = rng.normal(size=(60, 2))
    preds = {("lexical", "late"): y + rng.normal(scale=0.5, size=y.shape), ("stack", "early"): rng.normal(size=y.shape)}
    text = format_table(evaluate_rows(preds, y, cov), chosen="stack")
    assert "lexical" in text and "stack *" in text and "early" in text
    assert "length-only baseline" in text and "counselor reference" in text and "end-of-session" in text
