"""Turn-level counselor feedback: features and the card (pure), the shared prefix (real tokenizer),
and the real vLLM engine reusing the session's cached prefix; through the worker to alliance.feedback."""

from __future__ import annotations

import pytest

from scoring.feedback import FeedbackScorer, feedback_message, pick_turns
from scoring.instrument import ITEMS
from scoring.principles import CRITERIA, PATTERNS, PRINCIPLES
from scoring.prompts import render, transcript_text, user_message
from scoring.scorer import Scorer
from scoring.turn_features import decide, feature_patterns, features, quote_of
from streams.contracts import TranscriptLine

from .helpers import EN_SESSION, ZH_SESSION, RecordingEngine, common_prefix, unique_session

FLAT = {c.key: 3.0 for c in CRITERIA}


def lines(turns) -> list[TranscriptLine]:
    return [TranscriptLine(turn_id=i, speaker=t.speaker, text=t.text) for i, t in enumerate(turns)]


def test_seven_principles_two_patterns_each_in_both_languages_with_a_move():
    assert [p.key for p in PRINCIPLES] == ["empathy", "relevance", "conciseness", "safety", "self_exploration",
                                          "autonomy", "change_stage"]
    assert [p.key for p in PATTERNS] == ["passive_response", "boundary_overstepping"]
    for c in CRITERIA:
        assert c.wording("en") and c.wording("zh")
    for p in PRINCIPLES:
        assert "{quote}" in p.next_move["en"] and "{quote}" in p.next_move["zh"]


@pytest.mark.parametrize("text, expected", [
    ("What is that like for you?", {"open_question": True}),
    ("Do you have a study timetable?", {"closed_question": True}),
    ("It sounds like this has been exhausting.", {"reflection": True}),
    ("You should try it again, but with your phone in another room.", {"directive": True}),
    ("I also struggled with exams when I was at university.", {"self_disclosure": True}),
    ("那对你来说是什么样的感受？", {"open_question": True}),
    ("你每周运动吗？", {"closed_question": True}),
    ("建议你每周至少运动三次。", {"directive": True}),
])
def test_cheap_features_en_zh(text, expected):
    got = features(text).as_dict()
    assert {k: v for k, v in got.items() if v} == expected


def test_patterns_from_the_words_and_the_card_quotes_the_counselors_turn():
    assert feature_patterns(features("You should make a new timetable with five hours a day.")) == ["boundary_overstepping"]
    assert feature_patterns(features("嗯嗯。")) == ["passive_response"]
    assert feature_patterns(features("我明白。")) == ["passive_response"]
    assert feature_patterns(features("So there's a loop: the anxiety makes it hard to take anything in.")) == []
    d = decide(FLAT, features("You should make a new timetable."), "You should make a new timetable.", "en")
    assert (d.pattern, d.pattern_source, d.principle) == ("boundary_overstepping", "features", "autonomy")
    assert '"You should make a new timetable."' in d.next_move and "What feels doable to you?" in d.next_move
    zh = decide(FLAT, features("嗯。"), "嗯。", "zh")
    assert (zh.pattern, zh.principle) == ("passive_response", "self_exploration") and "“嗯。”" in zh.next_move


def test_without_a_word_pattern_the_model_ratings_decide():
    text = "Which exam is first?"
    ratings = {**FLAT, "boundary_overstepping": 4.2, "empathy": 1.4}
    assert decide(ratings, features(text), text, "en").pattern == "boundary_overstepping"
    low = decide({**FLAT, "empathy": 1.4}, features(text), text, "en")
    assert (low.pattern, low.principle) == (None, "empathy") and "Which exam is first?" in low.next_move
    assert quote_of("x" * 300).endswith("…") and len(quote_of("x" * 300)) == 80


def test_pick_turns_takes_the_last_counselor_turns():
    t = lines(EN_SESSION)
    assert [x.turn_id for x in pick_turns(t, 2)] == [8, 10]
    assert [x.turn_id for x in pick_turns(t, 5, after_turn_id=6)] == [8, 10]
    assert pick_turns(t, 0) == []


