"""Split labelled sessions by time and by session (pure).

Why by time: a model is trained on what a site has rated so far and used on the
sessions that come after, so evaluation must come after training in time too.
Why by session: a session's text and its rating must never be on both sides.
Counselors usually are on both sides (the same staff keep counselling); the
split reports how many, because a head could learn a counselor's style rather
than the alliance, and a reader should know how much room there was for that.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from .dataset import LabelledSession
from .errors import TrainingError


@dataclass(frozen=True)
class Split:
    train: tuple[LabelledSession, ...]
    evaluation: tuple[LabelledSession, ...]
    cutoff: datetime | None

    @property
    def shared_counselors(self) -> int:
        """Counselors with sessions on both sides."""
        return len({s.counselor_id for s in self.train} & {s.counselor_id for s in self.evaluation})

    def summary(self) -> str:
        when = f" (evaluation starts {self.cutoff.isoformat()})" if self.cutoff else ""
        return (f"split by time and session: {len(self.train)} train, {len(self.evaluation)} evaluation sessions"
                f"{when}; {self.shared_counselors} counselor(s) appear on both sides")


def split_by_time(sessions: Sequence[LabelledSession], eval_share: float = 0.3) -> Split:
    """The newest ``eval_share`` of sessions (by start time) for evaluation, the rest for training.

    Sessions that start at the same instant as the cutoff all go to evaluation,
    so "train is strictly older than evaluation" holds. ``eval_share=0`` keeps
    everything for training (evaluation then happens elsewhere, e.g. ``eval``).
    """
    if not 0.0 <= eval_share < 1.0:
        raise TrainingError(f"the evaluation share must be in [0, 1), got {eval_share}")
    ids = [s.session_id for s in sessions]
    if len(set(ids)) != len(ids):
        raise TrainingError("a session id occurs twice among the labelled sessions")
    ordered = sorted(sessions, key=lambda s: (s.started_at, s.session_id))
    n_eval = int(round(len(ordered) * eval_share))
    if n_eval == 0:
        return Split(tuple(ordered), (), None)
    cutoff = ordered[len(ordered) - n_eval].started_at
    train = tuple(s for s in ordered if s.started_at < cutoff)
    evaluation = tuple(s for s in ordered if s.started_at >= cutoff)
    return Split(train, evaluation, cutoff)
