"""Phase-wise trajectories and per-counselor profiles: pure functions over prediction records.

Why two thresholds: "declined by at least one scale level" (δ = 1.0, one full
WAI-SR response option) is the clinically obvious change; a smaller δ (default
0.25) catches the drift a small model's compressed scale shows. Both use the
same rule: late − early ≤ −δ declined, ≥ +δ improved, else stayed.
"""

from __future__ import annotations

__layer__ = "shell"

import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Literal

from streams.contracts import DIMENSIONS, PHASES
from validation.stats import MeanCI, TTest, holm, mean_ci, welch_t

from .repository import PredictionRecord

Change = Literal["declined", "stayed", "improved"]
CHANGES: tuple[Change, ...] = ("declined", "stayed", "improved")
LEVEL = 1.0


def classify_change(early: float, late: float, delta: float) -> Change:
    """declined / stayed / improved by at least ``delta`` (tolerant of float rounding)."""
    if delta <= 0:
        raise ValueError("delta must be positive")
    diff = late - early
    eps = 1e-9
    if diff <= -delta + eps:
        return "declined"
    if diff >= delta - eps:
        return "improved"
    return "stayed"


def by_session(records: Iterable[PredictionRecord]) -> dict[str, dict[str, PredictionRecord]]:
    """session_id → phase → record."""
    out: dict[str, dict[str, PredictionRecord]] = {}
    for r in records:
        out.setdefault(r.session_id, {})[r.phase] = r
    return out


@dataclass(frozen=True)
class TrajectoryShares:
    dimension: str
    delta: float
    n: int  # sessions with both an early and a late score
    counts: dict[str, int]

    def share(self, change: str) -> float:
        return self.counts[change] / self.n if self.n else math.nan


def trajectories(sessions: dict[str, dict[str, PredictionRecord]], delta: float,
                 start: str = "early", end: str = "late") -> list[TrajectoryShares]:
    """Per dimension, how many sessions declined / stayed / improved from ``start`` to ``end``."""
    out = []
    for dim in DIMENSIONS:
        counts: dict[str, int] = {c: 0 for c in CHANGES}
        n = 0
        for phases in sessions.values():
            a, b = phases.get(start), phases.get(end)
            va = None if a is None else a.dimensions.get(dim)
            vb = None if b is None else b.dimensions.get(dim)
            if va is None or vb is None:
                continue
            counts[classify_change(va, vb, delta)] += 1
            n += 1
        out.append(TrajectoryShares(dim, delta, n, counts))
    return out


def phase_means(sessions: dict[str, dict[str, PredictionRecord]]) -> dict[str, dict[str, MeanCI]]:
    """dimension → phase → mean with 95% CI across sessions."""
    return {dim: {ph: mean_ci([p[ph].dimensions.get(dim) for p in sessions.values() if ph in p])
                  for ph in PHASES} for dim in DIMENSIONS}


def session_scores(sessions: dict[str, dict[str, PredictionRecord]]) -> dict[str, PredictionRecord]:
    """One record per session: its late (whole-session) prediction, else its latest phase."""
    out = {}
    for sid, phases in sessions.items():
        for ph in reversed(PHASES):
            if ph in phases:
                out[sid] = phases[ph]
                break
    return out


@dataclass(frozen=True)
class CounselorProfile:
    counselor_id: str
    n_sessions: int
    dims: dict[str, MeanCI]


@dataclass(frozen=True)
class PairwiseTest:
    dimension: str
    a: str
    b: str
    test: TTest
    p_holm: float


def counselor_profiles(per_session: dict[str, PredictionRecord]) -> list[CounselorProfile]:
    groups: dict[str, list[PredictionRecord]] = {}
    for r in per_session.values():
        groups.setdefault(r.counselor_id or "(unknown)", []).append(r)
    return [CounselorProfile(cid, len(rs), {d: mean_ci([r.dimensions.get(d) for r in rs]) for d in DIMENSIONS})
            for cid, rs in sorted(groups.items())]


def pairwise_tests(per_session: dict[str, PredictionRecord]) -> list[PairwiseTest]:
    """Welch t tests between every pair of counselors, per dimension, Holm-adjusted per dimension."""
    groups: dict[str, list[PredictionRecord]] = {}
    for r in per_session.values():
        groups.setdefault(r.counselor_id or "(unknown)", []).append(r)
    out: list[PairwiseTest] = []
    for dim in DIMENSIONS:
        tests = []
        for a, b in itertools.combinations(sorted(groups), 2):
            t = welch_t([r.dimensions.get(dim) for r in groups[a]], [r.dimensions.get(dim) for r in groups[b]])
            tests.append((a, b, t))
        adjusted = holm([t.p for _, _, t in tests])
        out.extend(PairwiseTest(dim, a, b, t, p) for (a, b, t), p in zip(tests, adjusted, strict=True))
    return out


#: The phase-wise literature's names for a change of at least one scale level, early → late.
PHASE_WISE: dict[Change, str] = {"improved": "deepened", "stayed": "stagnant", "declined": "declined"}
PHASE_WISE_ORDER: tuple[Change, ...] = ("improved", "stayed", "declined")


def counselor_trajectories(sessions: dict[str, dict[str, PredictionRecord]], level: float = LEVEL
                           ) -> dict[str, list[TrajectoryShares]]:
    """Per counselor, per dimension: sessions deepened / stagnant / declined by at least ``level``.

    The same rule as :func:`trajectories` (so the cohort row is that function on
    every session); a session's counselor is the one on its predictions.
    """
    groups: dict[str, dict[str, dict[str, PredictionRecord]]] = {}
    for sid, phases in sessions.items():
        cid = next((r.counselor_id for r in phases.values() if r.counselor_id), None) or "(unknown)"
        groups.setdefault(cid, {})[sid] = phases
    return {cid: trajectories(group, level) for cid, group in sorted(groups.items())}
