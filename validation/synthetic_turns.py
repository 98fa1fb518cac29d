"""A seeded synthetic *coded* corpus of turns (en + zh) whose codes come from known generating cues.

Why: to compare turn-level detectors — the word rules, a lexical detector trained on a
site's codes — per code, with intervals over sessions and a length baseline, without
clinical data. Each turn is written from a code and a *cue style*: some cues are the
ones the word rules look for ("it sounds like", "you should", "this isn't helping"),
others carry the same code in words the rules do not know ("So the evenings are the
hardest part for you.", "Write the worries down before bed.", "This feels like a
lecture."), as human-coded counseling does (issue 23: reflections recall .24, advice .13).
A detector that learns from codes can find the second kind; the rules cannot. The
"human" codes are the generating codes with a little coder noise, and a share of turns
is coded twice, so the corpus also has a coders' agreement. The corpus is easy (a finding
about the corpus, not a virtue of any detector). Pure: a seed in, coded turns out.
"""

from __future__ import annotations

__layer__ = "core"

import random
from dataclasses import dataclass, field

#: Counselor codes (yes/no) and client codes (yes/no) of the codebook this corpus draws from.
COUNSELOR_CODES: tuple[str, ...] = ("open_question", "closed_question", "reflection", "directive")
CLIENT_CODES: tuple[str, ...] = ("withdrawal", "confrontation")
CODES: tuple[str, ...] = (*COUNSELOR_CODES, *CLIENT_CODES)

_X_EN = ("the evenings", "your manager", "the exams", "your mother", "the move", "money", "sleep", "your friends")
_X_ZH = ("晚上", "你的领导", "考试", "你妈妈", "搬家", "钱", "睡眠", "朋友")

#: code -> language -> (cues the rules know, cues the rules miss); "{x}" is a topic.
_TEMPLATES: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "open_question": {
        "en": (("What is it like for you when {x} comes up?", "How do you usually handle {x}?",
                "What would you want to change about {x}?"),
               ("Tell me more about {x}.", "Walk me through a typical day with {x}.",
                "Help me understand what {x} means to you.")),
        "zh": (("{x}的时候，你是什么感受？", "你一般怎么应对{x}？", "关于{x}，你最想改变什么？"),
               ("跟我多讲讲{x}。", "带我走一遍你和{x}有关的一天。", "帮我理解一下{x}对你意味着什么。")),
    },
    "closed_question": {
        "en": (("Do you talk to anyone about {x}?", "Is {x} worse on weekdays?", "Have you slept at all this week?"),
               ("You talked to someone about {x}, yes?", "{x} was worse on Monday, correct?")),
        "zh": (("你会跟别人说{x}的事吗？", "{x}是不是工作日更糟？", "这周你睡着过吗？"),
               ("你跟别人说过{x}的事，是吧。", "周一{x}更糟，对吧。")),
    },
    "reflection": {
        "en": (("It sounds like {x} has been weighing on you.", "You feel alone with {x}.",
                "It sounds like {x} takes up most of your evenings."),
               ("So {x} has been the hardest part for you.", "You're carrying {x} on your own right now.",
                "Part of you wants to let {x} go, and part of you can't yet.")),
        "zh": (("听起来{x}一直压在你心上。", "你觉得很孤单地面对{x}。", "听起来{x}占据了你大部分晚上。"),
               ("所以{x}对你来说是最难的部分。", "现在你一个人扛着{x}。", "你一部分想放下{x}，一部分还放不下。")),
    },
    "directive": {
        "en": (("You should write {x} down before bed.", "I suggest you talk to your manager about {x}.",
                "You need to set a limit on {x}."),
               ("Write {x} down before bed tonight.", "Set an alarm to stop thinking about {x} at nine.",
                "Put {x} on a list and leave the list in the kitchen.")),
        "zh": (("你应该睡前把{x}写下来。", "我建议你跟领导谈谈{x}。", "你需要给{x}设个界限。"),
               ("今晚睡前把{x}写下来。", "九点定个闹钟，之后就不再想{x}。", "把{x}列个清单，放在厨房。")),
    },
    "withdrawal": {
        "en": (("idk", "I guess.", "fine", "not really"),
               ("nothing to add.", "can we skip this part", "no comment", "same as always.")),
        "zh": (("不知道", "好吧", "随便", "还行"),
               ("没啥要补充的。", "这个能跳过吗", "不想多说", "老样子。")),
    },
    "confrontation": {
        "en": (("This isn't helping.", "You're not listening to me.", "I already told you that."),
               ("This feels like a lecture.", "That advice is for someone else, not me.",
                "You clearly have a script you follow.")),
        "zh": (("这样没有帮助。", "你根本没在听。", "我已经说过了。"),
               ("这感觉像在上课。", "这种建议是给别人的，不是给我的。", "你好像在照着稿子念。")),
    },
}
#: turns with no code of their speaker's codebook: neutral talk
_NEUTRAL: dict[str, dict[str, tuple[str, ...]]] = {
    "counselor": {"en": ("Thank you for sharing that.", "Let's take a moment with {x}.", "I'm here with you."),
                  "zh": ("谢谢你愿意说这些。", "我们在{x}这里停一会儿。", "我在这里陪着你。")},
    "client": {"en": ("Last week {x} was on my mind every night and I kept going over the same conversation.",
                      "My sister says {x} has changed me, and I think she has a point about that.",
                      "When {x} comes up my shoulders get tight and I stop answering messages for a while.",
                      "Mostly {x}, yes.", "Right, {x} again.", "Since {x}, every night."),
               "zh": ("上周每天晚上我都在想{x}，一遍遍回想同一段对话。", "我姐姐说{x}让我变了，我觉得她说得有道理。",
                      "一提到{x}我肩膀就发紧，有一阵子都不想回消息。", "主要是{x}。", "对，又是{x}。", "自从{x}，每晚都这样。")},
}


