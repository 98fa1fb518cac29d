"""``train`` end to end: head and LoRA artefacts, new identities, live application.

The base is the tiny random-weight model of the demo model's architecture
(tests/tiny_model.py), through the real engine code: training mechanics, identities
and lineage do not depend on what the model knows, and its hidden states (a random
projection of the words) still carry the synthetic corpus's cues, so the held-out
check below means something. The vLLM worker test applies a head made for the demo
model to the real vLLM engine.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from alliance_monitor.cli import main

pytestmark = [pytest.mark.model]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def tiny_base(tiny_model, monkeypatch_module):
    """Every command in this module resolves the tiny model (``ALLIANCE_MODEL``)."""
    monkeypatch_module.setenv("ALLIANCE_MODEL", str(tiny_model.path))
    return tiny_model


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="module")
def head_run(small_corpus, trained_root, tmp_path_factory, monkeypatch_module, tiny_base, feature_cache):
    """``train`` with the default blocks (every lexical and hidden view): the artefact and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("head") / "head"
    monkeypatch_module.setenv("ALLIANCE_TRAINED_DIR", str(trained_root))
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = main(["train", "--method", "head", "--labels", str(small_corpus["labels"]), "--sessions",
                   str(small_corpus["sessions"]), "--out", str(out), "--no-progress", "--cache", str(feature_cache)])
    assert rc == 0
    return out, buf.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def head_dir(head_run):
    return head_run[0]


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_train_head_writes_a_loadable_artefact_with_a_new_identity_and_lineage(head_dir, tiny_base, trained_root,
                                                                               capsys):
    from scoring.head import load_head
    from training.lineage import listing

    head = load_head(head_dir)
    ident = head.identity()
    assert ident.readout == "head" and ident.name == tiny_base.name
    assert ident.revision.startswith(tiny_base.revision + "+head-") and ident.revision != tiny_base.revision
    lin = json.loads((head_dir / "lineage.json").read_text())
    assert lin["method"] == "head" and lin["n_train"] == 84 and lin["n_eval"] == 36
    assert lin["base_name"] == tiny_base.name and lin["data_fingerprint"] == head.lineage["data_fingerprint"]
    assert [x.path for x in listing(trained_root)] == [str(head_dir)]


def test_train_prints_the_comparison_table_and_a_second_run_reuses_the_cached_hidden_states(
        head_run, small_corpus, feature_cache, tmp_path, capsys):
    _, text = head_run
    assert "held-out comparison" in text and "length-only baseline" in text and "counselor reference" in text
    for block in ("lexical:client", "lexical:counselor", "hidden:window"):
        assert f"\n{block} " in text
    assert all(f" {p} " in text for p in ("early", "middle", "late"))
    assert "sessions/s" in text and "apply cost per request" in text
    assert "120 session(s) extracted" in text  # 84 train + 36 held out, one pass each
    assert "chosen per dimension by 5-fold CV on the training split: goal = " in text
    assert "beat each block alone?" in text and "bond: " in text and " blocks alone" in text
    capsys.readouterr()
    rc = main(["train", "--method", "head", "--labels", str(small_corpus["labels"]), "--sessions",
               str(small_corpus["sessions"]), "--out", str(tmp_path / "again"), "--no-progress",
               "--features", "hidden:client,lexical", "--cache", str(feature_cache)])
    assert rc == 0
    again = capsys.readouterr()
    assert "0 session(s) extracted" in again.err and "120 read from the cache" in again.err
    assert "\nhidden:client " in again.out and "\nhidden:window " not in again.out


def test_pooled_hidden_states_of_a_cut_equal_a_pass_over_the_cut_alone(tiny_base):
    """The model is causal: pooling the early cut out of the whole pass is the early transcript's own pass."""
    from scoring.features import HiddenStateExtractor, PooledHidden
    from scoring.prompts import Line

    pooler = PooledHidden(HiddenStateExtractor(tiny_base), batch_size=2)
    turns = [Line("counselor" if i % 2 == 0 else "client", f"turn number {i} about sleep and work") for i in range(9)]
    short = [Line("client", "ok")]
    whole, other = pooler.pool([(turns, "en"), (short, "en")], per_session_cuts=[[3, 9], [1]])
    alone = pooler.pool([(turns[:3], "en")])[0]
    assert whole.shape == (2, 4, pooler.dim) and other.shape == (1, 4, pooler.dim)
    assert np.allclose(whole[0], alone[0], atol=1e-4)  # batched with padding, cut out of a longer pass
    assert not np.allclose(whole[0, 0], whole[1, 0])
    assert np.allclose(other[0, 2], 0.0)  # no counselor turn: that view pools to zeros


