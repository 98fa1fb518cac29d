"""A labelled SYNTHETIC counseling corpus: short sessions whose WAI-SR answers follow what is said.

For tests and benchmarks only — never clinical data, and every file it writes
says so. Why it exists: to prove that training can turn a model that fails the
validation gate into one that passes, we need labels that depend on the *content*
of a session in a known way, and a part of the corpus where transcript length
runs *against* the rating so that a length tracker fails.

How a session is made (pure, seeded):

1. latent goal / approach / bond levels (standard normal, mildly correlated);
2. the 12 item answers = ``3 + 0.9·latent(dimension) + noise``, rounded and clipped to 1..5;
3. the text: an opening exchange, then exchanges that each speak to one dimension —
   the counselor reflects or lectures (bond), agrees on a goal or drifts (goal),
   offers a concrete useful step or a platitude (approach), and the client
   reacts (feels understood or judged, agrees or objects, sees the use or not).
   Whether an exchange is the positive or the negative version is drawn with a
   probability that rises with that dimension's latent level;
4. length: in the ``length-inverse`` part, sessions with a worse alliance get more
   exchanges and wordier client turns; in the ``length-free`` part length is
   independent of the alliance.

Sessions are 8–16 turns (a few hundred tokens), so CPU scoring of hundreds is feasible.

``difficulty="hard"`` makes it hard in the directions real rated chats are hard (the easy
corpus is passed even by a head on a tiny random model's hidden states):

* ~30 turns (20–36), most of them neutral small talk; a cue is one sentence appended to a
  neutral turn in about a third of the exchanges, with a weaker pull of the latent level;
* cues spread over both speakers: the client's turns carry most of the bond cues, the
  counselor's most of the approach cues, goal cues sit on both sides;
* cues contradict length in every session: a worse alliance comes with more exchanges and
  wordier client turns;
* rating noise at the WAI-SR's test–retest level: a per-rating shift shared by all 12 items
  (sd 0.3) plus item noise (sd 0.6), so a dimension's mean agrees with its noise-free value
  at about r² ≈ .8.
"""

from __future__ import annotations

__layer__ = "core"

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Mapping

from streams.contracts import DIMENSION_ITEMS, DIMENSIONS, ITEM_DIMENSION, ITEM_IDS, Dimension, Lang

SYNTHETIC_NOTE = "SYNTHETIC: generated for tests and benchmarks; not clinical data"
Part = Literal["length-free", "length-inverse"]
Difficulty = Literal["easy", "hard"]

# --------------------------------------------------------------------------- phrase banks
# (topic, goal) pairs; {topic} and {goal} are filled in per session.
TOPICS: dict[Lang, list[tuple[str, str]]] = {
    "en": [("exams", "feel calmer before exams"), ("work", "handle the pressure at work"),
           ("my partner", "argue less with my partner"), ("sleep", "sleep better"),
           ("my family", "set boundaries with my family"), ("the move", "feel less lonely after the move")],
    "zh": [("考试", "考试前能平静一些"), ("工作", "更好地应对工作压力"), ("伴侣", "和伴侣少吵架"),
           ("睡眠", "睡得更好"), ("家人", "和家人之间设立界限"), ("搬家", "搬家后不那么孤单")],
}

OPEN_COUNSELOR: dict[Lang, list[str]] = {
    "en": ["Hello, what would you like to talk about today?", "Hi, how have things been since we last spoke?",
           "Welcome. What brings you here today?"],
    "zh": ["你好，今天想聊些什么？", "你好，上次之后过得怎么样？", "欢迎你，今天是什么让你来到这里？"],
}
OPEN_CLIENT: dict[Lang, list[str]] = {
    "en": ["I've been really stressed about {topic}.", "Things with {topic} have been hard lately.",
           "I wanted to talk about {topic}."],
    "zh": ["最近因为{topic}压力很大。", "最近{topic}方面的事情很难熬。", "我想聊聊{topic}的事。"],
}
CLOSE_COUNSELOR: dict[Lang, list[str]] = {
    "en": ["We are nearly out of time for today.", "Let's stop here for today."],
    "zh": ["今天的时间差不多到了。", "今天我们就先到这里。"],
}
CLOSE_CLIENT: dict[Lang, list[str]] = {
    "en": ["Okay.", "Alright, see you next time."],
    "zh": ["好的。", "好，下次见。"],
}
FILLER: dict[Lang, list[str]] = {
    "en": ["It has been going on for weeks.", "I keep thinking about it at night.", "Some days are better than others.",
           "My friends say I should just relax.", "I don't really know where to start.", "It's hard to explain.",
           "There is a lot going on at the same time.", "I noticed it again on Monday."],
    "zh": ["这种情况已经持续好几周了。", "我晚上总是想着这件事。", "有时候好一点，有时候差一点。", "朋友们说我应该放松点。",
           "我不知道从哪里说起。", "这很难解释。", "很多事情同时发生。", "周一的时候我又注意到了。"],
}

