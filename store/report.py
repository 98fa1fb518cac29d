"""``alliance-monitor report``: phase-wise trajectories and counselor profiles, as PNG + CSV + text.

The numbers come from :mod:`store.analytics` (pure); this module only reads the
store, draws (matplotlib, Agg backend: no display needed) and writes files.
Figures have a fixed size in pixels (no tight bounding box) so dashboards and
tests can rely on it.
"""

from __future__ import annotations

__layer__ = "shell"

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from streams.contracts import DIMENSIONS, PHASES

from . import analytics
from .repository import ModelKey, StoreRepository, pick_model

DPI = 100
#: (width, height) in inches of each figure; pixels = inches × DPI.
FIGSIZES = {"trajectories.png": (12.0, 4.5), "changes.png": (10.0, 4.5), "counselors.png": (12.0, 4.5),
            "after_session.png": (12.0, 4.5)}
COLORS = {"declined": "#c0392b", "stayed": "#95a5a6", "improved": "#27ae60"}
#: only with ``--feedback`` (not in FIGSIZES: that is every report's figures).
PRINCIPLES_FIGSIZE = (14.0, 4.0)
DIM_COLORS = {"goal": "#1f77b4", "approach": "#ff7f0e", "bond": "#2ca02c"}


@dataclass
class ReportResult:
    model: ModelKey
    sessions: int
    files: list[Path]
    text: str


def _fmt(x: float, digits: int = 2) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def build_report(engine: Engine, out_dir: Path, *, delta: float = 0.25, model: str | None = None,
                 level: float = analytics.LEVEL, feedback: list | None = None) -> ReportResult:
    """The report; principle profiles per counselor and week come from ``feedback`` (CounselorFeedback
    records from a file) or else from the feedback the store keeps (the sink reads ``alliance.feedback``)."""
    repo = StoreRepository(engine)
    if feedback is None:
        feedback = repo.feedback()
    key = pick_model(repo.model_identities(), model)
    sessions = analytics.by_session(repo.predictions(key))
    out_dir.mkdir(parents=True, exist_ok=True)

    shares = {("level", level): analytics.trajectories(sessions, level),
              ("delta", delta): analytics.trajectories(sessions, delta)}
    means = analytics.phase_means(sessions)
    per_session = analytics.session_scores(sessions)
    profiles = analytics.counselor_profiles(per_session)
    pairs = analytics.pairwise_tests(per_session)

    files = [
        _write_trajectories_csv(out_dir / "trajectories.csv", shares),
        _write_phase_means_csv(out_dir / "phase_means.csv", means),
        _write_counselors_csv(out_dir / "counselors.csv", profiles),
        _write_pairwise_csv(out_dir / "pairwise.csv", pairs),
    ]
    files += _plots(out_dir, sessions, means, shares, profiles)
    text = _summary_text(key, sessions, shares, profiles, pairs)
    from .ratings_report import write_ratings_report

    rating_files, rating_text = write_ratings_report(engine, out_dir)
    files += rating_files
    text += "\n" + rating_text
    from . import after_session
    from .rupture_report import summaries, write_rupture_report

    ruptures = summaries(engine)
    rupture_files, rupture_text = write_rupture_report(engine, out_dir, ruptures)
    files += rupture_files
    text += "\n" + rupture_text
    rows = after_session.after_session_rows(sessions, ruptures[1], ruptures[2], level)
    files.append(after_session.write_csv(out_dir / "after_session.csv", rows))
    files.append(after_session.plot(out_dir / "after_session.png", rows, FIGSIZES["after_session.png"], DPI))
    text += "\n" + after_session.text_block(rows)
    if feedback:
        from . import principle_profiles

        prof = principle_profiles.profiles(feedback)
        files.append(principle_profiles.write_csv(out_dir / "principles.csv", prof))
        files.append(principle_profiles.plot(out_dir / "principles.png", prof, PRINCIPLES_FIGSIZE, DPI))
        text += "\n" + principle_profiles.text_block(prof)
    (out_dir / "summary.txt").write_text(text, encoding="utf-8")
    files.append(out_dir / "summary.txt")
    return ReportResult(key, len(sessions), files, text)


def _write_trajectories_csv(path: Path, shares) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["threshold", "delta", "dimension", "sessions", "declined", "stayed", "improved",
                    "share_declined", "share_stayed", "share_improved"])
        for (name, d), rows in shares.items():
            for s in rows:
                w.writerow([name, d, s.dimension, s.n, *(s.counts[c] for c in analytics.CHANGES),
                            *(_fmt(s.share(c), 4) for c in analytics.CHANGES)])
    return path


def _write_phase_means_csv(path: Path, means) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dimension", "phase", "sessions", "mean", "ci95_low", "ci95_high"])
        for dim in DIMENSIONS:
            for ph in PHASES:
                m = means[dim][ph]
                w.writerow([dim, ph, m.n, _fmt(m.mean, 4), _fmt(m.low, 4), _fmt(m.high, 4)])
    return path


def _write_counselors_csv(path: Path, profiles) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["counselor_id", "sessions", "dimension", "mean", "ci95_low", "ci95_high", "sd"])
        for p in profiles:
            for dim in DIMENSIONS:
                m = p.dims[dim]
                w.writerow([p.counselor_id, p.n_sessions, dim, _fmt(m.mean, 4), _fmt(m.low, 4),
                            _fmt(m.high, 4), _fmt(m.sd, 4)])
    return path