def test_models_status_shows_the_lineage(head_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALLIANCE_DB_URL", f"sqlite:///{tmp_path / 'store.db'}")
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["models", "status"]) == 0
    out = capsys.readouterr().out
    assert "trained models (lineage" in out and str(head_dir) in out and "+head-" in out


def test_head_moves_held_out_predictions_towards_the_labels(head_dir, small_corpus, tiny_base, engine_loop):
    """On held-out sessions (never trained on), through the real engine: one pass gives both read-outs."""
    from scoring.engines import load_engine
    from scoring.head import with_head
    from scoring.scorer import Scorer
    from store.eval import read_labels
    from tests.scoring.conftest import TEST_SETTINGS
    from training.dataset import from_files
    from training.split import split_by_time

    sessions, _ = from_files(read_labels(small_corpus["labels"]), [small_corpus["sessions"]])
    held = split_by_time(sessions, 0.3).evaluation[:24]
    engine = load_engine("transformers", tiny_base, TEST_SETTINGS)
    scorer = with_head(Scorer(engine), head_dir, tiny_base)

    async def run():
        try:
            return await asyncio.gather(*(scorer.score_with_base(session_id=s.session_id, phase="late", turns=s.turns,
                                                                 lang=s.lang) for s in held))
        finally:
            await engine.aclose()

    pairs = engine_loop.run(run(), timeout=1800)
    dims = {"goal": ("Q1", "Q2", "Q3", "Q4"), "approach": ("Q5", "Q6", "Q7", "Q8"), "bond": ("Q9", "Q10", "Q11", "Q12")}
    labels = np.array([[np.mean([s.answers[q] for q in ids]) for ids in dims.values()] for s in held])
    base = np.array([[b.dimensions[d].score for d in dims] for b, _ in pairs])
    headed = np.array([[h.dimensions[d].score for d in dims] for _, h in pairs])
    assert all(h.model.readout == "head" and b.model.readout == "expected" for b, h in pairs)
    # closer to the client's answers than the zero-shot read-out, and ranked in their direction
    assert np.abs(headed - labels).mean() < np.abs(base - labels).mean()
    r = np.corrcoef(headed.mean(axis=1), labels.mean(axis=1))[0, 1]
    assert r > 0.3, r


def test_score_file_applies_the_head(head_dir, small_corpus, capsys):
    rc = main(["score-file", str(small_corpus["sessions"]), "--engine", "transformers", "--head", str(head_dir),
               "--max-model-len", "2048", "--json"])
    assert rc == 0
    score = json.loads(capsys.readouterr().out)
    assert score["model"]["readout"] == "head" and "+head-" in score["model"]["revision"]
    assert len(score["items"]) == 12


def test_the_scoring_worker_applies_the_head_with_vllm(demo_model, vllm_engine, engine_loop, kafka_bootstrap, unique,
                                                       tmp_path):
    import dataclasses

    from scoring.head import ReadoutHead

    # a head for the demo model (what a site trains; here weights of the right shape, not trained)
    width = json.loads((demo_model.path / "config.json").read_text())["hidden_size"]
    rng = np.random.default_rng(3)
    head_dir = tmp_path / "demo-head"
    ReadoutHead(features="hidden", base_name=demo_model.name, base_revision=demo_model.revision,
                mean=np.zeros(width), scale=np.ones(width), coef=rng.normal(scale=0.01, size=(width, 12)),
                intercept=np.full(12, 3.0)).save(head_dir)

    from scoring.head import with_head
    from scoring.scorer import Scorer
    from scoring.worker import WorkerConfig, run_worker
    from streams.broker import ensure_topics
    from streams.codec import decode
    from streams.contracts import AllianceScore, ScoreRequest, TranscriptLine
    from streams.topics import spec
    from tests.kafka_helpers import consume_all_sync, produce

    # topics of its own: other worker tests leave requests in the shared alliance.requests, and a
    # new group reads it from the beginning, so max_records=1 would score someone else's request
    requests, scores = f"alliance.requests.head{unique}", f"alliance.scores.head{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=requests, partitions=1),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=f"{requests}.dlq",
                                                        partitions=1),
                                    dataclasses.replace(spec("alliance.scores"), name=scores, partitions=1)])
    lines = [TranscriptLine(turn_id=0, speaker="counselor", text="I hear how hard this has been for you."),
             TranscriptLine(turn_id=1, speaker="client", text="Yes, you really understand me.")]
    req = ScoreRequest(request_id=f"h-{unique}:late", session_id=f"h-{unique}", phase="late", upto_turn_id=1,
                       transcript=lines)
    produce(kafka_bootstrap, requests, [(req.session_id, req)])
    scorer = with_head(Scorer(vllm_engine), head_dir, demo_model)
    cfg = WorkerConfig(group_id=f"g-{unique}", max_records=1, requests_topic=requests, scores_topic=scores)
    stats = engine_loop.run(run_worker(kafka_bootstrap, scorer, cfg), timeout=900)
    assert (stats.scored, stats.dead_lettered) == (1, 0)
    (rec,) = consume_all_sync(kafka_bootstrap, scores, expect=1, where=lambda r: r.key == req.session_id.encode())
    got = decode(AllianceScore, rec.value)
    assert got.request_id == req.request_id
    assert got.model == scorer.identity and got.model.readout == "head"
    assert len(got.items) == 12


