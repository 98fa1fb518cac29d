"""Turn-level counselor feedback: what a counselor turn is rated on, in English and Chinese.

Seven principles a published rubric rates a counselor response on — empathy,
relevance, conciseness, safety, facilitation of self-exploration, promotion of
autonomy and confidence, identifying the stage of and reasons for change — and
the two counselor patterns that dominate poor-alliance online sessions: the
*passive response* (answering a statement without exploring the core issue) and
*boundary-overstepping* (directing the client, compromising their autonomy).

Each is one question the model answers about one counselor turn, worded from the
client's point of view (the same frame as the WAI-SR prompt, so the prompt can
share its cached prefix), on a five-option scale. Like the instrument, the wording
is part of the model identity (:data:`FEEDBACK_PROMPT_VERSION`).

Each principle also has one concrete next move, in both languages, that the
feedback card offers when that principle is the turn's weakest.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from streams.contracts import Lang, PatternKey, PrincipleKey

K = TypeVar("K", bound=str)

FEEDBACK_PROMPT_VERSION = "turn-feedback-v1"

FEEDBACK_OPTIONS_TEXT: dict[Lang, str] = {
    "en": "1. Not at all; 2. A little; 3. Somewhat; 4. Mostly; 5. Completely",
    "zh": "1. 完全没有；2. 有一点；3. 一般；4. 大部分是；5. 完全是",
}


@dataclass(frozen=True)
class Criterion(Generic[K]):
    """One thing a counselor turn is rated on: a principle or a poor-alliance pattern."""

    key: K
    kind: Literal["principle", "pattern"]
    label: dict[Lang, str]
    statement: dict[Lang, str]  # completes "In this message, the counselor …"
    next_move: dict[Lang, str]  # principles only: what to do instead, "{quote}" is the counselor's turn

    def wording(self, lang: Lang) -> str:
        return self.statement[lang]


PRINCIPLES: tuple[Criterion[PrincipleKey], ...] = (
    Criterion("empathy", "principle", {"en": "empathy", "zh": "共情"},
              {"en": "shows that they understand how I feel.", "zh": "让我感到他/她理解我的感受。"},
              {"en": "Before the next question, reflect the feeling behind what they just wrote — "
                     "instead of \"{quote}\", try \"It sounds like this has been really hard for you.\"",
               "zh": "在下一个问题之前，先回应对方话里的感受——与其说“{quote}”，不如试试“听起来这段时间你真的很辛苦。”"}),
    Criterion("relevance", "principle", {"en": "relevance", "zh": "切题"},
              {"en": "responds to what I actually said.", "zh": "回应的是我真正说的内容。"},
              {"en": "Answer what they just said before moving on: pick up their own words, not \"{quote}\".",
               "zh": "先回应对方刚才说的内容，用对方自己的话接下去，而不是“{quote}”。"}),
    Criterion("conciseness", "principle", {"en": "conciseness", "zh": "简洁"},
              {"en": "is brief and easy to follow.", "zh": "简短、容易理解。"},
              {"en": "Say less: one reflection or one question per message. \"{quote}\" asks too much at once.",
               "zh": "少说一点：每条消息只做一个回应或问一个问题。“{quote}”一次说得太多了。"}),
    Criterion("safety", "principle", {"en": "safety", "zh": "安全"},
              {"en": "keeps me safe and says nothing that could hurt me.", "zh": "让我感到安全，没有说可能伤害我的话。"},
              {"en": "Check how that landed: \"I said '{quote}' — how was that to read?\"",
               "zh": "确认一下对方的感受：“我刚才说‘{quote}’，你读到的时候感觉怎么样？”"}),
    Criterion("self_exploration", "principle", {"en": "self-exploration", "zh": "促进自我探索"},
              {"en": "helps me explore my own thoughts and feelings.", "zh": "帮助我探索自己的想法和感受。"},
              {"en": "Ask one open question about their experience instead: not \"{quote}\" but \"What is that like for you?\"",
               "zh": "换成一个关于对方体验的开放式问题：不是“{quote}”，而是“那对你来说是什么样的感受？”"}),
    Criterion("autonomy", "principle", {"en": "autonomy and confidence", "zh": "自主与信心"},
              {"en": "respects my own choices and builds my confidence.", "zh": "尊重我自己的选择，增强我的信心。"},
              {"en": "Hand the choice back: instead of \"{quote}\", ask \"What feels doable to you?\"",
               "zh": "把选择权交还给对方：与其说“{quote}”，不如问“你觉得哪一步对你来说是可行的？”"}),
    Criterion("change_stage", "principle", {"en": "stage of change", "zh": "改变阶段"},
              {"en": "understands how ready I am to change, and why.", "zh": "理解我准备好改变到什么程度，以及原因。"},
              {"en": "Ask where they are before planning: \"How ready do you feel to change this, 0 to 10?\" — "
                     "not \"{quote}\".",
               "zh": "先了解对方的准备程度，再做计划：“从0到10，你觉得自己有多准备好去改变？”——而不是“{quote}”。"}),
)

PATTERNS: tuple[Criterion[PatternKey], ...] = (
    Criterion("passive_response", "pattern", {"en": "passive response", "zh": "被动回应"},
              {"en": "only acknowledges what I said without exploring what matters most to me.",
               "zh": "只是附和我说的话，没有去探索对我最重要的问题。"}, {}),
    Criterion("boundary_overstepping", "pattern", {"en": "boundary-overstepping", "zh": "越界指导"},
              {"en": "tells me what to do or decides things for me.", "zh": "告诉我该怎么做，或替我做决定。"}, {}),
)

AnyCriterion = Criterion[PrincipleKey] | Criterion[PatternKey]
CRITERIA: tuple[AnyCriterion, ...] = PRINCIPLES + PATTERNS
BY_KEY: dict[str, AnyCriterion] = {c.key: c for c in CRITERIA}