@pytest.mark.model
def test_feedback_prompt_shares_the_wai_sr_prompts_token_prefix(tokenizer):
    turns = EN_SESSION
    transcript = transcript_text(turns, "en")
    item_ids = tokenizer.encode(render(tokenizer, user_message(transcript, ITEMS[0], "en")), add_special_tokens=False)
    fb_ids = tokenizer.encode(render(tokenizer, feedback_message(transcript, 10, turns[10].text, CRITERIA[0], "en")),
                              add_special_tokens=False)
    upto_transcript = tokenizer.encode(render(tokenizer, user_message(transcript, ITEMS[0], "en")).split(
        transcript)[0] + transcript, add_special_tokens=False)
    assert common_prefix(item_ids, fb_ids) >= len(upto_transcript) - 1  # the whole transcript is shared


@pytest.mark.model
@pytest.mark.integration
def test_rating_turns_after_scoring_reuses_the_cached_session_prefix(vllm_engine, engine_loop, unique):
    turns = lines(unique_session(EN_SESSION, unique))
    rec = RecordingEngine(vllm_engine)
    engine_loop.run(Scorer(rec).score(session_id=f"f-{unique}", phase="early", turns=turns))
    item_ids = rec.calls[0][0]
    rec.calls.clear()
    rated = engine_loop.run(FeedbackScorer(rec).rate(session_id=f"f-{unique}", phase="early", turns=turns, k=2,
                                                     counselor_id="c-1"))
    assert [f.turn_id for f in rated] == [8, 10] and len(rec.calls) == 18
    for f in rated:
        assert set(f.principles) == {p.key for p in PRINCIPLES} and set(f.patterns) == {p.key for p in PATTERNS}
        assert all(1.0 <= v <= 5.0 for v in [*f.principles.values(), *f.patterns.values()])
        assert (f.quote == turns[f.turn_id].text and f.quote in f.next_move) or f.quote[:40] in f.next_move
        assert f.validated is False and f.model.prompt_version == "turn-feedback-v1"
        assert 0 < f.cached_tokens <= f.prompt_tokens
    # every question, the very first included, is served the transcript the scored phase left in the cache
    for ids, c in rec.calls:
        shared = common_prefix(item_ids, ids)
        assert shared > 200 and c.cached_tokens >= shared - 128  # CPU blocks: up to a block of tail is recomputed


@pytest.mark.model
@pytest.mark.integration
def test_the_worker_sends_feedback_for_the_last_counselor_turns(kafka_bootstrap, vllm_engine, engine_loop, unique):
    import dataclasses

    from scoring.worker import WorkerConfig, run_worker
    from streams.broker import ensure_topics
    from streams.codec import decode
    from streams.contracts import CounselorFeedback, ScoreRequest
    from streams.topics import spec
    from tests.kafka_helpers import consume_all_sync, produce

    sid = f"wf-{unique}"
    # topics of its own: other worker tests read the shared alliance.requests from the beginning
    requests, feedback_topic = f"alliance.requests.fb{unique}", f"alliance.feedback.fb{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=requests, partitions=1),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=f"{requests}.dlq",
                                                        partitions=1),
                                    dataclasses.replace(spec("alliance.feedback"), name=feedback_topic, partitions=1)])
    t = lines(unique_session(ZH_SESSION, unique))
    req = ScoreRequest(request_id=f"{sid}:early", session_id=sid, phase="early", upto_turn_id=3, transcript=t,
                       lang="zh", counselor_id="c-zh")
    produce(kafka_bootstrap, requests, [(sid, req)])
    cfg = WorkerConfig(group_id=f"gf-{unique}", concurrency=1, timeout_s=300, max_records=1, feedback_turns=1,
                       requests_topic=requests, scores_topic="alliance.scores", feedback_topic=feedback_topic)
    stats = engine_loop.run(run_worker(kafka_bootstrap, Scorer(vllm_engine), cfg), timeout=900)
    assert (stats.scored, stats.feedback) == (1, 1)
    (rec,) = consume_all_sync(kafka_bootstrap, feedback_topic, expect=1, where=lambda r: r.key == sid.encode())
    fb = decode(CounselorFeedback, rec.value)
    assert (fb.feedback_id, fb.turn_id, fb.lang, fb.counselor_id) == (f"{sid}:early:t2", 2, "zh", "c-zh")
    assert fb.quote == t[2].text and fb.cached_tokens > 0 and not fb.validated


def test_tail_describes_feedback_without_the_quote():
    from alliance_monitor.commands.broker import describe
    from tests.gateway.test_feedback_gateway import feedback

    fb = feedback("s-1", "c-1", 27, "You should try it again, but with your phone in another room.")
    line = describe(fb)
    assert line == "s-1:middle:t27 turn 27: pattern boundary_overstepping, work on autonomy (unvalidated)"
    assert "phone" not in line