def test_train_lora_two_steps_resume_and_the_merged_model_loads(small_corpus, tmp_path, tiny_base, trained_root,
                                                                 monkeypatch, capsys):
    monkeypatch.setenv("ALLIANCE_TRAINED_DIR", str(trained_root))
    out = tmp_path / "lora"
    common = ["train", "--method", "lora", "--labels", str(small_corpus["labels"]), "--sessions",
              str(small_corpus["sessions"]), "--out", str(out), "--batch-size", "1", "--checkpoint-every", "1",
              "--no-progress"]
    assert main([*common, "--max-steps", "1"]) == 0
    assert (out / "checkpoints" / "step-1" / "state.json").is_file()
    capsys.readouterr()
    assert main([*common, "--max-steps", "2", "--resume"]) == 0
    text = capsys.readouterr().out
    assert "steps: 2 (resumed from 1)" in text

    from scoring.engines import load_engine
    from scoring.models import resolve
    from scoring.scorer import Scorer
    from tests.scoring.conftest import TEST_SETTINGS

    ref = resolve(out / "model")
    assert ref.name == tiny_base.name and ref.revision.startswith(tiny_base.revision + "+lora-")
    engine = load_engine("transformers", ref, TEST_SETTINGS)
    try:
        score = asyncio.run(Scorer(engine).score(session_id="l-1", phase="late", turns=[
            _line("counselor", "Hello."), _line("client", "I feel heard.")]))
    finally:
        asyncio.run(engine.aclose())
    assert score.model.revision == ref.revision and len(score.items) == 12
    lin = json.loads((out / "model" / "lineage.json").read_text())
    assert lin["method"] == "lora" and lin["identity"].startswith(f"{ref.name}@{ref.revision}:")


def _line(speaker, text):
    from scoring.prompts import Line

    return Line(speaker, text)


@pytest.mark.parametrize("argv, message", [
    (["train", "--labels", "missing.jsonl", "--sessions", "x.jsonl"], "label file not found"),
    (["train", "--sessions", "x.jsonl"], "give --labels FILE and --sessions FILE"),
    (["score-corpus", str(ROOT / "samples" / "s01_steady_good_alliance_en.jsonl"), "--engine", "transformers",
      "--head", "/nonexistent"],
     "not a head artefact"),
    (["score-file", str(ROOT / "samples" / "s01_steady_good_alliance_en.jsonl"), "--engine", "transformers",
      "--head", "/nonexistent"],
     "not a head artefact"),
])
def test_bad_arguments_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("argv", [["train", "--eval-share", "1.5"], ["train", "--max-steps", "0"],
                                  ["train", "--method", "svm"]])
