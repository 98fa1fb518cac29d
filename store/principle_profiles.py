"""Principle profiles per counselor over time, in ``report``.

From the turn-level feedback records (``alliance.feedback``) the store keeps, or an
export of them given as ``report --feedback FILE``: per counselor and ISO week of
the record, how many turns were rated, the mean of each principle and pattern
rating, and how often each pattern was named. Numbers only — never quotes (the
stored quotes fall under retention; a profile does not need them).

With the demo model the ratings carry no signal (docs/counselor-feedback.md);
the profile is only as good as the model that rated the turns.
"""

from __future__ import annotations

__layer__ = "shell"

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Iterable, get_args

from streams.contracts import CounselorFeedback, PatternKey, PrincipleKey

from .models import CounselorFeedbackRow

PRINCIPLES: tuple[str, ...] = get_args(PrincipleKey)
PATTERNS: tuple[str, ...] = get_args(PatternKey)


@dataclass(frozen=True)
class ProfileRow:
    counselor_id: str
    week: str  # ISO week of the record, e.g. "2026-W10"
    turns: int
    sessions: int
    means: dict[str, float]  # principle or pattern -> mean rating
    named: dict[str, int]  # pattern -> turns whose card named it


#: one turn's feedback: the contract (``report --feedback FILE``) or the store's row (the same fields)
FeedbackRecord = CounselorFeedback | CounselorFeedbackRow


def _rating(rec: FeedbackRecord, key: str) -> float | None:
    if isinstance(rec, CounselorFeedback):
        return rec.rating(key)
    return rec.principles.get(key, rec.patterns.get(key))


def week_of(rec: FeedbackRecord) -> str:
    year, week, _ = rec.created_at.isocalendar()
    return f"{year}-W{week:02d}"


def profiles(records: Iterable[FeedbackRecord]) -> list[ProfileRow]:
    """One row per (counselor, week), sorted."""
    groups: dict[tuple[str, str], list[FeedbackRecord]] = {}
    for r in records:
        groups.setdefault((r.counselor_id, week_of(r)), []).append(r)
    out = []
    for (cid, week), recs in sorted(groups.items()):
        means = {}
        for key in (*PRINCIPLES, *PATTERNS):
            vals = [v for r in recs if (v := _rating(r, key)) is not None]
            means[key] = fmean(vals) if vals else math.nan
        out.append(ProfileRow(cid, week, len(recs), len({r.session_id for r in recs}), means,
                              {p: sum(r.pattern == p for r in recs) for p in PATTERNS}))
    return out


def write_csv(path: Path, rows: list[ProfileRow]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["counselor_id", "week", "rated_turns", "sessions", *PRINCIPLES, *PATTERNS,
                    *(f"named_{p}" for p in PATTERNS)])
        for r in rows:
            w.writerow([r.counselor_id, r.week, r.turns, r.sessions,
                        *("" if math.isnan(r.means[k]) else f"{r.means[k]:.4f}" for k in (*PRINCIPLES, *PATTERNS)),
                        *(r.named[p] for p in PATTERNS)])
    return path


def text_block(rows: list[ProfileRow]) -> str:
    lines = [("Principle profiles (turn-level feedback, mean rating 1–5 per counselor and week; "
              "unvalidated model ratings)")]
    for r in rows:
        vals = " ".join(f"{k[:8]} {r.means[k]:.2f}" for k in PRINCIPLES if not math.isnan(r.means[k]))
        named = ", ".join(f"{p} {r.named[p]}" for p in PATTERNS if r.named[p])
        lines.append(f"  {r.counselor_id:<16} {r.week}  turns {r.turns:<3} {vals}" + (f"  named: {named}" if named else ""))
    return "\n".join(lines) + "\n"


def plot(path: Path, rows: list[ProfileRow], figsize: tuple[float, float], dpi: int) -> Path:
    """Per principle a panel: each counselor's weekly mean as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weeks = sorted({r.week for r in rows})
    fig, axes = plt.subplots(1, len(PRINCIPLES), figsize=figsize, dpi=dpi, sharey=True)
    for ax, key in zip(axes, PRINCIPLES, strict=True):
        for cid in sorted({r.counselor_id for r in rows}):
            pts = [(weeks.index(r.week), r.means[key]) for r in rows
                   if r.counselor_id == cid and not math.isnan(r.means[key])]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=cid)
        ax.set_xticks(range(len(weeks)), weeks, fontsize=6, rotation=45)
        ax.set_ylim(1, 5)
        ax.set_title(key.replace("_", " "), fontsize=8)
    axes[0].set_ylabel("mean rating (1–5)")
    axes[0].legend(fontsize=6, loc="lower left")
    fig.suptitle("Principle profiles per counselor over time (unvalidated model ratings)")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
