"""The codebook a site codes turns with on ``/code``: the codes, their keys, their words (en + zh). Pure.

Why one module: the coding page, the store and ``eval-turns --from-store`` must
mean the same thing by a code. The page shows :data:`TURN_CODES` in this order
and toggles code *n* with number key *n*; the store keeps a coder's code set as
the names here; :func:`eval_codes` maps a code set to the yes/no codes
``eval-turns`` already judges the word rules by (``validation.turn_agreement``):
``reflection`` is either reflection, ``directive`` either advice code, ``withdrawal`` and
``confrontation`` the client markers.

The codes follow the MITI / MISC families that counseling research codes
counselor turns with, kept to what a text chat shows; the client markers are the
rupture markers of ``streams/rupture_cues.py`` (withdrawal, confrontation), and
the per-session code is a rupture episode with its type and whether it was
repaired (docs/validation.md#coding-turns-on-code).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

Speaker = Literal["counselor", "client"]
RuptureType = Literal["withdrawal", "confrontation"]
#: The store's turn id of a session-level code set (a rupture episode), never a real turn's id.
SESSION_TURN = -1


@dataclass(frozen=True)
class Code:
    """One code: its stored name, who it applies to, and the words the page shows (en, zh)."""

    name: str
    speaker: Speaker
    en: str
    zh: str
    hint_en: str
    hint_zh: str


COUNSELOR_CODES: tuple[Code, ...] = (
    Code("open_question", "counselor", "Open question", "开放式提问",
         "invites the client to say more in their own words", "邀请来访者用自己的话多说一些"),
    Code("closed_question", "counselor", "Closed question", "封闭式提问",
         "a question answered with yes/no or a fact", "可用是/否或一个事实回答的问题"),
    Code("simple_reflection", "counselor", "Simple reflection", "简单反映",
         "repeats or rephrases what the client said", "重复或换个说法复述来访者的话"),
    Code("complex_reflection", "counselor", "Complex reflection", "复杂反映",
         "adds meaning or feeling the client implied", "加入来访者隐含的意义或情感"),
    Code("affirmation", "counselor", "Affirmation", "肯定",
         "names a strength or effort of the client", "指出来访者的长处或努力"),
    Code("advice_with_permission", "counselor", "Advice/directive, with permission", "建议/指令（征得同意）",
         "advice after asking or being asked", "先询问或应来访者请求后给出建议"),
    Code("advice_without_permission", "counselor", "Advice/directive, without permission", "建议/指令（未经同意）",
         "tells the client what to do, unasked", "未经请求就告诉来访者该怎么做"),
    Code("passive_acknowledgement", "counselor", "Passive acknowledgement", "被动回应",
         "a bare 'ok' / 'I see' that moves nothing", "只是“好的”“嗯”，没有推进"),
)
CLIENT_CODES: tuple[Code, ...] = (
    Code("withdrawal_marker", "client", "Withdrawal marker", "退缩标记",
         "pulls back: minimal, evasive or shutting-down reply", "退缩：简短、回避或关闭式回复"),
    Code("confrontation_marker", "client", "Confrontation marker", "对抗标记",
         "rejects the counselor or the work, or complains", "拒绝咨询师或咨询工作，或抱怨"),
)
TURN_CODES: tuple[Code, ...] = (*COUNSELOR_CODES, *CLIENT_CODES)
BY_NAME: Mapping[str, Code] = {c.name: c for c in TURN_CODES}
RUPTURE_TYPES: tuple[RuptureType, ...] = ("withdrawal", "confrontation")

#: ``eval-turns``'s yes/no codes (``validation.turn_agreement.BINARY_CODES``) from the codebook's.
EVAL_CODES: Mapping[str, tuple[str, ...]] = {
    "open_question": ("open_question",),
    "closed_question": ("closed_question",),
    "reflection": ("simple_reflection", "complex_reflection"),
    "directive": ("advice_with_permission", "advice_without_permission"),
    "withdrawal": ("withdrawal_marker",),
    "confrontation": ("confrontation_marker",),
}
#: Which of :data:`EVAL_CODES` a turn of each speaker is judged on.
EVAL_CODES_OF: Mapping[str, tuple[str, ...]] = {
    "counselor": ("open_question", "closed_question", "reflection", "directive"),
    "client": ("withdrawal", "confrontation"),
}


def codes_for(speaker: str) -> tuple[Code, ...]:
    """The codes a turn of ``speaker`` can carry, in the page's (= the number keys') order."""
    return COUNSELOR_CODES if speaker == "counselor" else CLIENT_CODES if speaker == "client" else ()


def check_code_set(speaker: str, codes: object) -> tuple[str, ...]:
    """A coder's code set for a turn of ``speaker``, sorted in codebook order; ValueError names the bad code.

    An empty set is a decision too ("none of these"), and is kept as one.
    """
    if not isinstance(codes, (list, tuple)) or not all(isinstance(c, str) for c in codes):
        raise ValueError("codes must be a list of code names")
    allowed = codes_for(speaker)
    names = [c.name for c in allowed]
    for c in codes:
        if c not in names:
            raise ValueError(f"{c!r} is not a code for a {speaker} turn ({', '.join(names)})")
    return tuple(n for n in names if n in codes)


def check_rupture(value: object) -> dict[str, object] | None:
    """A session's rupture code: None (no episode) or {"type": withdrawal|confrontation, "repaired": bool}."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"type", "repaired"}:
        raise ValueError("rupture must be null or {type, repaired}")
    if value["type"] not in RUPTURE_TYPES or not isinstance(value["repaired"], bool):
        raise ValueError(f"rupture type must be one of {', '.join(RUPTURE_TYPES)} and repaired true or false")
    return {"type": value["type"], "repaired": value["repaired"]}


