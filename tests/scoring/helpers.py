"""Shared test data and a pass-through recorder for engine calls (not a fake)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.engines.base import Completion
from scoring.prompts import Line

EN_SESSION = [
    Line("counselor", "Hi, thanks for coming. What would you like to talk about today?"),
    Line("client", "I have been sleeping badly since I started the new job, maybe four hours a night."),
    Line("counselor", "Four hours a night sounds exhausting. What keeps you awake?"),
    Line("client", "I keep replaying meetings in my head and worrying that my manager thinks I am slow."),
    Line("counselor", "So the worry about how your manager sees you follows you to bed."),
    Line("client", "Yes, exactly. I would like to sleep at least six hours and feel less anxious at work."),
    Line("counselor", "Shall we make that our goal: six hours of sleep and less worry about the manager?"),
    Line("client", "That sounds right. I am glad you get it."),
    Line("counselor", "What have you tried so far to wind down in the evening?"),
    Line("client", "Mostly scrolling on my phone, which probably does not help."),
    Line("counselor", "Would you be willing to try a short wind-down routine without the phone this week?"),
    Line("client", "I can try. Writing the worries down before bed might help too."),
]

ZH_SESSION = [
    Line("counselor", "你好，今天想聊些什么？"),
    Line("client", "我最近和父母关系很紧张，每天都在吵架。"),
    Line("counselor", "听起来这让你很累。你希望事情有什么变化？"),
    Line("client", "我希望能好好说话，不要一开口就吵。"),
]


def unique_session(base: list[Line], tag: str) -> list[Line]:
    """The same conversation with a unique first line, so no other test's cache helps."""
    return [Line(base[0].speaker, f"{base[0].text} (session {tag})"), *base[1:]]


@dataclass
class RecordingEngine:
    """Wraps a real engine and records every Completion it returns (for cache assertions)."""

    inner: object
    calls: list[tuple[list[int], Completion]] = field(default_factory=list)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def complete(self, prompt_ids, **kwargs) -> Completion:
        c = await self.inner.complete(prompt_ids, **kwargs)
        self.calls.append((list(prompt_ids), c))
        return c

    async def aclose(self) -> None:  # the session fixture owns the real engine
        return None


def common_prefix(a, b) -> int:
    """Length of the shared prefix of two sequences (strings or token id lists)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