def test_bad_option_values_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_score_corpus_refuses_a_head_of_another_base_before_loading_the_engine(tmp_path, capsys):
    from scoring.head import ReadoutHead

    rng = np.random.default_rng(0)
    ReadoutHead(features="hidden", base_name="other-model", base_revision="r9", mean=rng.normal(size=4),
                scale=np.ones(4), coef=np.zeros((4, 12)), intercept=np.full(12, 3.0)).save(tmp_path / "head")
    db = tmp_path / "store.db"
    argv = ["score-corpus", str(ROOT / "samples" / "s01_steady_good_alliance_en.jsonl"), "--engine", "transformers",
            "--head", str(tmp_path / "head"), "--db", f"sqlite:///{db}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the head was trained on other-model@r9" in err and err.count("\n") == 1
    assert not db.exists()  # refused before the store (and the engine) was touched


def test_an_unknown_feature_block_is_one_line_exit_2(small_corpus, capsys):
    argv = ["train", "--labels", str(small_corpus["labels"]), "--sessions", str(small_corpus["sessions"]),
            "--features", "lexical,words", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "unknown feature block 'words'" in err[-1] and "Traceback" not in "\n".join(err)


def test_the_truncated_hidden_pass_equals_the_whole_models_hidden_states_at_the_layer(tiny_base):
    """Only the layers below the pooled one run, and the state is exactly ``hidden_states[layer]`` of the full model."""
    import torch
    from transformers import AutoModelForCausalLM

    from scoring.features import HiddenStateExtractor

    ext = HiddenStateExtractor(tiny_base)
    full = AutoModelForCausalLM.from_pretrained(tiny_base.path, dtype=torch.float32).eval()
    assert len(ext.model.layers) == ext.layer < full.config.num_hidden_layers
    ids = ext.tokenizer(["I could not sleep again, work keeps me up", "ok"], padding=True,
                        add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        want = full(**ids, output_hidden_states=True, use_cache=False).hidden_states[ext.layer]
    got = ext.states(ids.input_ids, ids.attention_mask)
    real = ids.attention_mask.bool()
    assert got.shape == want.shape
    assert torch.allclose(got[real], want[real], atol=1e-5)
    assert not torch.allclose(got[real], full.model.norm(want)[real], atol=1e-3)  # not the normed last state


def test_bfloat16_features_follow_float32_and_are_keyed_apart(tiny_base):
    """The number format is part of the cache key; float32 keeps its original key."""
    from scoring.features import HiddenStateExtractor, PooledHidden
    from scoring.prompts import Line

    turns = [Line("counselor" if i % 2 == 0 else "client", f"turn {i}: sleep, work and my sister") for i in range(8)]
    f32 = PooledHidden(HiddenStateExtractor(tiny_base))
    b16 = PooledHidden(HiddenStateExtractor(tiny_base, dtype="bfloat16"))
    assert f32.salt() == f"{tiny_base.name}@{tiny_base.revision}/layer1/max2048"
    assert b16.salt() == f32.salt() + "/bfloat16"
    a, b = f32.pool([(turns, "en")])[0], b16.pool([(turns, "en")])[0]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999 and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="float16"):
        HiddenStateExtractor(tiny_base, dtype="float16")


def test_the_live_pass_gives_the_features_training_extracted(tiny_base, small_corpus, tmp_path):
    """What the head reads at apply time (one request, batch of one) is what ``train`` cached (batched, padded)."""
    from scoring.feature_views import PHASES, VIEWS, phase_cut
    from scoring.features import BLOCK_DTYPE, HiddenStateExtractor, PooledHidden
    from store.eval import read_labels
    from training.block_training import FeatureCache, extract_hidden
    from training.dataset import from_files

    sessions, _ = from_files(read_labels(small_corpus["labels"]), [small_corpus["sessions"]])
    rows = sessions[:6]
    pooler = PooledHidden(HiddenStateExtractor(tiny_base, dtype=BLOCK_DTYPE))
    ext = extract_hidden(pooler, rows, FeatureCache(tmp_path), progress=False)
    live = PooledHidden(pooler.extractor, batch_size=1)  # as scoring.head.HeadScorer builds it
    for s, cached in zip(rows, ext.hidden, strict=True):
        for p, phase in enumerate(PHASES):
            turns = list(s.turns[:phase_cut(len(s.turns), phase)])
            now = live.pool([(turns, s.lang)])[0][0]
            assert now.shape == (len(VIEWS), pooler.dim)
            # bfloat16 rounds a little differently in another batch shape (measured: 3e-4 of the scale)
            assert np.abs(now - cached[p]).max() <= 2e-3 * np.abs(cached[p]).max(), phase


def test_a_head_records_its_hidden_pass_and_refuses_another(tmp_path):
    from scoring.block_head import Block, BlockHead
    from scoring.errors import HeadError

    ident = {"layer": 15, "dtype": "bfloat16", "max_tokens": 2048}
    head = BlockHead([Block("hidden", np.ones((4, 12)), mean=np.zeros(4), scale=np.ones(4))], np.zeros(12),
                     "m", "r", {}, dict(ident))
    loaded = BlockHead.load(head.save(tmp_path / "h"))
    assert loaded.hidden == ident and loaded.hidden_dtype == "bfloat16" and loaded.revision == head.revision
    assert BlockHead(head.blocks, head.intercept, "m", "r").revision != head.revision
    loaded.check_hidden(ident)
    with pytest.raises(HeadError, match="dtype bfloat16 \\(head\\) vs float32 \\(pass\\)"):
        loaded.check_hidden({**ident, "dtype": "float32"})
    old = BlockHead(head.blocks, head.intercept, "m", "r")  # from before the record: float32
    assert old.hidden_dtype == "float32"
    with pytest.raises(HeadError):
        old.check_hidden(ident)