#: hard corpus: what a counselor says when no cue is given
NEUTRAL_COUNSELOR: dict[Lang, list[str]] = {
    "en": ["I see.", "Tell me more about that.", "How long has that been going on?", "What happened next?",
           "Mm, go on.", "How did that feel at the time?", "Who else knows about this?", "When did you notice it?"],
    "zh": ["我明白。", "多说一些吧。", "这种情况持续多久了？", "后来发生了什么？", "嗯，继续说。", "当时你感觉怎么样？",
           "还有谁知道这件事？", "你是什么时候注意到的？"],
}
#: hard corpus: the client's own story, mostly: slot-filled sentences with a large vocabulary, as in real chats
#: (what a session is about dominates its words, the alliance cues are a small part of them)
NARRATIVE: dict[Lang, tuple[list[str], list[str], list[str], list[str]]] = {
    "en": (["My sister", "My boss", "My roommate", "My father", "A colleague", "My neighbour", "My best friend",
            "My teacher", "My cousin", "My manager", "My landlord", "My brother"],
           ["called me about", "complained about", "forgot", "asked again about", "laughed at", "brought up",
            "kept talking about", "argued over", "never mentioned", "wrote to me about", "cancelled", "changed"],
           ["the rent", "the holiday plans", "the car", "the wedding", "the new schedule", "the dinner",
            "the project deadline", "the doctor's appointment", "the old photos", "the phone bill",
            "the birthday party", "the apartment keys"],
           ["last night", "on Tuesday", "this morning", "again yesterday", "before the weekend", "after lunch",
            "twice this week", "at the station", "during the meeting", "on the way home", "over the phone",
            "in front of everyone"]),
    "zh": (["我姐姐", "我老板", "我室友", "我爸爸", "一个同事", "我邻居", "我最好的朋友", "我的老师", "我表哥", "我的经理",
            "我房东", "我弟弟"],
           ["打电话跟我说", "抱怨了", "忘了", "又问起", "嘲笑了", "提起了", "一直在说", "争论了", "从没提过", "写信说了",
            "取消了", "改了"],
           ["房租的事", "假期的安排", "车的事", "婚礼", "新的日程", "晚饭", "项目的截止日期", "看医生的预约", "那些旧照片",
            "电话费", "生日聚会", "公寓钥匙"],
           ["昨天晚上", "周二", "今天早上", "昨天又", "周末之前", "午饭后", "这周两次", "在车站", "开会的时候", "回家路上",
            "在电话里", "当着大家的面"]),
}

#: hard corpus: per dimension, the chance that a cue sits in the counselor's turn (else the client's)
COUNSELOR_SHARE: dict[str, float] = {"bond": 0.25, "goal": 0.5, "approach": 0.75}