def eval_codes(code_set: tuple[str, ...] | list[str], speaker: str = "counselor") -> dict[str, float]:
    """A turn's code set as the ``eval-turns`` yes/no codes (1.0 / 0.0) its speaker's turns are judged on."""
    chosen = set(code_set)
    return {name: float(bool(chosen.intersection(EVAL_CODES[name]))) for name in EVAL_CODES_OF.get(speaker, ())}


def code_vector(speaker: str, code_set: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Every code of ``speaker``'s turns as 1 (chosen) or 0: what per-code agreement between coders compares."""
    chosen = set(code_set)
    return {c.name: int(c.name in chosen) for c in codes_for(speaker)}


def page_codebook() -> list[dict[str, object]]:
    """The codebook as the coding page receives it (number key, name, words in both languages)."""
    out: list[dict[str, object]] = []
    for speaker in ("counselor", "client"):
        for i, c in enumerate(codes_for(speaker), start=1):
            out.append({"key": i, "name": c.name, "speaker": c.speaker, "en": c.en, "zh": c.zh,
                        "hint_en": c.hint_en, "hint_zh": c.hint_zh})
    return out


@dataclass(frozen=True)
class CoderAgreement:
    """Two coders on the same turns, one code: turns compared, how often they agreed, Cohen's kappa."""

    code: str
    n: int
    percent: float
    kappa: float  # NaN when undefined (neither coder ever chose the code, or both always did)


def coder_agreement(pairs: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> list[CoderAgreement]:
    """Per code, the first two coders' agreement on the turns both coded: ``(speaker, codes_a, codes_b)``."""
    from .stats import NAN, cohen_kappa

    out = []
    for code in TURN_CODES:
        a = [int(code.name in ca) for sp, ca, _ in pairs if sp == code.speaker]
        b = [int(code.name in cb) for sp, _, cb in pairs if sp == code.speaker]
        n = len(a)
        percent = sum(x == y for x, y in zip(a, b, strict=True)) / n if n else NAN
        out.append(CoderAgreement(code.name, n, percent, cohen_kappa(a, b) if n else NAN))
    return out
