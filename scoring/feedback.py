"""Turn-level counselor feedback with the scorer's engine and its cached session prefix.

For a few sampled counselor turns of a scored phase, the model answers nine
questions about each turn — the seven principles and the two poor-alliance
patterns (:mod:`scoring.principles`) — read out like the WAI-SR items: the
probabilities of the option tokens "1".."5" at the answer position, their
expected value. One pass per question, no sampling.

Why it is cheap: the prompt is the WAI-SR prompt's own beginning (instructions
and the same transcript) followed by the quoted turn and the question, so the
transcript — nearly all of the tokens — is served from the engine's prefix
cache that scoring the phase has just filled (``bench/feedback_cost.py``
measures it against an engine without the cache).

The word-level codes of each turn come from the word rules, or — on the codes
it was trained for — from a trained detector the scorer serves
(:mod:`scoring.live_detector`); the record names which detector answered each.

Every record is a model output: ``validated`` is True only when the newest
turn-level validation record of this exact model identity (``eval-turns
--record``) passes every code the card shows that the model answered, and each
word-level code passes on the record of the detector that answered it
(:func:`validation.gate.feedback_validated`); otherwise — no record, a failing
one, records that could not be read — it stays False and the gateway sends the
card to supervisors only (the validation gate).
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import time
from typing import TYPE_CHECKING, Any, Sequence

from streams.contracts import CounselorFeedback, Lang, ModelIdentity, Phase

from . import readout
from .engines.base import Engine
from .live_detector import word_codes
from .principles import CRITERIA, FEEDBACK_OPTIONS_TEXT, FEEDBACK_PROMPT_VERSION, PATTERNS, PRINCIPLES, AnyCriterion
from .prompts import INTRO, OPTIONS, QUESTION, TurnLike, render, transcript_text
from .scorer import _encode, fit_transcript
from .turn_features import decide, quote_of

if TYPE_CHECKING:
    from validation.records import RecordBook

    from .live_detector import LiveDetector

#: Longest part of the rated turn that goes into the prompt (characters).
PROMPT_TURN_CHARS = 600

FEEDBACK_INSTRUCTION: dict[Lang, str] = {
    "en": ("Think about one message the counselor sent you in this conversation, quoted below, and answer the "
           "multiple-choice question about it. (Output the choice on the first line.)"),
    "zh": "请回想咨询师在这段对话中发给你的一条消息（引用如下），并回答关于这条消息的选择题。（第一行输出选择）",
}
MESSAGE_LABEL: dict[Lang, str] = {"en": "The counselor's message (turn {n}): ", "zh": "咨询师的消息（第{n}轮）："}
STEM: dict[Lang, str] = {"en": "In this message, the counselor ", "zh": "在这条消息中，咨询师"}


def feedback_message(transcript: str, turn_id: int, turn_text: str, criterion: AnyCriterion, lang: Lang) -> str:
    """Intro and transcript exactly as the WAI-SR prompt has them, then the quoted turn and the question."""
    quoted = " ".join(turn_text.split())[:PROMPT_TURN_CHARS]
    return (
        f"{INTRO[lang]}\n{transcript}\n\n{FEEDBACK_INSTRUCTION[lang]}\n"
        f"{MESSAGE_LABEL[lang].format(n=turn_id)}{quoted}\n"
        f"{QUESTION[lang]}{STEM[lang]}{criterion.wording(lang)}\n{OPTIONS[lang]}{FEEDBACK_OPTIONS_TEXT[lang]}"
    )


def pick_turns(turns: Sequence, k: int, *, after_turn_id: int = -1) -> list:
    """The last ``k`` counselor turns (with a ``turn_id``) after ``after_turn_id``: the sample rated."""
    mine = [t for t in turns if t.speaker == "counselor" and getattr(t, "turn_id", -1) > after_turn_id]
    return mine[-k:] if k > 0 else []


def previous_text(turns: Sequence, turn_id: int) -> str:
    """The text of the turn before ``turn_id`` ('' for none): a trained detector reads it as context."""
    return next((str(t.text) for t in turns if getattr(t, "turn_id", None) == turn_id - 1), "")


def gated(feedback: CounselorFeedback, book: "RecordBook | None") -> CounselorFeedback:
    """The record with ``validated`` decided by the feedback gate: True only when ``book``'s newest
    turn-level record of the record's exact model identity passes every code the card shows."""
    from validation.gate import feedback_validated

    return feedback.model_copy(update={"validated": feedback_validated(book, feedback)})


