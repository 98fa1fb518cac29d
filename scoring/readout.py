"""Read-out: from option log-probabilities and generated text to item and dimension scores.

Pure functions, no engine imports, so they are tested on hand-made distributions.

Default mode ("expected"): the probabilities the model gives to the option tokens
"1".."5" at the answer position, renormalised over those five; the item score is
their expected value and the item spread their standard deviation. One pass, no
sampling noise. "sampled" mode is the published protocol: parse the chosen option
from n sampled answers and average.

Quotes in a rationale are checked against the transcript. A quote that does not
occur there is kept with ``verified=False`` so a reader sees the model made it up;
the alert policy never passes it on as evidence.
"""

from __future__ import annotations

__layer__ = "core"

import math
import re
import unicodedata
from statistics import fmean
from typing import Sequence

from streams.contracts import DIMENSIONS, Dimension, DimensionScore, ItemScore, Quote

from .errors import ReadoutError
from .instrument import OPTION_VALUES, Item

#: Longest rationale kept (characters); a runaway generation is cut here.
MAX_RATIONALE_CHARS = 600


# --------------------------------------------------------------------------- options

def option_probs(logprobs: Sequence[float]) -> list[float]:
    """Renormalise five option log-probabilities into probabilities summing to 1."""
    if len(logprobs) != len(OPTION_VALUES):
        raise ReadoutError(f"expected {len(OPTION_VALUES)} option log-probabilities, got {len(logprobs)}")
    finite = [lp for lp in logprobs if lp is not None and math.isfinite(lp)]
    if not finite:
        raise ReadoutError("no option token has a finite log-probability")
    top = max(finite)
    weights = [math.exp(lp - top) if lp is not None and math.isfinite(lp) else 0.0 for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def expected_value(probs: Sequence[float]) -> float:
    return sum(p * v for p, v in zip(probs, OPTION_VALUES, strict=True))


def spread(probs: Sequence[float]) -> float:
    """Standard deviation of the option distribution (0 = certain, 2 = split between 1 and 5)."""
    mean = expected_value(probs)
    return math.sqrt(max(0.0, sum(p * (v - mean) ** 2 for p, v in zip(probs, OPTION_VALUES, strict=True))))


def argmax_option(probs: Sequence[float]) -> int:
    return OPTION_VALUES[max(range(len(probs)), key=lambda i: probs[i])]


def clamp_score(x: float) -> float:
    """Keep float round-off (4.9999999 / 5.0000001) inside the contract's [1, 5]."""
    return min(5.0, max(1.0, x))


# --------------------------------------------------------------------------- parsing

_CHOICE = re.compile(r"(?<![0-9])([1-5])(?![0-9])")
_REASON_PREFIX = re.compile(
    r"^\s*(?:[-*]\s*)?(?:reasons?|rationale|because|explanation|理由|原因)\s*[:：]?\s*", re.IGNORECASE
)
_OPTION_WORDS = re.compile(r"^\s*(?:seldom|sometimes|fairly often|very often|always|很少|有时|相当频繁|非常频繁|总是)\b",
                           re.IGNORECASE)
_CHOICE_PREFIX = re.compile(r"^\s*(?:choice|answer|option|选择|答案|选项)?\s*[:：]?\s*[1-5](?![0-9])[.、:：)]?\s*",
                            re.IGNORECASE)


def parse_choice(text: str) -> int | None:
    """The option chosen on the first non-empty line of an answer (None if none)."""
    norm = unicodedata.normalize("NFKC", text)  # full-width ３ → 3
    for line in norm.splitlines():
        if line.strip():
            m = _CHOICE.search(line)
            return int(m.group(1)) if m else None
    return None


def parse_rationale(continuation: str, *, after_choice: bool = True) -> str | None:
    """The reason from a continuation.

    ``after_choice=True``: the continuation follows a prefilled choice line, so it
    is the reason itself. Otherwise the first line is the choice and is dropped
    (when it holds more than the digit, the rest of it is kept).
    """
    text = continuation.strip()
    if not text:
        return None
    lines = [ln.strip() for ln in text.splitlines()]
    if not after_choice:
        first = lines[0]
        rest = _CHOICE_PREFIX.sub("", first, count=1) if _CHOICE_PREFIX.match(first) else first
        rest = _OPTION_WORDS.sub("", rest, count=1).strip(" .;,:：；，")
        lines = ([rest] if rest else []) + lines[1:]
    body: list[str] = []
    for ln in lines:
        if not ln:
            if body:
                break  # the reason is one paragraph; anything after a blank line is rambling
            continue
        body.append(ln)
    reason = _REASON_PREFIX.sub("", " ".join(body), count=1).strip()
    if not reason:
        return None
    return reason[:MAX_RATIONALE_CHARS]


# --------------------------------------------------------------------------- quotes

_QUOTE_PATTERNS = (
    re.compile(r'"([^"\n]+)"'),          # "…"
    re.compile(r"\u201c([^\u201d\n]+)\u201d"),  # “…”
    re.compile(r"\u300c([^\u300d\n]+)\u300d"),  # 「…」
    re.compile(r"\u300e([^\u300f\n]+)\u300f"),  # 『…』
)
_LABEL = re.compile(r"^(?:counselor|counsellor|client|therapist|咨询师|来访者)\s*[:：]\s*", re.IGNORECASE)
_EDGE_PUNCT = " \t.,!?;:…。，！？；：、'\"“”‘’「」『』()（）-—"
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.+|…+)\s*")


