"""The published WAI-SR prompt (docs/scoring.md#the-prompt) in English and Chinese, laid out for prefix caching.

Layout: instructions, then the transcript, then the item. Everything up to the
``Question:`` line is identical for the 12 items of a phase, and a later phase's
cumulative transcript starts with the earlier phase's transcript, so the engine's
automatic prefix cache reuses that work (docs/scoring.md). The answer position is the
first token of the assistant turn: the prompt asks for the choice on the first
line, so that token is where the option labels "1".."5" are read.

Pure functions; the tokenizer is passed in (anything with ``apply_chat_template``).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

from streams.contracts import Lang, Speaker

from .instrument import OPTIONS_TEXT, Item

#: Goes into ModelIdentity.prompt_version: change it whenever any wording,
#: label or layout below changes (scores from different versions are not comparable).
PROMPT_VERSION = "wai-sr-client-v1"

SPEAKER_LABEL: dict[Lang, dict[Speaker, str]] = {
    "en": {"counselor": "Counselor", "client": "Client"},
    "zh": {"counselor": "咨询师", "client": "来访者"},
}
_COLON: dict[Lang, str] = {"en": ": ", "zh": "："}

INTRO: dict[Lang, str] = {
    "en": "Here is the psychological counseling dialogue between you as a client and your counselor.",
    "zh": "以下是你作为来访者与你的咨询师之间的心理咨询对话。",
}
INSTRUCTION: dict[Lang, str] = {
    "en": (
        "Before the end of this psychological counseling session, please complete the following "
        "multiple-choice question based on the conversation and your own situation. Provide the "
        "corresponding reasons with direct quotes from the dialogue between you and the counselor. "
        "(Output should be two lines, with each line indicating the choice and reason respectively):"
    ),
    "zh": (
        "在本次心理咨询结束之前，请根据对话内容和你自己的情况完成下面的选择题，"
        "并直接引用你和咨询师对话中的原话说明相应的理由。"
        "（输出为两行，分别为选择和理由）："
    ),
}
QUESTION: dict[Lang, str] = {"en": "Question: ", "zh": "问题："}
OPTIONS: dict[Lang, str] = {"en": "Options: ", "zh": "选项："}
OMITTED: dict[Lang, str] = {
    "en": "[{n} earlier turns omitted]",
    "zh": "[省略了前面的 {n} 轮对话]",
}


class TurnLike(Protocol):
    """A transcript line: the contract's TranscriptLine or ChatTurn, or a :class:`Line` (read-only)."""

    @property
    def speaker(self) -> Speaker: ...

    @property
    def text(self) -> str: ...


class ChatTemplater(Protocol):
    chat_template: str | None

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Line:
    """A transcript line independent of the contract types (score-file uses it too)."""

    speaker: Speaker
    text: str


def transcript_text(turns: Iterable[TurnLike], lang: Lang, *, omitted: int = 0) -> str:
    """``Counselor: …`` / ``Client: …`` lines (``咨询师：…`` / ``来访者：…`` in Chinese).

    Newlines inside a message are flattened to spaces so a client cannot forge a
    speaker line by typing ``Counselor:`` on a new line.
    """
    labels, colon = SPEAKER_LABEL[lang], _COLON[lang]
    lines = [OMITTED[lang].format(n=omitted)] if omitted else []
    for t in turns:
        text = " ".join(t.text.split())
        lines.append(f"{labels[t.speaker]}{colon}{text}")
    return "\n".join(lines)


def user_message(transcript: str, item: Item, lang: Lang) -> str:
    """The published prompt for one item: intro, transcript, instruction, question, options."""
    return (
        f"{INTRO[lang]}\n{transcript}\n\n{INSTRUCTION[lang]}\n"
        f"{QUESTION[lang]}{item.wording(lang)}\n{OPTIONS[lang]}{OPTIONS_TEXT[lang]}"
    )


def render(tokenizer: ChatTemplater, message: str) -> str:
    """The prompt text in the model's own chat template, ending where the answer starts.

    A model without a chat template (a base model) gets the plain message and a
    newline; the answer position is then the next token.
    """
    if getattr(tokenizer, "chat_template", None):
        text: str = tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )
        return text
    return message + "\n"


def render_item(tokenizer: ChatTemplater, turns: Sequence[TurnLike], item: Item, lang: Lang, *,
                omitted: int = 0) -> str:
    return render(tokenizer, user_message(transcript_text(turns, lang, omitted=omitted), item, lang))
