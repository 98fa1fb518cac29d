"""A seeded synthetic coded corpus of whole sessions: rupture episodes and counselor rhythms with known causes.

Why: the session-level rupture code (type, repaired) and the window-level references
of the process-signal flags (docs/validation.md#windows) need whole coded sessions,
not single turns. Each session here is written from a plan — no rupture, a withdrawal
or a confrontation, repaired or not; now and then a stretch of advice or of questions
in a row — and coded from that plan: every turn's codes (``eval-turns`` codes, the
:mod:`validation.synthetic_turns` cues, some the rules know and ``missed_share`` of
them not) and the session's rupture code, with a little coder noise, a second coder on
a share of the sessions. Where the cues are ones the rules know, the rules should agree
with the coders; where they are not, they should not. Pure: a seed in, coded turns and
session codes out; no clinical data (every line is written here or in synthetic_turns).
"""

from __future__ import annotations

__layer__ = "core"

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .synthetic_turns import _NEUTRAL, _TEMPLATES, _X_EN, _X_ZH, COUNSELOR_CODES

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
PLANS: tuple[str, ...] = ("none", "withdrawal", "confrontation")

#: counselor repair moves (``streams.rupture_cues.REPAIR_MOVES`` knows these) and a client who comes back
_REPAIR = {"en": ("I notice your replies have got shorter. Did something I said not fit? Tell me if so.",
                  "You're right, I'm sorry. I went ahead too fast. Tell me if this isn't what you need."),
           "zh": ("我注意到你的回复变短了。是不是我刚才说的哪里不合适？可以直接告诉我。",
                  "你说得对，对不起，是我太急了。如果这不是你需要的，可以直接告诉我。")}
_BACK = {"en": "Okay, honestly it was the part about {x}, it felt like you had already decided what I should do "
               "about it and I just wanted to be heard first before anything else.",
         "zh": "好吧，说实话是关于{x}的那部分，感觉你已经替我决定好该怎么做了，我只是想先被听到，然后再说别的事情。"}
#: a brief answer with content: not a marker (coders code none), but no substance either (rushing follows it)
_BRIEF = {"en": ("Mostly {x}, yes.", "Right, {x} again.", "Since {x}, every night."),
          "zh": ("主要是{x}。", "对，又是{x}。", "自从{x}，每晚都这样。")}


@dataclass(frozen=True)
class EpisodeTurn:
    """One turn of a synthetic session: its text, time and each coder's codes (``coders[1]`` on double-coded ones)."""

    session_id: str
    turn_id: int
    speaker: str
    lang: str
    text: str
    at: datetime
    coders: tuple[dict[str, bool], ...]


@dataclass(frozen=True)
class EpisodeSession:
    session_id: str
    lang: str
    plan: str  # none | withdrawal | confrontation
    repaired: bool
    turns: tuple[EpisodeTurn, ...]
    #: each coder's session code: None (no rupture) or {"type", "repaired"}; coders as in the turns
    rupture: tuple[dict[str, object] | None, ...] = field(default_factory=tuple)


def _noisy(codes: dict[str, bool], noise: float, rng: random.Random) -> dict[str, bool]:
    return {c: v != (rng.random() < noise) for c, v in codes.items()}


def episode_session(index: int, rng: random.Random, *, plan: str, repaired: bool, missed_share: float = 0.0,
                    noise: float = 0.03, double: bool = False, directive_block: bool = False,
                    rushing_block: bool = False, turns: int = 48) -> EpisodeSession:
    """One coded session: engaged for 12 turns (this client's baseline), then the plan from turn 13."""
    lang = "en" if index % 2 == 0 else "zh"
    sid = f"episode-{lang}-{index:03d}"
    topics = _X_EN if lang == "en" else _X_ZH
    at = T0 + timedelta(days=index)
    out: list[tuple[str, str, dict[str, bool]]] = []  # speaker, text, true codes

    def coded(code: str | None, speaker: str) -> tuple[str, dict[str, bool]]:
        x = rng.choice(topics)
        own = COUNSELOR_CODES if speaker == "counselor" else ("withdrawal", "confrontation")
        truth = {c: c == code for c in own}
        if code is None:
            return rng.choice(_NEUTRAL[speaker][lang][:3] if speaker == "client" else _NEUTRAL[speaker][lang]
                              ).format(x=x), truth
        known, missed = _TEMPLATES[code][lang]
        return rng.choice(missed if rng.random() < missed_share else known).format(x=x), truth

    def say(speaker: str, code: str | None = None, text: str | None = None) -> None:
        written, truth = coded(code, speaker)
        if text is not None:
            written = text.format(x=rng.choice(topics))
        out.append((speaker, written, truth))

    ruptured = False
    repair_at = None
    block_at = rng.choice((24, 36)) if directive_block or rushing_block else None
    for t in range(turns):
        speaker = "counselor" if t % 2 == 0 else "client"
        if speaker == "counselor":
            if block_at is not None and block_at <= t < block_at + 10:
                if directive_block:
                    say(speaker, "directive")
                else:
                    say(speaker, rng.choice(("open_question", "closed_question")))
            elif ruptured and repaired and repair_at is None and t >= 20:
                repair_at = t
                say(speaker, None, _REPAIR[lang][0 if plan == "withdrawal" else 1])
            else:
                say(speaker, rng.choice(("reflection", "open_question", None)))
            continue
        if rushing_block and block_at is not None and block_at < t <= block_at + 10:
            say(speaker, None, rng.choice(_BRIEF[lang]))
        elif plan == "none" or t < 13 or (repair_at is not None and t > repair_at + 1):
            say(speaker, None)
        elif repair_at is not None and t == repair_at + 1:
            say(speaker, None, _BACK[lang])
        elif plan == "withdrawal":
            ruptured = True
            say(speaker, "withdrawal")
        else:  # confrontation: two complaints, then brief, content-free replies until repaired (or the end)
            ruptured = True
            say(speaker, "confrontation" if t < 17 else None)
    first = [_noisy(truth, noise, rng) for _, _, truth in out]
    second = [_noisy(truth, noise, rng) for _, _, truth in out] if double else None
    rows: list[EpisodeTurn] = []
    for i, (speaker, text, _) in enumerate(out):
        at += timedelta(seconds=rng.uniform(25, 45))
        coders = (first[i],) if second is None else (first[i], second[i])
        rows.append(EpisodeTurn(sid, i, speaker, lang, text, at, coders))
    code = None if plan == "none" else {"type": plan, "repaired": repaired}
    flip = rng.random() < noise
    rupture: tuple[dict[str, object] | None, ...] = (code if not flip else None,) if code else (None,)
    if double:
        rupture = (*rupture, code)
    return EpisodeSession(sid, lang, plan, repaired, tuple(rows), rupture)


def episode_corpus(n_sessions: int = 40, *, seed: int = 31, missed_share: float = 0.0, noise: float = 0.03,
                   double_share: float = 0.3, block_share: float = 0.3) -> list[EpisodeSession]:
    """``n_sessions`` coded sessions, en and zh in turn: a third each without rupture, with a withdrawal and with a
    confrontation, half of the ruptures repaired; ``block_share`` of them with a stretch of advice or of questions."""
    rng = random.Random(seed)
    sessions = []
    for i in range(n_sessions):
        plan = PLANS[i % 3]
        block = rng.choice(("directive", "rushing")) if rng.random() < block_share else None
        sessions.append(episode_session(
            i, rng, plan=plan, repaired=(i // 3) % 2 == 0, missed_share=missed_share, noise=noise,
            double=rng.random() < double_share, directive_block=block == "directive",
            rushing_block=block == "rushing"))
    return sessions