def extract_quotes(text: str | None) -> list[str]:
    """Quoted spans in a rationale, in order of appearance, without duplicates."""
    if not text:
        return []
    found: list[tuple[int, str]] = []
    for pat in _QUOTE_PATTERNS:
        found.extend((m.start(), m.group(1).strip()) for m in pat.finditer(text))
    out: list[str] = []
    for _, q in sorted(found):
        if q and q not in out:
            out.append(q)
    return out


def normalise(text: str) -> str:
    """Compare quotes loosely: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _fragments(quote: str) -> list[str]:
    q = _LABEL.sub("", normalise(quote))
    parts = [p.strip(_EDGE_PUNCT) for p in _ELLIPSIS.split(q)]
    return [p for p in parts if p]


def verify_quote(quote: str, transcript_texts: Sequence[str]) -> bool:
    """True if the quote (ignoring case, spacing, edge punctuation, a speaker label,
    and "…" elisions) occurs in one message of the transcript."""
    frags = _fragments(quote)
    if not frags or sum(len(f) for f in frags) < 2:
        return False
    messages = [normalise(t) for t in transcript_texts]
    return any(all(f in m for f in frags) for m in messages)


def quotes_for(rationale: str | None, transcript_texts: Sequence[str]) -> list[Quote]:
    return [Quote(text=q, verified=verify_quote(q, transcript_texts)) for q in extract_quotes(rationale)]


# --------------------------------------------------------------------------- scores

def item_score(item: Item, probs: Sequence[float], *, expected: float | None = None,
               rationale: str | None = None, transcript_texts: Sequence[str] = (),
               samples: Sequence[int] | None = None) -> ItemScore:
    """One ItemScore; ``expected`` overrides the distribution mean (sampled mode),
    ``samples`` are the parsed choices of the sampled read-out."""
    value = expected_value(probs) if expected is None else expected
    return ItemScore(
        item_id=item.item_id,
        dimension=item.dimension,
        expected=clamp_score(value),
        probs=[float(p) for p in probs],
        rationale=rationale,
        quotes=quotes_for(rationale, transcript_texts),
        samples=list(samples) if samples is not None else None,
    )


def sampled_probs(choices: Sequence[int | None]) -> list[float] | None:
    """Empirical distribution of the parsed choices (None if no sample parsed)."""
    valid = [c for c in choices if c is not None]
    if not valid:
        return None
    return [valid.count(v) / len(valid) for v in OPTION_VALUES]


def dimension_scores(items: Sequence[ItemScore]) -> dict[Dimension, DimensionScore]:
    """Dimension = mean of its items' scores; spread = mean of the items' std devs."""
    out: dict[Dimension, DimensionScore] = {}
    for dim in DIMENSIONS:
        mine = [i for i in items if i.dimension == dim]
        if mine:
            out[dim] = DimensionScore(
                score=clamp_score(fmean(i.expected for i in mine)),
                spread=fmean(spread(i.probs) for i in mine),
            )
    return out
