"""Rolling-window process signals (docs/streams.md#process-signals). Pure: no Faust, no Kafka.

Cheap figures computed on every turn that feed the live board between LLM
predictions. Every figure compares the client with *this client's own
baseline* (their first replies in the session), because reply length and pace
differ enormously between people, languages and devices; an absolute
threshold would flag every terse client and miss a verbose one withdrawing.

Privacy: the state keeps only lengths, times and booleans; no message text.
The text is looked at once, in :func:`features`, and dropped.
"""

from __future__ import annotations

__layer__ = "core"

import re
import statistics
from dataclasses import dataclass, field
from typing import Any

# --- text features ------------------------------------------------------------

_PUNCT = re.compile(r"[\s\.,!?;:~…\-—'\"“”‘’()（）。，！？；：、·`*_]+")
_EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]+")

#: Replies that carry no content, after lower-casing and stripping punctuation.
MINIMAL_EN = frozenset({
    "ok", "okay", "k", "kk", "idk", "i dont know", "i don't know", "dunno", "yes", "yeah", "yep", "yup",
    "no", "nope", "nah", "sure", "fine", "mm", "mhm", "hmm", "hm", "uh huh", "maybe", "i guess", "whatever",
    "right", "true", "cool", "alright", "thanks", "ty", "lol", "eh", "meh", "not really", "i suppose", "same",
    "yeah yeah", "mm hmm", "mm-hmm", "got it", "i see",
})
MINIMAL_ZH = frozenset({
    "嗯", "嗯嗯", "恩", "好", "好的", "好吧", "哦", "噢", "哦哦", "是", "是的", "对", "对的", "对啊", "嗯呢",
    "行", "还行", "可以", "没有", "没", "不知道", "不清楚", "随便", "也许", "可能吧", "算了", "就这样", "谢谢",
    "呃", "额", "啊", "唉", "哎", "嗯好", "好吧好吧", "不是", "还好", "一般", "嗯对", "明白", "明白了", "是啊",
})

_QUESTION_EN = re.compile(
    r"^(what|why|how|when|where|who|which|do|does|did|are|is|can|could|would|will|have|has)\b", re.I
)
_QUESTION_ZH = re.compile(r"(吗|呢|什么|为什么|怎么|如何|哪|多少|是不是|有没有|能不能|会不会)")
_REFLECTION_EN = re.compile(
    r"\b(it sounds like|sounds like|it seems|you feel|you're feeling|you are feeling|you felt|"
    r"what i'm hearing|i hear|you're saying|you are saying|so you|it must be|that must|i understand|"
    r"that sounds)\b", re.I
)
_REFLECTION_ZH = re.compile(r"(听起来|你感到|你觉得.*[很挺]|我听到|你的意思是|我能理解|我理解|看起来你|似乎你|你会觉得)")
_DIRECTIVE_EN = re.compile(
    r"\b(you should|you need to|you have to|you must|try to|try (?:doing|writing|talking)|i suggest|"
    r"i recommend|i'd recommend|my advice|why don't you|make sure|just do|do this|"
    r"you ought to|the best thing is)\b", re.I
)
_DIRECTIVE_ZH = re.compile(r"(你应该|你需要|你必须|你要|建议你|我建议|试着|试试|不要|别再|最好|一定要|你得|不如)")


def normalise(text: str) -> str:
    return _PUNCT.sub(" ", _EMOJI.sub(" ", text.lower())).strip()


_MINIMAL = frozenset(normalise(x) for x in MINIMAL_EN | MINIMAL_ZH)


def is_minimal(text: str) -> bool:
    """A reply with no content: "ok", "idk", "嗯", "好", an emoji, a lone "?"."""
    norm = normalise(text)
    if not norm:
        return True  # only punctuation / emoji
    if norm in _MINIMAL or norm.replace(" ", "") in _MINIMAL:
        return True
    compact = norm.replace(" ", "")
    # repeated fillers: "嗯嗯嗯", "okok", "哈哈"
    return bool(re.fullmatch(r"(嗯|恩|哦|好|哈|ok|k|m+h*)+", compact))