# BANK[lang][dimension][positive?] = (counselor lines, client lines)
BANK: dict[Lang, dict[str, dict[bool, tuple[list[str], list[str]]]]] = {
    "en": {
        "goal": {
            True: (["So what you most want is to {goal}. Shall we make that our focus?",
                    "Let's agree on what matters most to you: to {goal}. Does that fit?",
                    "It sounds like our aim together is to {goal}. Is that right?",
                    "We could set that as our goal: to {goal}. What do you think?"],
                   ["Yes, that's exactly what I want to work on.", "Agreed, that is the goal for me.",
                    "Yes, to {goal} is what matters to me.", "That's right, let's focus on that."]),
            False: (["Let's put that aside and talk about your childhood instead.",
                     "I think the real issue is something else; let's look at your diet.",
                     "Before that, tell me about your hobbies.", "I'd rather we discuss something different today."],
                    ["That's not really what I came here for.", "I'm not sure why we're talking about this.",
                     "I still don't know what we're aiming for.", "We keep drifting away from my actual problem."]),
        },
        "approach": {
            True: (["One thing we could try is writing the worrying thoughts down and testing them. How does that sound?",
                    "Let's practise a short breathing exercise together right now.",
                    "We could break this into small steps and try the first one this week.",
                    "What if you kept a short diary of when it happens, and we look at it together?"],
                   ["That makes sense, I can see how that would help.", "I like that plan, it feels doable.",
                    "That gives me a new way to look at it.", "Okay, that actually seems useful."]),
            False: (["You just need to think more positively.", "Everyone goes through this, just push through it.",
                     "Stop worrying so much and it will pass.", "Read a self-help book and you'll be fine."],
                    ["I don't see how that would help me.", "I've tried that already and it didn't work.",
                     "That feels pointless, to be honest.", "I doubt that will change anything."]),
        },
        "bond": {
            True: (["It sounds like you've been carrying a lot, and it makes sense that you feel worn out.",
                    "I hear how hard this has been for you.", "Thank you for trusting me with this; that took courage.",
                    "You're feeling torn between what others expect and what you need."],
                   ["Yes, you really understand me.", "Thank you, I feel heard.", "It helps that you get it.",
                    "I feel comfortable talking with you."]),
            False: (["You should have dealt with this much earlier.", "Honestly, that is not a big deal.",
                     "You need to listen to what I'm telling you.", "That's an overreaction on your part."],
                    ["I don't think you're listening to me.", "That makes me feel judged.", "You don't really get it.",
                     "I feel like you're lecturing me."]),
        },
    },
    "zh": {
        "goal": {
            True: (["所以你最想要的是{goal}。我们把这个作为重点好吗？", "我们先确定对你最重要的事：{goal}。这样合适吗？",
                    "听起来我们一起的目标是{goal}，对吗？", "我们可以把{goal}定为目标，你觉得呢？"],
                   ["对，这正是我想解决的。", "同意，这就是我的目标。", "是的，{goal}对我很重要。", "没错，我们就专注这个。"]),
            False: (["我们先把这个放一放，聊聊你的童年吧。", "我觉得真正的问题是别的，我们看看你的饮食。",
                     "在那之前，说说你的爱好吧。", "今天我更想聊点别的。"],
                    ["这不是我来这里想谈的。", "我不明白为什么要聊这个。", "我还是不知道我们的目标是什么。", "我们总是偏离我真正的问题。"]),
        },
        "approach": {
            True: (["我们可以试着把担心的想法写下来，再一起检验它们。你觉得怎么样？", "我们现在一起做一个简短的呼吸练习吧。",
                    "我们可以把它分成小步骤，这周先试第一步。", "你可以记录下每次发生的时候，我们再一起看看。"],
                   ["有道理，我能看出这会有帮助。", "我喜欢这个计划，感觉能做到。", "这让我换了个角度看问题。", "好的，这确实有用。"]),
            False: (["你只需要积极一点。", "每个人都会经历这些，熬过去就好。", "别想那么多，过去就好了。", "看本自助书就没事了。"],
                    ["我看不出这对我有什么帮助。", "我试过了，没有用。", "说实话，这感觉没什么意义。", "我怀疑这能改变什么。"]),
        },
        "bond": {
            True: (["听起来你一直承受着很多，感到疲惫是可以理解的。", "我能感受到这段时间对你有多难。",
                    "谢谢你愿意告诉我这些，这需要勇气。", "你在别人的期待和自己的需要之间很纠结。"],
                   ["是的，你真的理解我。", "谢谢，我感觉被听见了。", "你能明白，这对我很有帮助。", "和你聊天我觉得很自在。"]),
            False: (["你早就该处理这件事了。", "说实话，这没什么大不了的。", "你要听我说的。", "你这是反应过度了。"],
                    ["我觉得你没有在听我说。", "这让我觉得被评判。", "你并不真正理解。", "我感觉你在教训我。"]),
        },
    },
}


# --------------------------------------------------------------------------- data

@dataclass(frozen=True)
class SyntheticTurn:
    speaker: Literal["counselor", "client"]
    text: str
    sent_at: datetime


