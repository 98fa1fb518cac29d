"""The after-session section of ``report``: per counselor and cohort, how sessions went and what happened in them.

One row per counselor (and one for the cohort): per dimension the shares of
sessions that **deepened / stagnant / declined** — a change of at least one
scale level between the early and the late phase prediction, the phase-wise
literature's counting (:func:`store.analytics.counselor_trajectories`) — beside
the rupture and repair rates of the same counselor's stored episodes
(:mod:`store.rupture_stats`, the same figures the rupture section prints).
Written as ``after_session.csv``, a text block and ``after_session.png``
(stacked bars per counselor and dimension).
"""

from __future__ import annotations

__layer__ = "shell"

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from streams.contracts import DIMENSIONS

from . import analytics
from .rupture_stats import RuptureSummary

COHORT = "all"
COLORS = {"improved": "#27ae60", "stayed": "#95a5a6", "declined": "#c0392b"}


@dataclass(frozen=True)
class AfterSessionRow:
    counselor_id: str  # or COHORT
    trajectories: dict[str, analytics.TrajectoryShares]  # per dimension
    ruptures: RuptureSummary | None


def after_session_rows(sessions, rupture_counselors: list[RuptureSummary], rupture_total: RuptureSummary,
                       level: float = analytics.LEVEL) -> list[AfterSessionRow]:
    """Counselors (those with predictions, then those known only from episodes), then the cohort."""
    per = analytics.counselor_trajectories(sessions, level)
    ruptures = {("(unknown)" if r.key == "unknown" else r.key): r for r in rupture_counselors}
    empty: dict[str, analytics.TrajectoryShares] = {d: analytics.TrajectoryShares(d, level, 0, {c: 0 for c in analytics.CHANGES}) for d in DIMENSIONS}
    rows = [AfterSessionRow(cid, {t.dimension: t for t in per.get(cid, [])} or empty, ruptures.get(cid))
            for cid in sorted(set(per) | set(ruptures))]
    cohort = {t.dimension: t for t in analytics.trajectories(sessions, level)}
    return [*rows, AfterSessionRow(COHORT, cohort, rupture_total)]


def _share(t: analytics.TrajectoryShares, change: str) -> str:
    s = t.share(change)
    return "" if math.isnan(s) else f"{s:.4f}"


def write_csv(path: Path, rows: list[AfterSessionRow]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["counselor_id", "dimension", "sessions_early_late", "deepened", "stagnant", "declined",
                    "share_deepened", "share_stagnant", "share_declined", "sessions", "ruptures",
                    "ruptures_per_session", "closed_episodes", "repaired", "repair_rate"])
        for r in rows:
            rs = r.ruptures
            rupt = ["", "", "", "", "", ""] if rs is None else [
                rs.sessions, rs.episodes, "" if rs.per_session is None else f"{rs.per_session:.4f}", rs.closed,
                rs.repaired, "" if rs.repair_rate is None else f"{rs.repair_rate:.4f}"]
            for dim in DIMENSIONS:
                t = r.trajectories[dim]
                w.writerow([r.counselor_id, dim, t.n, *(t.counts[c] for c in analytics.PHASE_WISE_ORDER),
                            *(_share(t, c) for c in analytics.PHASE_WISE_ORDER), *rupt])
    return path


def _pct(x: float) -> str:
    return "  —" if math.isnan(x) else f"{100 * x:3.0f}%"


def text_block(rows: list[AfterSessionRow]) -> str:
    lines = [("After the session (per counselor; deepened / stagnant / declined = a change of at least one scale "
              "level early → late)")]
    for r in rows:
        dims = "  ".join(f"{d} {_pct(r.trajectories[d].share('improved'))}/{_pct(r.trajectories[d].share('stayed'))}"
                         f"/{_pct(r.trajectories[d].share('declined'))}" for d in DIMENSIONS)
        n = max(r.trajectories[d].n for d in DIMENSIONS)
        rs = r.ruptures
        rupt = "ruptures —" if rs is None else (
            f"ruptures {'—' if rs.per_session is None else f'{rs.per_session:.2f}'}/session, repaired "
            f"{rs.repaired}/{rs.closed}" + ("" if rs.repair_rate is None else f" ({100 * rs.repair_rate:.0f}%)"))
        lines.append(f"  {r.counselor_id:<16} n={n:<3} {dims}  {rupt}")
    return "\n".join(lines) + "\n"


def plot(path: Path, rows: list[AfterSessionRow], figsize: tuple[float, float], dpi: int) -> Path:
    """Stacked bars: per dimension a panel, per counselor (and the cohort) a bar of the three shares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DIMENSIONS), figsize=figsize, dpi=dpi, sharey=True)
    names = [r.counselor_id for r in rows]
    for ax, dim in zip(axes, DIMENSIONS, strict=True):
        bottom = [0.0] * len(rows)
        for change in analytics.PHASE_WISE_ORDER:
            vals = [0.0 if math.isnan(r.trajectories[dim].share(change)) else r.trajectories[dim].share(change)
                    for r in rows]
            ax.bar(range(len(rows)), vals, bottom=bottom, color=COLORS[change],
                   label=analytics.PHASE_WISE[change])
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(range(len(rows)), [f"{n}\n(n={r.trajectories[dim].n})" for n, r in zip(names, rows, strict=True)],
                      fontsize=7, rotation=30)
        ax.set_ylim(0, 1.12)
        ax.set_title(dim)
    axes[0].set_ylabel("share of sessions (early → late, ≥ 1 level)")
    axes[0].legend(loc="upper center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle("Deepened / stagnant / declined sessions per counselor")
    fig.savefig(path, dpi=dpi)  # fixed pixel size, like the other report figures
    plt.close(fig)
    return path