class FeedbackScorer:
    """Rates counselor turns on the principles and patterns with an engine.

    ``records``: the validation records (``store.records.load_record_book``) that
    decide ``validated``; None (an offline rating, a worker without a store):
    every record stays unvalidated. ``detector``: a trained turn detector the
    scorer serves (``score --turn-detector``); its answers stand in for the word
    rules' on the codes it was trained for.
    """

    def __init__(self, engine: Engine, records: "RecordBook | None" = None, detector: "LiveDetector | None" = None):
        self.engine = engine
        self.records = records
        self.detector = detector

    def identity(self) -> ModelIdentity:
        return ModelIdentity(name=self.engine.model_name, revision=self.engine.revision,
                             prompt_version=FEEDBACK_PROMPT_VERSION, readout="expected")

    async def rate_turn(self, *, session_id: str, phase: Phase, turns: Sequence[TurnLike], turn_id: int,
                        turn_text: str, lang: Lang = "en", counselor_id: str | None = None) -> CounselorFeedback:
        """Nine one-token completions sharing the session prefix; the card built from them."""
        start = time.perf_counter()
        omitted = fit_transcript(self.engine, turns, lang, reserve=8 + PROMPT_TURN_CHARS)
        transcript = transcript_text(list(turns[omitted:]), lang, omitted=omitted)
        prompts = [_encode(self.engine, render(self.engine.tokenizer,
                                               feedback_message(transcript, turn_id, turn_text, c, lang)))
                   for c in CRITERIA]
        first = await self.engine.complete(prompts[0], max_tokens=1)  # fills the cache for the turn's questions
        rest = await asyncio.gather(*(self.engine.complete(p, max_tokens=1) for p in prompts[1:]))
        completions = [first, *rest]
        ratings: dict[str, float] = {c.key: round(readout.clamp_score(readout.expected_value(readout.option_probs(x.option_logprobs))), 4)
                   for c, x in zip(CRITERIA, completions, strict=True)}
        previous = previous_text(turns, turn_id)
        if self.detector is None:
            f, answered_by = word_codes(turn_text, previous)
        else:  # a served detector's models take ~3 ms per code: off the event loop the engine shares
            f, answered_by = await asyncio.to_thread(word_codes, turn_text, previous, self.detector)
        d = decide(ratings, f, turn_text, lang)
        return gated(CounselorFeedback(
            feedback_id=f"{session_id}:{phase}:t{turn_id}", session_id=session_id,
            counselor_id=counselor_id or "unknown", phase=phase, turn_id=turn_id, lang=lang,
            quote=quote_of(turn_text), principles={c.key: ratings[c.key] for c in PRINCIPLES},
            patterns={c.key: ratings[c.key] for c in PATTERNS}, features=f.as_dict(), feature_detectors=answered_by,
            pattern=d.pattern, pattern_source=d.pattern_source, principle=d.principle, next_move=d.next_move,
            model=self.identity(), validated=False,
            prompt_tokens=sum(x.prompt_tokens for x in completions),
            cached_tokens=sum(x.cached_tokens for x in completions),
            latency_ms=(time.perf_counter() - start) * 1000,
        ), self.records)

    async def rate(self, *, session_id: str, phase: Phase, turns: Sequence[Any], k: int, lang: Lang = "en",
                   counselor_id: str | None = None, after_turn_id: int = -1) -> list[CounselorFeedback]:
        """The last ``k`` counselor turns after ``after_turn_id``, one after another (each fills the cache)."""
        out = []
        for t in pick_turns(turns, k, after_turn_id=after_turn_id):
            out.append(await self.rate_turn(session_id=session_id, phase=phase, turns=turns, turn_id=t.turn_id,
                                            turn_text=t.text, lang=lang, counselor_id=counselor_id))
        return out
