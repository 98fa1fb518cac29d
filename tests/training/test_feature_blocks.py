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
    assert set(comb.cv_mse) == {"single:good", "single:noise", "stack", "concat", "best single"}
    assert comb.chosen != "single:noise" and comb.cv_mse["single:good"] < comb.cv_mse["single:noise"]
    assert comb.stack_weights["good"] > comb.stack_weights["noise"]


def _dimension_blocks(seed: int, n: int, carries: dict[str, tuple[float, float]], *, width_b: int = 30,
                      scale: float = 0.5):
    """Blocks A (30 columns) and B; dimension d's latent = a·(A's signal) + b·(B's signal), carries[d] = (a, b).

    The items are ``scale`` × the latent plus item noise (as a rating's four items of one dimension).
    """
    from streams.contracts import DIMENSION_ITEMS, ITEM_IDS

    rng = np.random.default_rng(seed)
    za, zb = rng.normal(size=(n, 30)), rng.normal(size=(n, width_b))
    y = np.zeros((n, 12))
    for d, (a, b) in carries.items():
        sa = za @ rng.normal(size=30) / np.sqrt(30)
        sb = zb[:, :30] @ rng.normal(size=30) / np.sqrt(30)
        latent = a * sa + b * sb
        for q in DIMENSION_ITEMS[d]:  # type: ignore[index]
            y[:, ITEM_IDS.index(q)] = 3.0 + scale * latent + rng.normal(scale=0.6, size=n)
    return {"A": za, "B": zb}, y


def _held_out_r(z, y, tr, te, names=None):
    """Per candidate (and ``chosen``), per dimension: r of the dimension mean on the held-out rows."""
    from training.combine import combine
    from training.comparison import dimension_means
    from validation.stats import pearson_r

    names = names or list(z)
    kernels = {b: z[b][tr] @ z[b][tr].T for b in names}
    cross = {b: z[b][te] @ z[b][tr].T for b in names}
    comb = combine(kernels, y[tr])
    truth = dimension_means(y[te])
    out = {}
    for name, model in [*comb.models.items(), ("chosen", comb.model)]:
        pred = dimension_means(model.predict(cross, kernels))
        out[name] = {d: pearson_r(pred[d], truth[d]) for d in truth}
    return comb, out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_noise_block_never_costs_the_combination_more_than_noise(seed):
    """One block carries every dimension, a ten times wider one nothing: the chosen read-out stays within .05 of A.

    (A ridge over both blocks with one penalty loses up to .06 here: the noise block must be weighed, not added.)
    """
    z, y = _dimension_blocks(seed, 600, {"goal": (1.0, 0.0), "approach": (0.7, 0.0), "bond": (0.5, 0.0)},
                             width_b=300, scale=0.3)
    tr, te = slice(0, 250), slice(250, None)
    comb, r = _held_out_r(z, y, tr, te)
    for d in ("goal", "approach", "bond"):
        assert r["chosen"][d] >= r["single:A"][d] - 0.05, (d, comb.chosen_by_dimension, r)
        assert comb.chosen_by_dimension[d] != "single:B" and comb.stack_weights_by_dimension[d]["A"] > 0.5


def test_each_dimension_is_served_by_its_own_block_and_a_shared_one_by_both():
    """goal lives in A, bond in B, approach in both: each dimension's read-out beats each block alone where it can."""
    z, y = _dimension_blocks(3, 700, {"goal": (1.0, 0.0), "approach": (0.7, 0.7), "bond": (0.0, 1.0)})
    tr, te = slice(0, 300), slice(300, None)
    comb, r = _held_out_r(z, y, tr, te)
    assert comb.chosen_by_dimension["goal"] != "single:B" and comb.chosen_by_dimension["bond"] != "single:A"
    assert r["chosen"]["goal"] >= r["single:A"]["goal"] - 0.03
    assert r["chosen"]["bond"] >= r["single:B"]["bond"] - 0.03
    # approach needs both blocks: the combination beats each alone by a clear margin
    assert comb.chosen_by_dimension["approach"] in ("stack", "concat")
    assert r["chosen"]["approach"] > max(r["single:A"]["approach"], r["single:B"]["approach"]) + 0.1, r
    # and one global choice could not have served all three: each single block fails one dimension
    assert r["single:A"]["bond"] < 0.2 and r["single:B"]["goal"] < 0.2


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


def test_paired_differences_say_beats_only_when_the_interval_lies_above_zero():
    from training.comparison import evaluate_rows, format_table, paired_differences

    rng = np.random.default_rng(4)
    y = np.clip(np.round(3 + rng.normal(size=(300, 12))), 1, 5)
    cov = rng.normal(size=(300, 2))
    good = y + rng.normal(scale=0.8, size=y.shape)
    preds = {("combined", "late"): good, ("same", "late"): good.copy(),
             ("noise", "late"): 3 + rng.normal(size=y.shape)}
    diffs = paired_differences(preds, y, cov, against="combined", others=["same", "noise", "combined"])
    assert {(x.name, x.dimension) for x in diffs} == {(n, d) for n in ("same", "noise")
                                                       for d in ("goal", "approach", "bond")}
    for x in diffs:
        if x.name == "same":
            assert x.diff == 0 and x.verdict == "ties"
        else:
            assert x.diff > 0.3 and x.ci[0] > 0 and x.verdict == "beats"
    text = format_table(evaluate_rows(preds, y, cov), chosen="combined", differences=diffs,
                        choice={"goal": "stack", "approach": "single:lexical", "bond": "concat"})
    assert "goal = stack, approach = lexical, bond = concat" in text
    assert "approach: combined beats 1 of 2 blocks alone (ties same)" in text
