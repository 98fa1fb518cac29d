"""Rupture and repair rates per session and per counselor. Pure: rows in, figures out.

Why these figures: what predicts outcome in alliance research is not whether a
rupture happens (most sessions have one) but whether it is repaired, so the
report puts the repair rate next to the count. Only *closed* episodes enter the
repair rate: an episode still open has not had its chance yet.
"""

from __future__ import annotations

__layer__ = "core"

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Protocol

KINDS = ("withdrawal", "confrontation", "mixed", "untyped")


class EpisodeLike(Protocol):
    episode_id: str
    session_id: str
    counselor_id: str
    kind: str
    status: str
    closed: bool
    sources: list[str]


@dataclass
class RuptureSummary:
    """Episodes of one group (a session, a counselor, everyone)."""

    key: str
    sessions: int = 0
    episodes: int = 0
    closed: int = 0
    repaired: int = 0
    repair_attempted: int = 0  # closed unrepaired although the counselor addressed it
    model_only: int = 0  # opened by a model drop with no client marker
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def repair_rate(self) -> float | None:
        return self.repaired / self.closed if self.closed else None

    @property
    def per_session(self) -> float | None:
        return self.episodes / self.sessions if self.sessions else None


def _add(summary: RuptureSummary, e: EpisodeLike, attempted: bool) -> None:
    summary.episodes += 1
    summary.kinds[e.kind] += 1
    if "markers" not in e.sources:
        summary.model_only += 1
    if e.closed:
        summary.closed += 1
        summary.repaired += e.status == "repaired"
        summary.repair_attempted += e.status == "unrepaired" and attempted


def summarise(episodes: Iterable[EpisodeLike], sessions: dict[str, str | None],
              attempted: Iterable[str] = ()) -> tuple[list[RuptureSummary], list[RuptureSummary], RuptureSummary]:
    """Per session, per counselor and overall.

    ``sessions`` maps every session in scope to its counselor (sessions without
    episodes count too: "0 ruptures" is a result); a session known only from its
    episodes is added. ``attempted`` lists the episode ids the counselor made a
    repair move in.
    """
    tried = set(attempted)
    episodes = list(episodes)
    owners = {sid: cid or "unknown" for sid, cid in sessions.items()}
    for e in episodes:
        owners.setdefault(e.session_id, e.counselor_id)
    by_session = {sid: RuptureSummary(sid, sessions=1) for sid in owners}
    counselors: dict[str, RuptureSummary] = {}
    for cid in owners.values():
        counselors.setdefault(cid, RuptureSummary(cid)).sessions += 1
    total = RuptureSummary("all", sessions=len(owners))
    for e in episodes:
        for s in (by_session[e.session_id], counselors[owners[e.session_id]], total):
            _add(s, e, e.episode_id in tried)
    return (sorted(by_session.values(), key=lambda s: s.key), sorted(counselors.values(), key=lambda s: s.key),
            total)
