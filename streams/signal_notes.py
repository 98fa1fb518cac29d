"""A process-signal note in plain words: what was seen, and one move that fits that signal (en + zh). Pure.

Why: the first notes read ``client_length_ratio=0.38, client_latency_s=85.00, …`` on the
board, "withdrawal" and "minimal responses" showed the same line, and every note gave
the same advice ("a short check-in") whatever it was about — a move for a change of
rhythm offered to a counselor who was over-directing (issue 23). Each flag now has its
own sentence, with the figures said the way a person would say them, and its own move.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Mapping

#: flag -> language -> one move that fits that signal (a counselor reads it mid-chat: short, concrete).
MOVES: dict[str, dict[str, str]] = {
    "withdrawal": {
        "en": "Ask about what they said last, in their words, and leave room: one open question, no advice.",
        "zh": "回到对方刚才说的话，用对方的原话问一个开放式问题，然后留出空间，先不要给建议。",
    },
    "slow_replies": {
        "en": "Slow down with them: one short message at a time, and wait for the answer before the next.",
        "zh": "跟着对方放慢节奏：一次只发一条短消息，等对方回复了再说下一句。",
    },
    "idle": {
        "en": "Let them know you are still there, without pressure: \"Take your time, I'm here when you're ready.\"",
        "zh": "轻轻地让对方知道你还在，不催促：“不着急，你准备好了再说，我在这里。”",
    },
    "rushing": {
        "en": "Before the next question, reflect what you have heard so far in one sentence, then pause.",
        "zh": "在问下一个问题之前，先用一句话复述你到目前为止听到的内容，然后停一停。",
    },
    "over_directing": {
        "en": "Hold the next suggestion: ask what they have already tried and what they think might help.",
        "zh": "先别给下一个建议：问问对方已经试过什么，自己觉得什么可能有帮助。",
    },
    "minimal_responses": {
        "en": "Name it gently and invite more: \"I notice short answers just now — how is this conversation going for you?\"",
        "zh": "温和地点出来并邀请对方多说一些：“我注意到你刚才的回复比较短，现在这样聊你感觉怎么样？”",
    },
}


def _pct(value: object) -> int | None:
    return round(float(value) * 100) if isinstance(value, (int, float)) else None


def _seen_en(flag: str, f: Mapping[str, object], flags: frozenset[str], minutes: int) -> str:
    if flag == "withdrawal":
        slower = " and slower" if "slow_replies" in flags else ""
        pct = _pct(f.get("client_length_ratio"))
        size = f" (about {pct}% of their usual length)" if pct is not None else ""
        return (f"The client's replies got much shorter{slower} than their own earlier replies in the last "
                f"{minutes} minutes{size}.")
    if flag == "slow_replies":
        latency = f.get("client_latency_s")
        when = f" (about {round(float(latency))} seconds per reply now)" if isinstance(latency, (int, float)) else ""
        return f"The client is taking much longer to answer than earlier in the session{when}."
    if flag == "idle":
        idle = f.get("client_idle_s")
        gone = f"{max(1, round(float(idle) / 60))} minutes" if isinstance(idle, (int, float)) else "a while"
        return f"The client has not written for {gone}."
    if flag == "rushing":
        streak = f.get("question_streak")
        n = f"{streak} questions" if isinstance(streak, int) else "several questions"
        return f"You have asked {n} in a row while the client's answers stayed brief."
    if flag == "over_directing":
        pct = _pct(f.get("directive_density"))
        share = f"{pct}% of your recent messages" if pct is not None else "Most of your recent messages"
        return f"{share[0].upper()}{share[1:]} give advice or tell the client what to do."
    if flag == "minimal_responses":
        return "Most of the client's recent replies are a word or two (\"ok\", \"idk\") with nothing else."
    return f"A change in the chat's rhythm ({flag.replace('_', ' ')})."


def _seen_zh(flag: str, f: Mapping[str, object], flags: frozenset[str], minutes: int) -> str:
    if flag == "withdrawal":
        slower = "，也更慢了" if "slow_replies" in flags else ""
        pct = _pct(f.get("client_length_ratio"))
        size = f"（大约是平时的{pct}%）" if pct is not None else ""
        return f"最近{minutes}分钟里，来访者的回复比他自己之前短了很多{size}{slower}。"
    if flag == "slow_replies":
        latency = f.get("client_latency_s")
        when = f"（现在每条大约{round(float(latency))}秒）" if isinstance(latency, (int, float)) else ""
        return f"来访者回复得比会谈前面慢了很多{when}。"
    if flag == "idle":
        idle = f.get("client_idle_s")
        gone = f"{max(1, round(float(idle) / 60))}分钟" if isinstance(idle, (int, float)) else "一段时间"
        return f"来访者已经{gone}没有发消息了。"
    if flag == "rushing":
        streak = f.get("question_streak")
        n = f"{streak}个问题" if isinstance(streak, int) else "好几个问题"
        return f"你连续问了{n}，而来访者的回答一直很简短。"
    if flag == "over_directing":
        pct = _pct(f.get("directive_density"))
        share = f"你最近{pct}%的消息" if pct is not None else "你最近的大部分消息"
        return f"{share}都在给建议或告诉对方该怎么做。"
    if flag == "minimal_responses":
        return "来访者最近的回复大多只有一两个字（“嗯”“好”），没有更多内容。"
    return f"聊天的节奏有变化（{flag}）。"


def signal_note(flag: str, figures: Mapping[str, object], flags: tuple[str, ...] | list[str] = (),
                lang: str = "en", window_minutes: int = 10) -> tuple[str, str]:
    """(what was seen, one move) for ``flag``, in the session's language; never a list of statistics."""
    key = "zh" if lang == "zh" else "en"
    active = frozenset(flags)
    seen = (_seen_zh if key == "zh" else _seen_en)(flag, figures, active, window_minutes)
    move = MOVES.get(flag, {}).get(key) or ("先问问对方现在感觉怎么样。" if key == "zh"
                                             else "Check in about how the conversation is going for them.")
    return seen, move