@dataclass(frozen=True)
class CodedTurn:
    """One synthetic turn: its text, the generating code (or none), whether the cue is one the rules know,
    and the coders' codes (``coders[0]`` always; ``coders[1]`` on the double-coded share)."""

    session_id: str
    turn_id: int
    speaker: str
    lang: str
    text: str
    code: str | None
    rule_visible: bool
    coders: tuple[dict[str, bool], ...] = field(default_factory=tuple)


def _codes_of(speaker: str, code: str | None, noise: float, rng: random.Random) -> dict[str, bool]:
    own = COUNSELOR_CODES if speaker == "counselor" else CLIENT_CODES
    return {c: (c == code) != (rng.random() < noise) for c in own}


def coded_corpus(n_sessions: int = 60, turns_per_session: int = 40, *, seed: int = 25, missed_share: float = 0.5,
                 noise: float = 0.04, double_share: float = 0.3) -> list[CodedTurn]:
    """Alternating counselor / client turns, half the sessions English and half Chinese. A counselor turn
    carries one counselor code (or none, 20 %); a client turn is neutral (70 %), withdrawal or confrontation.
    ``missed_share`` of the coded turns use a cue the word rules do not know."""
    rng = random.Random(seed)
    out: list[CodedTurn] = []
    for s in range(n_sessions):
        lang = "en" if s % 2 == 0 else "zh"
        sid = f"coded-{lang}-{s:03d}"
        topics = _X_EN if lang == "en" else _X_ZH
        for t in range(turns_per_session):
            speaker = "counselor" if t % 2 == 0 else "client"
            x = rng.choice(topics)
            if speaker == "counselor":
                code = rng.choice(COUNSELOR_CODES) if rng.random() < 0.8 else None
            else:
                r = rng.random()
                code = None if r < 0.7 else "withdrawal" if r < 0.87 else "confrontation"
            if code is None:
                text, visible = rng.choice(_NEUTRAL[speaker][lang]).format(x=x), True
            else:
                known, missed = _TEMPLATES[code][lang]
                visible = rng.random() >= missed_share
                text = rng.choice(known if visible else missed).format(x=x)
            coders = [_codes_of(speaker, code, noise, rng)]
            if rng.random() < double_share:
                coders.append(_codes_of(speaker, code, noise, rng))
            out.append(CodedTurn(sid, t, speaker, lang, text, code, visible, tuple(coders)))
    return out
