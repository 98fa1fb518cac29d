"""The rupture section of ``alliance-monitor report``: CSV files and a text block from the store."""

from __future__ import annotations

__layer__ = "shell"

import csv
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .models import ChatSession, RuptureEpisodeRow
from .rupture_stats import KINDS, RuptureSummary, summarise


def load(engine: Engine) -> tuple[list[RuptureEpisodeRow], dict[str, str | None], list[str]]:
    """Stored episodes, every stored session with its counselor, and the episodes with a repair attempt."""
    with Session(engine) as s:
        rows = list(s.scalars(select(RuptureEpisodeRow).order_by(RuptureEpisodeRow.opened_at)))
        sessions = {sid: cid for sid, cid in s.execute(select(ChatSession.session_id, ChatSession.counselor_id))}
        s.expunge_all()
    attempted = [r.episode_id for r in rows if r.repair_moves]
    return rows, sessions, attempted


def summaries(engine: Engine) -> tuple[list[RuptureSummary], list[RuptureSummary], RuptureSummary]:
    """Per session, per counselor and overall, from the store."""
    rows, sessions, attempted = load(engine)
    return summarise(rows, sessions, attempted)


def write_rupture_report(engine: Engine, out_dir: Path, figures=None) -> tuple[list[Path], str]:
    """Write ruptures_sessions.csv and ruptures_counselors.csv; return them and the text block.

    ``figures``: the result of :func:`summaries` when the caller already has it.
    """
    per_session, per_counselor, total = figures if figures is not None else summaries(engine)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [_csv(out_dir / "ruptures_sessions.csv", "session_id", per_session),
             _csv(out_dir / "ruptures_counselors.csv", "counselor_id", per_counselor)]
    return files, text_block(per_counselor, total)


def _rate(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "—"
    return f"{100 * x:.0f}%" if pct else f"{x:.2f}"


def _csv(path: Path, key: str, rows: list[RuptureSummary]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([key, "sessions", "episodes", "per_session", *KINDS, "closed", "repaired", "repair_rate",
                    "unrepaired_after_attempt", "model_only"])
        for r in rows:
            w.writerow([r.key, r.sessions, r.episodes, _rate(r.per_session), *(r.kinds[k] for k in KINDS), r.closed,
                        r.repaired, "" if r.repair_rate is None else f"{r.repair_rate:.4f}", r.repair_attempted,
                        r.model_only])
    return path


def text_block(per_counselor: list[RuptureSummary], total: RuptureSummary) -> str:
    lines = ["Rupture episodes (closed episodes for the repair rate)",
             f"  all: {total.episodes} episode(s) in {total.sessions} session(s), "
             f"{_rate(total.per_session)} per session; repaired {total.repaired}/{total.closed} "
             f"({_rate(total.repair_rate, True)}); " + ", ".join(f"{k} {total.kinds[k]}" for k in KINDS)]
    for c in per_counselor:
        lines.append(f"  {c.key:<16} sessions {c.sessions:<3} episodes {c.episodes:<3} "
                     f"per session {_rate(c.per_session):<5} repaired {c.repaired}/{c.closed} "
                     f"({_rate(c.repair_rate, True)})")
    return "\n".join(lines) + "\n"