def is_question(text: str) -> bool:
    stripped = text.strip()
    if stripped.endswith(("?", "？")):
        return True
    return bool(_QUESTION_EN.match(stripped) or _QUESTION_ZH.search(stripped[-6:]))


def is_reflection(text: str) -> bool:
    return bool(_REFLECTION_EN.search(text) or _REFLECTION_ZH.search(text))


def is_directive(text: str) -> bool:
    return bool(_DIRECTIVE_EN.search(text) or _DIRECTIVE_ZH.search(text))


def text_length(text: str) -> int:
    """Length in "words": English words, or CJK characters (each carries a word's weight)."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", text))
    words = len(re.findall(r"[A-Za-z0-9']+", text))
    return cjk + words


@dataclass(frozen=True)
class TurnFeatures:
    """What the signals keep of a turn: no text."""

    turn_id: int
    speaker: str
    at: float
    length: int
    minimal: bool
    question: bool
    reflection: bool
    directive: bool


def features(turn_id: int, speaker: str, text: str, at: float) -> TurnFeatures:
    return TurnFeatures(
        turn_id=turn_id,
        speaker=speaker,
        at=at,
        length=text_length(text),
        minimal=speaker == "client" and is_minimal(text),
        question=speaker == "counselor" and is_question(text),
        reflection=speaker == "counselor" and is_reflection(text),
        directive=speaker == "counselor" and is_directive(text),
    )


# --- settings and state ----------------------------------------------------------


@dataclass(frozen=True)
class SignalSettings:
    """Window sizes and the bands outside which a figure is flagged."""

    window_turns: int = 6  # recent turns per speaker
    window_s: float = 10 * 60.0  # ... and no older than this (event time)
    baseline_turns: int = 3  # client replies that form the baseline
    withdrawal_ratio: float = 0.5  # recent length below half the baseline
    slow_reply_factor: float = 2.5  # recent latency above 2.5× the baseline latency
    slow_reply_min_s: float = 60.0  # ... and above a minute
    idle_s: float = 180.0  # "are you still online?"
    #: counselor questions in a row, each asked before the client said anything of substance
    #: (a brief reply, or none), with no reflection in between. A question that follows a
    #: substantive answer follows the client: it is exploring, not rushing (the steady
    #: sample's counselor asks many such questions and now reaches 3 at most).
    question_streak: int = 4
    #: a client reply at least this share of the client's own baseline length (and not
    #: minimal) is substantive; before there is a baseline, at least ``substantive_min`` words.
    substantive_ratio: float = 0.5
    substantive_min: int = 8
    directive_density: float = 0.5
    minimal_rate: float = 0.5
    min_window: int = 3  # turns needed before a rate is reported


@dataclass
class SignalState:
    """Rolling windows of one session. JSON-serialisable via :meth:`to_dict`."""

    client: list[list[Any]] = field(default_factory=list)  # [turn_id, at, length, minimal]
    counselor: list[list[Any]] = field(default_factory=list)  # [turn_id, at, question, reflection, directive]
    latencies: list[float] = field(default_factory=list)
    baseline_lengths: list[int] = field(default_factory=list)
    baseline_latencies: list[float] = field(default_factory=list)
    last_counselor_at: float | None = None
    last_client_at: float | None = None
    question_streak: int = 0
    seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose: dataclasses.asdict deep-copies and was the hottest call per turn
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "SignalState":
        return cls(**(data or {}))


def update(state: SignalState, f: TurnFeatures, settings: SignalSettings = SignalSettings()) -> None:
    """Fold one turn into the windows (turns arrive roughly in order; late ones are fine)."""
    state.seen += 1
    if f.speaker == "client":
        if state.last_counselor_at is not None and f.at >= state.last_counselor_at and (
            state.last_client_at is None or state.last_client_at <= state.last_counselor_at
        ):
            latency = f.at - state.last_counselor_at  # first reply to a counselor turn
            state.latencies = (state.latencies + [latency])[-settings.window_turns:]
            # the baseline pace is that of replies with content: a quick "yeah" is not this client's pace
            if len(state.baseline_latencies) < settings.baseline_turns and not f.minimal:
                state.baseline_latencies.append(latency)
        if len(state.baseline_lengths) < settings.baseline_turns and not f.minimal:
            state.baseline_lengths.append(f.length)
        state.client = (state.client + [[f.turn_id, f.at, f.length, f.minimal]])[-settings.window_turns:]
        state.last_client_at = f.at if state.last_client_at is None else max(state.last_client_at, f.at)
    else:
        answered = (state.last_client_at is not None and state.client
                    and (state.last_counselor_at is None or state.last_client_at >= state.last_counselor_at))
        if f.reflection or (answered and _substantive(state, state.client[-1], settings)):
            state.question_streak = 0  # a reflection, or the client has just said something of substance
        elif f.question:
            state.question_streak += 1
        state.counselor = (
            state.counselor + [[f.turn_id, f.at, f.question, f.reflection, f.directive]]
        )[-settings.window_turns:]
        state.last_counselor_at = f.at if state.last_counselor_at is None else max(state.last_counselor_at, f.at)


def _substantive(state: SignalState, entry: list[Any], settings: SignalSettings) -> bool:
    """A client reply with content, judged against this client's own baseline length."""
    length, minimal = entry[2], entry[3]
    if minimal:
        return False
    if len(state.baseline_lengths) >= settings.baseline_turns:
        return bool(length >= settings.substantive_ratio * statistics.median(state.baseline_lengths))
    return bool(length >= settings.substantive_min)