@dataclass(frozen=True)
class SyntheticSession:
    """One generated session with its latent levels, item answers and cue counts."""

    session_id: str
    counselor_id: str
    lang: Lang
    part: Part
    started_at: datetime
    turns: tuple[SyntheticTurn, ...]
    latents: dict[str, float]
    answers: dict[str, int]
    #: exchanges per dimension that were the positive / negative version: {"bond": (2, 1), ...}
    cues: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def chars(self) -> int:
        return sum(len(t.text) for t in self.turns)

    def dimension_label(self, dimension: Dimension) -> float:
        ids = list(DIMENSION_ITEMS[dimension])
        return sum(self.answers[i] for i in ids) / len(ids)

    def session_line(self) -> dict[str, Any]:
        """The replay format's one-line session (``turns`` present)."""
        end = self.turns[-1].sent_at + timedelta(seconds=30)
        return {
            "session_id": self.session_id, "counselor_id": self.counselor_id,
            "started_at": _iso(self.started_at), "ended_at": _iso(end), "planned_minutes": 50,
            "group": "g-synthetic", "lang": self.lang,
            "turns": [{"speaker": t.speaker, "text": t.text, "sent_at": _iso(t.sent_at)} for t in self.turns],
        }

    def label_line(self) -> dict[str, Any]:
        """The labels format of ``eval --labels`` (extra keys are ignored there)."""
        return {"session_id": self.session_id, "items": dict(self.answers), "part": self.part, "note": SYNTHETIC_NOTE}


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CorpusSpec:
    sessions: int = 600
    seed: int = 0
    langs: tuple[Lang, ...] = ("en", "zh")
    #: share of sessions in which length runs against the rating.
    inverse_share: float = 0.5
    counselors: int = 12
    #: sessions are spread over this many days, oldest first (the time split needs a spread).
    days: int = 120
    start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    #: "hard": long sessions with sparse cues on both sides, length against the rating, noisy ratings
    difficulty: Difficulty = "easy"

    def __post_init__(self) -> None:
        if self.difficulty not in ("easy", "hard"):
            raise ValueError(f"difficulty must be easy or hard, got {self.difficulty!r}")
        if self.sessions < 1:
            raise ValueError(f"sessions must be at least 1, got {self.sessions}")
        if not self.langs or any(lang not in BANK for lang in self.langs):
            raise ValueError(f"langs must be a non-empty subset of {sorted(BANK)}, got {list(self.langs)}")
        if not 0.0 <= self.inverse_share <= 1.0:
            raise ValueError(f"inverse_share must be in [0, 1], got {self.inverse_share}")
        if self.counselors < 1:
            raise ValueError(f"counselors must be at least 1, got {self.counselors}")


# --------------------------------------------------------------------------- generation

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _latents(rng: random.Random) -> dict[str, float]:
    shared = rng.gauss(0.0, 1.0)
    return {d: 0.4 * shared + math.sqrt(1 - 0.16) * rng.gauss(0.0, 1.0) for d in DIMENSIONS}


def _answers(rng: random.Random, latents: dict[str, float]) -> dict[str, int]:
    return {item: int(min(5, max(1, round(3.0 + 0.9 * latents[ITEM_DIMENSION[item]] + rng.gauss(0.0, 0.6)))))
            for item in ITEM_IDS}


def _hard_answers(rng: random.Random, latents: dict[str, float]) -> dict[str, int]:
    shift = rng.gauss(0.0, 0.3)  # the rater's state that day: shared by every item of one rating
    return {item: int(min(5, max(1, round(3.0 + 0.9 * latents[ITEM_DIMENSION[item]] + shift + rng.gauss(0.0, 0.6)))))
            for item in ITEM_IDS}


def _narrative(rng: random.Random, lang: Lang) -> str:
    who, did, what, when = (rng.choice(bank) for bank in NARRATIVE[lang])
    return f"{who} {did} {what} {when}." if lang == "en" else f"{who}{when}{did}{what}。"


def _hard_session(rng: random.Random, index: int, spec: CorpusSpec) -> SyntheticSession:
    lang: Lang = spec.langs[index % len(spec.langs)]
    latents = _latents(rng)
    answers = _hard_answers(rng, latents)
    mean = sum(latents.values()) / len(latents)
    topic, goal = rng.choice(TOPICS[lang])
    # length runs against the rating, weakly (r of characters with a dimension ≈ −.1; the CV length-only
    # baseline .1-.2 on 300 held-out sessions; real chats: .2)
    exchanges = int(min(17, max(9, round(13.0 - 1.0 * mean + rng.gauss(0.0, 2.0)))))
    filler_rate = max(0.3, 0.8 - 0.3 * mean)
    sep = " " if lang == "en" else ""

    def fill(text: str) -> str:
        return text.format(topic=topic, goal=goal)

    pairs: list[tuple[str, str]] = [(rng.choice(OPEN_COUNSELOR[lang]), fill(rng.choice(OPEN_CLIENT[lang])))]
    cues = {d: [0, 0] for d in DIMENSIONS}
    for _ in range(exchanges):
        counselor = [rng.choice(NEUTRAL_COUNSELOR[lang])]
        client = [_narrative(rng, lang) for _ in range(1 + _poisson(rng, filler_rate))]
        if rng.random() < 0.35:
            dim = rng.choice(DIMENSIONS)
            positive = rng.random() < _sigmoid(1.0 * latents[dim])
            cues[dim][0 if positive else 1] += 1
            if rng.random() < COUNSELOR_SHARE[dim]:
                counselor.append(fill(rng.choice(BANK[lang][dim][positive][0])))
            else:
                client.insert(rng.randrange(len(client) + 1), fill(rng.choice(BANK[lang][dim][positive][1])))
        pairs.append((sep.join(counselor), sep.join(client)))
    pairs.append((rng.choice(CLOSE_COUNSELOR[lang]), rng.choice(CLOSE_CLIENT[lang])))
    return _assemble(rng, index, spec, lang, "length-inverse", pairs, latents, answers, cues)