def _write_pairwise_csv(path: Path, pairs) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["dimension", "counselor_a", "counselor_b", "mean_diff", "welch_t", "df", "p", "p_holm"])
        for t in pairs:
            w.writerow([t.dimension, t.a, t.b, _fmt(t.test.diff, 4), _fmt(t.test.t, 4), _fmt(t.test.df, 2),
                        _fmt(t.test.p, 4), _fmt(t.p_holm, 4)])
    return path


def _plots(out_dir: Path, sessions, means, shares, profiles) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    # 1. trajectories: every session thin, the mean with its 95% CI bold
    fig, axes = plt.subplots(1, 3, figsize=FIGSIZES["trajectories.png"], dpi=DPI, sharey=True)
    xs = list(range(len(PHASES)))
    for ax, dim in zip(axes, DIMENSIONS, strict=True):
        for phases in sessions.values():
            pts = [(i, phases[ph].dimensions.get(dim)) for i, ph in enumerate(PHASES) if ph in phases]
            pts = [(i, v) for i, v in pts if v is not None]
            if len(pts) >= 2:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color="#bbbbbb", lw=0.8, alpha=0.6)
        m = [means[dim][ph] for ph in PHASES]
        ys = [x.mean for x in m]
        err = [[0 if math.isnan(x.low) else x.mean - x.low for x in m],
               [0 if math.isnan(x.high) else x.high - x.mean for x in m]]
        ax.errorbar(xs, ys, yerr=err, color=DIM_COLORS[dim], lw=2.5, capsize=5, marker="o", label="mean ± 95% CI")
        ax.set_xticks(xs, PHASES)
        ax.set_ylim(1, 5)
        ax.set_title(dim)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted WAI-SR score (1–5)")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"Phase-wise trajectories ({len(sessions)} sessions)")
    paths.append(_save(fig, out_dir / "trajectories.png"))

    # 2. declined / stayed / improved shares, per dimension and threshold
    fig, ax = plt.subplots(figsize=FIGSIZES["changes.png"], dpi=DPI)
    labels = []
    rows = [(f"{s.dimension}\nδ={d:g}", s) for (_, d), ss in shares.items() for s in ss]
    for i, (label, s) in enumerate(rows):
        labels.append(label)
        bottom = 0.0
        for c in analytics.CHANGES:
            v = 0.0 if math.isnan(s.share(c)) else s.share(c)
            ax.bar(i, v, bottom=bottom, color=COLORS[c], label=c if i == 0 else None)
            bottom += v
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("share of sessions (early → late)")
    ax.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    ax.set_title("Alliance change from early to late phase")
    paths.append(_save(fig, out_dir / "changes.png"))

    # 3. per-counselor profiles: mean per dimension with 95% CI
    fig, ax = plt.subplots(figsize=FIGSIZES["counselors.png"], dpi=DPI)
    width = 0.8 / len(DIMENSIONS)
    for j, dim in enumerate(DIMENSIONS):
        xs_c = [i + (j - 1) * width for i in range(len(profiles))]
        ms = [p.dims[dim] for p in profiles]
        ax.bar(xs_c, [0 if math.isnan(m.mean) else m.mean for m in ms], width, color=DIM_COLORS[dim], label=dim,
               yerr=[[0 if math.isnan(m.low) else m.mean - m.low for m in ms],
                     [0 if math.isnan(m.high) else m.high - m.mean for m in ms]], capsize=3)
    ax.set_xticks(range(len(profiles)), [f"{p.counselor_id}\n(n={p.n_sessions})" for p in profiles])
    ax.set_ylim(1, 5)
    ax.set_ylabel("mean predicted score (late phase)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Per-counselor profiles (95% CI)")
    paths.append(_save(fig, out_dir / "counselors.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=DPI)  # no bbox_inches="tight": the pixel size stays fixed
    plt.close(fig)
    return path


def _summary_text(key, sessions, shares, profiles, pairs) -> str:
    lines = [f"Alliance report — model {key}", f"sessions with predictions: {len(sessions)}", ""]
    lines.append("Change early → late (share of sessions with both phases)")
    for (name, d), rows in shares.items():
        what = "one scale level" if name == "level" else f"δ = {d:g}"
        lines.append(f"  by at least {what}:")
        for s in rows:
            lines.append(f"    {s.dimension:<9} n={s.n:<4} declined {_pct(s.share('declined'))}  "
                         f"stayed {_pct(s.share('stayed'))}  improved {_pct(s.share('improved'))}")
    lines += ["", "Per-counselor profiles (late phase; mean [95% CI])"]
    for p in profiles:
        dims = "  ".join(f"{d} {_fmt(p.dims[d].mean)} [{_fmt(p.dims[d].low)}, {_fmt(p.dims[d].high)}]"
                         for d in DIMENSIONS)
        lines.append(f"  {p.counselor_id:<16} n={p.n_sessions:<4} {dims}")
    sig = [t for t in pairs if not math.isnan(t.p_holm) and t.p_holm < 0.05]
    lines += ["", f"Pairwise Welch t tests: {len(pairs)} comparisons, {len(sig)} with Holm-adjusted p < .05"]
    for t in sig:
        lines.append(f"  {t.dimension}: {t.a} vs {t.b} diff {_fmt(t.test.diff)} t={_fmt(t.test.t)} "
                     f"p_holm={_fmt(t.p_holm, 4)}")
    lines.append("")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "   —" if math.isnan(x) else f"{100 * x:3.0f}%"
