"""Both real engines on the real demo model: same expected scores; the prefix cache is reused (one test of what
the prompt says, not of what the model answers, runs on the tiny model)."""

import pytest

from scoring import readout
from scoring.instrument import ITEMS
from scoring.prompts import render_item
from scoring.scorer import Scorer, ScoringConfig
from streams.contracts import WATCHED_DIMENSIONS

from .helpers import EN_SESSION, ZH_SESSION, RecordingEngine, common_prefix, unique_session

pytestmark = [pytest.mark.model, pytest.mark.integration]


def _ids(engine, turns, item, lang="en"):
    return engine.tokenizer.encode(render_item(engine.tokenizer, turns, item, lang), add_special_tokens=False)


def test_engines_agree_on_option_probabilities(hf_engine, vllm_engine, engine_loop, unique):
    prompts = [_ids(hf_engine, unique_session(EN_SESSION, unique), ITEMS[i]) for i in (0, 5, 8)]
    prompts.append(_ids(hf_engine, unique_session(ZH_SESSION, unique), ITEMS[10], "zh"))
    assert hf_engine.option_ids == vllm_engine.option_ids
    for ids in prompts:
        a = engine_loop.run(hf_engine.complete(ids))
        b = engine_loop.run(vllm_engine.complete(ids))
        pa, pb = readout.option_probs(a.option_logprobs), readout.option_probs(b.option_logprobs)
        assert pa == pytest.approx(pb, abs=0.01)
        assert readout.expected_value(pa) == pytest.approx(readout.expected_value(pb), abs=0.02)
        assert a.prompt_tokens == b.prompt_tokens == len(ids)


def test_engines_give_the_same_alliance_score(hf_engine, vllm_engine, engine_loop, unique):
    turns = unique_session(EN_SESSION, unique)
    a = engine_loop.run(Scorer(hf_engine).score(session_id=f"s-{unique}", phase="early", turns=turns))
    b = engine_loop.run(Scorer(vllm_engine).score(session_id=f"s-{unique}", phase="early", turns=turns))
    assert [i.item_id for i in a.items] == [f"Q{n}" for n in range(1, 13)]
    for x, y in zip(a.items, b.items, strict=True):
        assert x.expected == pytest.approx(y.expected, abs=0.02)
    for dim in ("goal", "approach", "bond"):
        assert a.dimensions[dim].score == pytest.approx(b.dimensions[dim].score, abs=0.02)
    assert a.cached_tokens == 0  # transformers has no prefix cache
    assert b.model.prompt_version == a.model.prompt_version and b.model.readout == "expected"
    # the length covariates the validation gate controls for: counts of the scored transcript
    assert a.transcript_chars == b.transcript_chars == sum(len(t.text) for t in turns)
    assert a.client_turns == b.client_turns == sum(t.speaker == "client" for t in turns) > 0


def test_items_and_next_phase_reuse_the_cached_prefix(vllm_engine, engine_loop, unique):
    rec = RecordingEngine(vllm_engine)
    scorer = Scorer(rec)
    turns = unique_session(EN_SESSION, unique)
    early = engine_loop.run(scorer.score(session_id=f"s-{unique}", phase="early", turns=turns[:6]))
    calls = list(rec.calls)
    assert len(calls) == 12
    # the first item computes the transcript; the other eleven get it from the cache
    assert calls[0][1].cached_tokens == 0
    shared = min(common_prefix(calls[0][0], ids) for ids, _ in calls[1:])
    for _ids, c in calls[1:]:
        assert c.cached_tokens > 0
        assert c.cached_tokens >= shared - 128  # CPU blocks are large: up to a block of tail is recomputed
        assert c.cached_tokens <= c.prompt_tokens
    assert early.cached_tokens == sum(c.cached_tokens for _, c in calls)

    rec.calls.clear()
    middle = engine_loop.run(scorer.score(session_id=f"s-{unique}", phase="middle", turns=turns))
    first_ids, first = rec.calls[0]
    reused = common_prefix(calls[0][0], first_ids)  # early prompt = token prefix up to its transcript end
    assert reused > 100
    assert first.cached_tokens > 0 and first.cached_tokens >= reused - 128
    assert middle.cached_tokens > early.cached_tokens