def _assemble(rng: random.Random, index: int, spec: CorpusSpec, lang: Lang, part: Part,
              pairs: list[tuple[str, str]], latents: dict[str, float], answers: dict[str, int],
              cues: Mapping[Dimension, list[int]]) -> SyntheticSession:
    day = int(index * spec.days / max(1, spec.sessions))
    start = spec.start + timedelta(days=day, minutes=rng.randrange(0, 8 * 60))
    t = start
    turns: list[SyntheticTurn] = []
    for c_text, k_text in pairs:
        t += timedelta(seconds=rng.randint(20, 90))
        turns.append(SyntheticTurn("counselor", c_text, t))
        t += timedelta(seconds=rng.randint(20, 120))
        turns.append(SyntheticTurn("client", k_text, t))
    return SyntheticSession(
        session_id=f"synth-{spec.seed}-{index:05d}-{lang}",
        counselor_id=f"c-synth-{rng.randrange(spec.counselors):02d}",
        lang=lang, part=part, started_at=start, turns=tuple(turns), latents=latents, answers=answers,
        cues={d: (v[0], v[1]) for d, v in cues.items()},
    )


def generate_session(rng: random.Random, index: int, spec: CorpusSpec) -> SyntheticSession:
    """One session (see the module doc for the recipe)."""
    if spec.difficulty == "hard":
        return _hard_session(rng, index, spec)
    lang: Lang = spec.langs[index % len(spec.langs)]
    part: Part = "length-inverse" if rng.random() < spec.inverse_share else "length-free"
    latents = _latents(rng)
    answers = _answers(rng, latents)
    mean = sum(latents.values()) / len(latents)
    topic, goal = rng.choice(TOPICS[lang])
    if part == "length-inverse":  # a worse alliance: more exchanges, wordier client turns
        exchanges = int(min(6, max(2, round(4.0 - 1.6 * mean + rng.gauss(0.0, 0.5)))))
        filler_rate = max(0.0, 1.0 - 1.2 * mean)
    else:
        exchanges = rng.randint(2, 6)
        filler_rate = 0.6
    sep = " " if lang == "en" else ""

    def fill(s: str) -> str:
        return s.format(topic=topic, goal=goal)

    def client_text(core: str) -> str:
        extra = [rng.choice(FILLER[lang]) for _ in range(_poisson(rng, filler_rate))]
        return sep.join([fill(core), *extra])

    pairs: list[tuple[str, str]] = [(rng.choice(OPEN_COUNSELOR[lang]), client_text(rng.choice(OPEN_CLIENT[lang])))]
    dims = [DIMENSIONS[(i + rng.randrange(3)) % 3] for i in range(exchanges)]
    cues = {d: [0, 0] for d in DIMENSIONS}
    for dim in dims:
        p = _sigmoid(1.8 * latents[dim])
        positive_c = rng.random() < p
        positive_r = rng.random() < p  # the client's reaction is drawn separately: noise, not a copy
        cues[dim][0 if positive_c else 1] += 1
        cues[dim][0 if positive_r else 1] += 1
        pairs.append((fill(rng.choice(BANK[lang][dim][positive_c][0])),
                      client_text(rng.choice(BANK[lang][dim][positive_r][1]))))
    pairs.append((rng.choice(CLOSE_COUNSELOR[lang]), rng.choice(CLOSE_CLIENT[lang])))
    return _assemble(rng, index, spec, lang, part, pairs, latents, answers, cues)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return min(k, 4)
        k += 1


def generate(spec: CorpusSpec) -> list[SyntheticSession]:
    """The whole corpus, oldest session first; the same spec always gives the same corpus."""
    rng = random.Random(f"alliance-synthetic-{spec.seed}")
    return [generate_session(rng, i, spec) for i in range(spec.sessions)]


def header_lines(spec: CorpusSpec) -> list[str]:
    """``#`` lines at the top of every file written (the replay and label readers skip them)."""
    return [f"# {SYNTHETIC_NOTE}",
            (f"# generator: training.synthetic_corpus seed={spec.seed} sessions={spec.sessions} "
             f"langs={','.join(spec.langs)} inverse_share={spec.inverse_share}"
             + (f" difficulty={spec.difficulty}" if spec.difficulty != "easy" else ""))]
