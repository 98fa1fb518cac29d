"""Synthetic counseling sessions for the stream-processor tests (no clinical data)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.contracts import ChatTurn, SessionEvent

COUNSELOR_LINES = [
    "Hi, welcome. What brings you here today?",
    "It sounds like work has been really heavy lately.",
    "How long has it felt this way?",
    "You feel like nobody notices the effort you put in.",
    "What would you like to be different by the end of our talk?",
    "That makes sense. What has helped a little before?",
]
CLIENT_LINES = [
    "I have been feeling stuck at work and I cannot sleep well at night.",
    "Mostly since my manager changed, maybe three months now, and it keeps getting worse.",
    "Yes, exactly, I stay late every day and nobody says anything about it.",
    "I would like to feel less tense and maybe talk to my manager about the hours.",
    "Going for walks helped, and talking to my sister sometimes.",
    "ok",
]


def session(
    session_id: str,
    *,
    start: datetime | None = None,
    planned_minutes: float = 3.0,
    turns: int = 18,
    gap_s: float | None = None,
    counselor_id: str = "c-test",
    ended: bool = True,
    lang: str = "en",
) -> tuple[SessionEvent, list[ChatTurn], SessionEvent | None]:
    """A started event, alternating turns spread evenly over the plan, and an ended event."""
    start = start or datetime.now(timezone.utc)
    plan_s = planned_minutes * 60
    gap = gap_s if gap_s is not None else plan_s / (turns + 1)
    started = SessionEvent(session_id=session_id, kind="started", at=start, counselor_id=counselor_id,
                           planned_minutes=planned_minutes, lang=lang)
    out = []
    for i in range(turns):
        speaker = "counselor" if i % 2 == 0 else "client"
        lines = COUNSELOR_LINES if speaker == "counselor" else CLIENT_LINES
        out.append(ChatTurn(session_id=session_id, turn_id=i, speaker=speaker, text=lines[(i // 2) % len(lines)],
                            sent_at=start + timedelta(seconds=gap * (i + 1)), counselor_id=counselor_id, lang=lang))
    end = None
    if ended:
        last = out[-1].sent_at if out else start
        end = SessionEvent(session_id=session_id, kind="ended", at=max(last + timedelta(seconds=1),
                           start + timedelta(seconds=plan_s)), counselor_id=counselor_id,
                           planned_minutes=planned_minutes, lang=lang)
    return started, out, end


def expected_cuts(start: datetime, turns: list[ChatTurn], planned_minutes: float, ended_at: datetime | None = None):
    """Turn ids each phase's cumulative cut should hold (turns strictly before each boundary)."""
    cuts = {}
    for i, phase in enumerate(("early", "middle", "late")):
        boundary = start + timedelta(seconds=planned_minutes * 60 * (i + 1) / 3)
        if ended_at is not None and ended_at < boundary:
            boundary = ended_at
        cuts[phase] = [t.turn_id for t in sorted(turns, key=lambda t: t.turn_id) if t.sent_at < boundary]
    return cuts