def test_rationales_only_for_watched_items(vllm_engine, engine_loop, unique):
    scorer = Scorer(vllm_engine, ScoringConfig(rationale="alerts", rationale_tokens=24))
    turns = unique_session(EN_SESSION, unique)
    score = engine_loop.run(scorer.score(session_id=f"s-{unique}", phase="late", turns=turns))
    watched = [i for i in score.items if i.dimension in WATCHED_DIMENSIONS]
    assert all(i.rationale is None for i in score.items if i.dimension not in WATCHED_DIMENSIONS)
    assert any(i.rationale for i in watched)
    for i in watched:  # quotes are spans of the item's own rationale, never invented elsewhere
        assert all(q.text in (i.rationale or "") for q in i.quotes)
    # a request naming other watched dimensions (the processor's alert settings) moves the rationales
    approach = engine_loop.run(scorer.score(session_id=f"s-{unique}", phase="late", turns=turns,
                                            watched=["approach"]))
    assert any(i.rationale for i in approach.items if i.dimension == "approach")
    assert all(i.rationale is None for i in approach.items if i.dimension != "approach")


def test_sampled_mode_reports_self_consistency(vllm_engine, engine_loop, unique):
    scorer = Scorer(vllm_engine, ScoringConfig(readout="sampled", rationale_tokens=8, seed=7))
    score = engine_loop.run(scorer.score(session_id=f"s-{unique}", phase="early", turns=unique_session(
        ZH_SESSION, unique), lang="zh"))
    assert score.model.readout == "sampled"
    assert set(score.consistency) == {"samples", "parsed_share", "icc", "fleiss_kappa"}
    assert score.consistency["samples"] == 3
    assert all(1.0 <= i.expected <= 5.0 and sum(i.probs) == pytest.approx(1.0) for i in score.items)
    for i in score.items:  # the parsed choices travel with the item (the store's self-consistency)
        assert i.samples is not None and len(i.samples) <= 3 and all(1 <= c <= 5 for c in i.samples)


def test_transformers_rationale_uses_generate(hf_engine, engine_loop, unique):
    ids = _ids(hf_engine, unique_session(EN_SESSION, unique), ITEMS[9])
    c = engine_loop.run(hf_engine.complete(ids, max_tokens=6, n=2, temperature=0.7, top_p=0.8, seed=1))
    assert len(c.texts) == 2 and all(isinstance(t, str) for t in c.texts)
    greedy = engine_loop.run(hf_engine.complete(ids))
    assert readout.option_probs(c.option_logprobs) == pytest.approx(readout.option_probs(greedy.option_logprobs),
                                                                    abs=1e-4)


def test_over_long_transcript_is_trimmed_to_fit(vllm_engine, engine_loop, unique):
    long_turns = unique_session(EN_SESSION, unique) * 12  # ~3,000 tokens > the 2,048 test context
    score = engine_loop.run(Scorer(vllm_engine).score(session_id=f"s-{unique}", phase="late", turns=long_turns))
    assert len(score.items) == 12
    assert max(score.prompt_tokens // 12, 0) <= vllm_engine.max_model_len


def test_turns_the_processor_trimmed_are_announced_in_the_prompt(tiny_hf_engine, engine_loop, unique):
    """A size-capped ScoreRequest (trimmed_turns > 0): the model is told that earlier turns are missing.

    What the prompt says, not what the model answers: the tiny model (same tokenizer and template) will do."""
    rec = RecordingEngine(tiny_hf_engine)
    turns = unique_session(EN_SESSION, unique)
    engine_loop.run(Scorer(rec, ScoringConfig(rationale="none")).score(
        session_id=f"s-{unique}", phase="late", turns=turns, trimmed_turns=7))
    prompt = tiny_hf_engine.tokenizer.decode(rec.calls[0][0])
    assert "[7 earlier turns omitted]" in prompt
