"""Cheap process features of one counselor turn (en + zh) and the feedback decision. Pure.

Why beside the model ratings: open vs closed questions, reflections, advice or
directives and self-disclosure are visible in the words themselves; they cost
nothing, work with any model, and make the feedback concrete even when the
model's ratings carry little signal (the demo model's do not).

:func:`decide` turns ratings + features into the card: which poor-alliance
pattern the turn shows, which principle to work on, and one next move that
quotes the counselor's own turn.
"""

from __future__ import annotations

__layer__ = "shell"

import re
from dataclasses import dataclass
from typing import Literal

from streams.contracts import PatternKey, PrincipleKey
from streams.signals import is_directive, is_question, is_reflection, text_length

from .principles import BY_KEY, PRINCIPLES

_OPEN_EN = re.compile(r"^\s*(what|how|why|tell me|describe|in what way|what's|how's)\b", re.I)
_OPEN_ZH = re.compile(r"(什么|怎么|为什么|如何|怎样|哪些|说说|讲讲|多说一些)")
_SELF_DISCLOSURE_EN = re.compile(r"\b(i also|me too|when i was|in my (own )?experience|i used to|i've been there|"
                                 r"i remember when i)\b", re.I)
_SELF_DISCLOSURE_ZH = re.compile(r"(我也(曾|有过|经历)|我以前也|我自己也|我当年|我的经验是)")
#: A counselor turn this short with no question and no reflection only acknowledges.
PASSIVE_MAX_LENGTH = 8
#: A model rating of a pattern at or above this names the pattern (when no feature did).
PATTERN_THRESHOLD = 3.5
QUOTE_CHARS = 80


@dataclass(frozen=True)
class TurnFeatures:
    open_question: bool
    closed_question: bool
    reflection: bool
    directive: bool
    self_disclosure: bool
    length: int

    def as_dict(self) -> dict[str, bool]:
        return {"open_question": self.open_question, "closed_question": self.closed_question,
                "reflection": self.reflection, "directive": self.directive, "self_disclosure": self.self_disclosure}


def features(text: str) -> TurnFeatures:
    question = is_question(text)
    opened = question and bool(_OPEN_EN.search(text) or _OPEN_ZH.search(text))
    return TurnFeatures(
        open_question=opened, closed_question=question and not opened, reflection=is_reflection(text),
        directive=is_directive(text), self_disclosure=bool(_SELF_DISCLOSURE_EN.search(text)
                                                           or _SELF_DISCLOSURE_ZH.search(text)),
        length=text_length(text),
    )


def feature_patterns(f: TurnFeatures) -> list[PatternKey]:
    """Patterns the words alone show: advice/directives overstep; a bare acknowledgement is passive."""
    out: list[PatternKey] = []
    if f.directive:
        out.append("boundary_overstepping")
    if (not f.directive and not f.reflection and not f.open_question and not f.closed_question
            and f.length <= PASSIVE_MAX_LENGTH):
        out.append("passive_response")
    return out


def quote_of(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Decision:
    pattern: PatternKey | None
    pattern_source: Literal["features", "model"] | None
    principle: PrincipleKey  # the one to work on next
    next_move: str


#: When a pattern is found, the principle its remedy serves.
PATTERN_PRINCIPLE: dict[PatternKey, PrincipleKey] = {"boundary_overstepping": "autonomy", "passive_response": "self_exploration"}
#: the pattern ratings read when the words show none, in this order
_RATED_PATTERNS: tuple[PatternKey, ...] = ("boundary_overstepping", "passive_response")


def decide(ratings: dict[str, float], f: TurnFeatures, text: str, lang: str) -> Decision:
    """The pattern (features first, then the model's pattern ratings), the principle to work on, the move."""
    pattern: PatternKey | None = None
    source: Literal["features", "model"] | None = None
    by_words = feature_patterns(f)
    if by_words:
        pattern, source = by_words[0], "features"
    else:
        rated = [(ratings[k], k) for k in _RATED_PATTERNS if k in ratings]
        high = [x for x in rated if x[0] >= PATTERN_THRESHOLD]
        if high:
            pattern, source = max(high)[1], "model"
    if pattern is not None:
        principle = PATTERN_PRINCIPLE[pattern]
    else:
        principle = min((ratings.get(p.key, 5.0), p.key) for p in PRINCIPLES)[1]
    move = BY_KEY[principle].next_move["zh" if lang == "zh" else "en"].format(quote=quote_of(text, 60))
    return Decision(pattern, source, principle, move)


#: The client codes the rupture-marker rules speak for, and the cue names behind each. A plain
#: acknowledgement is left out: alone it is not a marker (issue 23; the episode rules read it in context).
CLIENT_RULE_CODES: dict[str, str] = {"withdrawal": "withdrawal", "confrontation": "confrontation"}


def rule_codes(text: str, speaker: str) -> dict[str, bool]:
    """What the word rules say about one turn, per turn code: the ``counselor-words`` detector's features for a
    counselor turn, the ``rupture-markers`` detector's cue families for a client turn (eval-turns, bench)."""
    from streams.rupture_cues import ACKNOWLEDGEMENT, client_cues

    if speaker == "counselor":
        return features(text).as_dict()
    families = {c.family for c in client_cues(text) if c.name != ACKNOWLEDGEMENT}
    return {code: family in families for code, family in CLIENT_RULE_CODES.items()}