@dataclass(frozen=True)
class Figures:
    """The ProcessSignal figures at one moment (all optional until known)."""

    client_length_ratio: float | None
    client_latency_s: float | None
    client_idle_s: float | None
    question_streak: int
    directive_density: float | None
    minimal_response_rate: float | None
    flags: tuple[str, ...]


def compute(state: SignalState, now: float, settings: SignalSettings = SignalSettings()) -> Figures:
    """Figures over the recent windows as of event time ``now``."""
    recent_client = [c for c in state.client if now - c[1] <= settings.window_s]
    recent_counselor = [c for c in state.counselor if now - c[1] <= settings.window_s]

    ratio = None
    if len(state.baseline_lengths) >= settings.baseline_turns and recent_client:
        baseline = statistics.median(state.baseline_lengths)
        # acknowledgements between replies ("yeah", "嗯") are this client's rhythm, not shorter replies:
        # the ratio reads the replies with content, and all of them only when there are none
        content = [c[2] for c in recent_client if not c[3]] or [c[2] for c in recent_client]
        if baseline > 0:
            ratio = statistics.mean(content) / baseline
    latency = statistics.median(state.latencies) if state.latencies else None
    idle = None if state.last_client_at is None else max(0.0, now - state.last_client_at)
    if idle is None and state.last_counselor_at is not None:
        idle = max(0.0, now - state.last_counselor_at)  # the client never wrote yet
    density = None
    if len(recent_counselor) >= settings.min_window:
        density = sum(1 for c in recent_counselor if c[4]) / len(recent_counselor)
    minimal = None
    if len(recent_client) >= settings.min_window:
        minimal = sum(1 for c in recent_client if c[3]) / len(recent_client)

    flags: list[str] = []
    if ratio is not None and ratio < settings.withdrawal_ratio:
        flags.append("withdrawal")
    if latency is not None and len(state.baseline_latencies) >= settings.baseline_turns:
        base = statistics.median(state.baseline_latencies)
        if latency > settings.slow_reply_min_s and latency > settings.slow_reply_factor * max(base, 1.0):
            flags.append("slow_replies")
    if idle is not None and idle >= settings.idle_s:
        flags.append("idle")
    if state.question_streak >= settings.question_streak:
        flags.append("rushing")
    if density is not None and density >= settings.directive_density:
        flags.append("over_directing")
    # minimal replies interleaved with substantive ones are an engaged client's acknowledgements
    if (minimal is not None and minimal >= settings.minimal_rate
            and not any(_substantive(state, c, settings) for c in recent_client[-settings.min_window:])):
        flags.append("minimal_responses")
    return Figures(ratio, latency, idle, state.question_streak, density, minimal, tuple(flags))
