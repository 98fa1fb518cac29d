"""Score one phase of one session with an engine: prompts → completions → AllianceScore.

The glue between the pure parts (prompts, read-out, metrics) and an engine. It
submits the items of a request concurrently so the engine batches them (and the
worker runs several requests at once, so batches span sessions). The first item
goes alone: it fills the prefix cache with the transcript, so the other eleven
are served from it instead of all twelve recomputing it side by side.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from dataclasses import dataclass
from statistics import fmean
from typing import Literal, Sequence

from streams.contracts import WATCHED_DIMENSIONS, AllianceScore, ItemScore, Lang, ModelIdentity, Phase, request_id_for
from validation.stats import category_counts, finite_or_none, fleiss_kappa, icc

from . import readout
from .engines.base import Completion, Engine
from .instrument import ITEMS, Item, items_of
from .prompts import PROMPT_VERSION, TurnLike, render_item

log = logging.getLogger(__name__)

Readout = Literal["expected", "sampled"]
RationaleMode = Literal["all", "alerts", "none"]


@dataclass(frozen=True)
class ScoringConfig:
    readout: Readout = "expected"
    rationale: RationaleMode = "none"
    #: new tokens for a rationale (one line with a quote or two).
    rationale_tokens: int = 64
    samples: int = 3
    temperature: float = 0.7
    top_p: float = 0.8
    seed: int | None = None

    def rationale_items(self, watched: Sequence[str] | None = None) -> set[str]:
        """Items that get a rationale; in "alerts" mode the items of the watched dimensions
        (the request's ``watched``, else the contract default the alert policy also uses)."""
        if self.rationale == "all":
            return {i.item_id for i in ITEMS}
        if self.rationale == "alerts":
            return {i.item_id for i in items_of(watched or WATCHED_DIMENSIONS)}
        return set()


@dataclass
class _Usage:
    prompt_tokens: int = 0
    cached_tokens: int = 0

    def add(self, c: Completion) -> None:
        self.prompt_tokens += c.prompt_tokens
        self.cached_tokens += c.cached_tokens


def _encode(engine: Engine, text: str) -> list[int]:
    return list(engine.tokenizer.encode(text, add_special_tokens=False))


def fit_transcript(engine: Engine, turns: Sequence[TurnLike], lang: Lang, reserve: int, already: int = 0) -> int:
    """How many of the oldest turns to omit so the longest item prompt fits the context.

    Usually 0. Dropping from the front keeps the latest (most telling) turns, at
    the price of prefix reuse with the previous phase for an over-long session.
    """
    longest = max(ITEMS, key=lambda i: len(i.wording(lang)))
    budget = engine.max_model_len - reserve
    omitted, step = 0, max(1, len(turns) // 10)
    while True:
        n = len(_encode(engine, render_item(engine.tokenizer, turns[omitted:], longest, lang,
                                            omitted=omitted + already)))
        if n <= budget:
            return omitted
        if omitted >= len(turns):
            raise ValueError(f"the prompt without any transcript ({n} tokens) exceeds the model's context "
                             f"({engine.max_model_len} tokens)")
        omitted = min(len(turns), omitted + step)


class Scorer:
    """Turns (session, phase, transcript) into an :class:`AllianceScore`."""

    def __init__(self, engine: Engine, config: ScoringConfig | None = None):
        self.engine = engine
        self.config = config or ScoringConfig()

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(name=self.engine.model_name, revision=self.engine.revision,
                             prompt_version=PROMPT_VERSION, readout=self.config.readout)

    async def score(self, *, session_id: str, phase: Phase, turns: Sequence[TurnLike], lang: Lang = "en",
                    upto_turn_id: int | None = None, counselor_id: str | None = None,
                    watched: Sequence[str] | None = None, trimmed_turns: int = 0) -> AllianceScore:
        """Score one phase. ``trimmed_turns``: oldest turns the processor already left out
        (ScoreRequest size cap); the prompt says how many earlier turns are omitted in all."""
        if not turns:
            raise ValueError("the transcript is empty: nothing to score")
        cfg = self.config
        start = time.perf_counter()
        reserve = cfg.rationale_tokens + 8
        omitted = fit_transcript(self.engine, turns, lang, reserve, already=trimmed_turns)
        kept = list(turns[omitted:])
        texts = [t.text for t in turns]
        if omitted + trimmed_turns:
            log.info("%s:%s: %d earlier turns omitted (%d by the processor's size cap, %d for the context)",
                     session_id[:40], phase, omitted + trimmed_turns, trimmed_turns, omitted)
        prompts = {item.item_id: _encode(self.engine, render_item(self.engine.tokenizer, kept, item, lang,
                                                                 omitted=omitted + trimmed_turns))
                   for item in ITEMS}
        usage = _Usage()
        want = cfg.rationale_items(watched)

        async def one(item: Item) -> tuple[ItemScore, list[int | None]]:
            ids = prompts[item.item_id]
            if cfg.readout == "sampled":
                return await self._sampled(item, ids, item.item_id in want, texts, usage)
            return await self._expected(item, ids, item.item_id in want, texts, usage), []

        first = await one(ITEMS[0])  # fills the prefix cache for the other eleven
        rest = await asyncio.gather(*(one(item) for item in ITEMS[1:]))
        results = [first, *rest]
        items = [r[0] for r in results]
        consistency = None
        if cfg.readout == "sampled":
            consistency = self._consistency([r[1] for r in results])
        return AllianceScore(
            request_id=request_id_for(session_id, phase),
            session_id=session_id,
            counselor_id=counselor_id,
            phase=phase,
            upto_turn_id=upto_turn_id if upto_turn_id is not None else len(turns) - 1,
            items=items,
            dimensions=readout.dimension_scores(items),
            model=self.identity,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            latency_ms=(time.perf_counter() - start) * 1000,
            consistency=consistency,
            # counts only: the covariates the validation gate controls for (docs/validation.md)
            transcript_chars=sum(len(t.text) for t in turns),
            client_turns=sum(1 for t in turns if t.speaker == "client"),
        )

    async def _expected(self, item: Item, ids: list[int], with_reason: bool, texts: list[str],
                        usage: _Usage) -> ItemScore:
        c = await self.engine.complete(ids, max_tokens=1)
        usage.add(c)
        probs = readout.option_probs(c.option_logprobs)
        rationale = None
        if with_reason:
            # Prefill the chosen option so the continuation is the reason line;
            # the prompt is an exact token prefix, so it is served from the cache.
            choice = readout.argmax_option(probs)
            prefilled = ids + _encode(self.engine, f"{choice}\n")
            r = await self.engine.complete(prefilled, max_tokens=self.config.rationale_tokens)
            usage.add(r)
            rationale = readout.parse_rationale(r.texts[0] if r.texts else "", after_choice=True)
        return readout.item_score(item, probs, rationale=rationale, transcript_texts=texts)

    async def _sampled(self, item: Item, ids: list[int], with_reason: bool, texts: list[str],
                       usage: _Usage) -> tuple[ItemScore, list[int | None]]:
        cfg = self.config
        c = await self.engine.complete(ids, max_tokens=cfg.rationale_tokens, n=cfg.samples,
                                       temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed)
        usage.add(c)
        choices = [readout.parse_choice(t) for t in c.texts]
        probs = readout.sampled_probs(choices)
        if probs is None:  # no sample named an option: fall back to the answer-position distribution
            probs = readout.option_probs(c.option_logprobs)
            expected = readout.expected_value(probs)
        else:
            expected = fmean(ch for ch in choices if ch is not None)
        rationale = None
        if with_reason:
            for t, ch in zip(c.texts, choices, strict=True):
                if ch is not None:
                    rationale = readout.parse_rationale(t, after_choice=False)
                    break
        parsed = [ch for ch in choices if ch is not None]
        return readout.item_score(item, probs, expected=expected, rationale=rationale, transcript_texts=texts,
                                  samples=parsed), choices

    def _consistency(self, per_item: list[list[int | None]]) -> dict[str, float | None]:
        complete = [[c for c in row if c is not None] for row in per_item if row and all(c is not None for c in row)]
        parsed = sum(c is not None for row in per_item for c in row)
        total = sum(len(row) for row in per_item)
        out: dict[str, float | None] = {
            "samples": float(self.config.samples),
            "parsed_share": parsed / total if total else None,
            "icc": None,
            "fleiss_kappa": None,
        }
        if len(complete) >= 2:
            out["icc"] = finite_or_none(icc([[float(c) for c in row] for row in complete]))
            out["fleiss_kappa"] = finite_or_none(fleiss_kappa(category_counts(complete)))
        return out
