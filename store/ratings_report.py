"""The client-ratings part of ``alliance-monitor report``: response rate per counselor and the
distribution of the answers, as text, CSV and one PNG.

Why response rates per counselor: a model is validated on the sessions clients
chose to rate. If one counselor's clients rate 80 % of sessions and another's
10 %, the validation speaks mostly for the first; a site should see that before
trusting a verdict. Only aggregates leave this module — counts and means over
sessions — never an individual rating.
"""

from __future__ import annotations

__layer__ = "shell"

import csv
import math
from pathlib import Path

from sqlalchemy import Engine

from streams.contracts import DIMENSIONS, INSTRUMENT_ITEMS, ITEM_DIMENSION

from .ratings import Distribution, ResponseRate, distributions, response_rates

ANSWER_COLUMNS = tuple(range(11))  # covers wai-sr 1..5 and srs 0..10
FIGSIZE = (12.0, 4.5)
DPI = 100


def _mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else math.nan
    return m, sd


def _from_counts(counts: dict[int, int]) -> list[float]:
    return [float(v) for v, k in counts.items() for _ in range(k)]


def write_ratings_report(engine: Engine, out_dir: Path) -> tuple[list[Path], str]:
    """Write response_rates.csv, rating_distribution.csv and ratings.png; return them and the text section."""
    rates = response_rates(engine)
    dists = distributions(engine)
    files = [_rates_csv(out_dir / "response_rates.csv", rates), _dist_csv(out_dir / "rating_distribution.csv", dists),
             _plot(out_dir / "ratings.png", rates, dists)]
    return files, _text(rates, dists)


def _rates_csv(path: Path, rates: list[ResponseRate]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["counselor_id", "ended_sessions", "rated_sessions", "response_rate"])
        for r in rates:
            w.writerow([r.counselor_id, r.ended, r.rated, f"{r.rate:.3g}" if r.ended else ""])
    return path


def _dist_csv(path: Path, dists: list[Distribution]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["instrument", "item", "dimension", "n", "mean", "sd", *[f"answer_{v}" for v in ANSWER_COLUMNS]])
        for d in dists:
            _, low, high = INSTRUMENT_ITEMS[d.instrument]
            for item, counts in d.items.items():
                m, sd = _mean_sd(_from_counts(counts))
                w.writerow([d.instrument, item, ITEM_DIMENSION.get(item, ""), sum(counts.values()),
                            f"{m:.3f}", "" if math.isnan(sd) else f"{sd:.3f}",
                            *[counts.get(v, 0) if low <= v <= high else "" for v in ANSWER_COLUMNS]])
            for dim, values in d.dimension_means.items():
                m, sd = _mean_sd(values)
                w.writerow([d.instrument, f"{dim} (mean of 4 items)", dim, len(values),
                            "" if math.isnan(m) else f"{m:.3f}", "" if math.isnan(sd) else f"{sd:.3f}",
                            *[""] * len(ANSWER_COLUMNS)])
    return path


def _plot(path: Path, rates: list[ResponseRate], dists: list[Distribution]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI)
    shown = [r for r in rates if r.ended]
    left.bar(range(len(shown)), [r.rate for r in shown], color="#2f6fde")
    left.set_xticks(range(len(shown)), [f"{r.counselor_id}\n{r.rated}/{r.ended}" for r in shown], fontsize=8)
    left.set_ylim(0, 1.05)
    left.set_ylabel("rated / ended sessions")
    left.set_title("Response rate per counselor")
    wai = next((d for d in dists if d.instrument == "wai-sr"), None)
    if wai is not None:
        bins = [0.875 + 0.25 * i for i in range(18)]  # one bin per possible mean of four 1-5 answers
        colors = {"goal": "#1f77b4", "approach": "#ff7f0e", "bond": "#2ca02c"}
        right.hist([wai.dimension_means[d] for d in DIMENSIONS], bins=bins, label=list(DIMENSIONS),
                   color=[colors[d] for d in DIMENSIONS])
        right.set_xticks([1, 2, 3, 4, 5])
        right.legend(fontsize=8)
        right.set_xlabel("client-rated WAI-SR dimension (mean of 4 items, 1–5)")
        right.set_ylabel("sessions")
        right.set_title(f"Client ratings (latest per session, n={wai.sessions})")
    else:
        right.text(0.5, 0.5, "no WAI-SR ratings yet", ha="center", va="center")
        right.set_axis_off()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _text(rates: list[ResponseRate], dists: list[Distribution]) -> str:
    lines = ["Client ratings: response rate per counselor (rated / ended sessions)"]
    if not rates:
        lines.append("  no ended sessions in the store")
    for r in rates:
        pct = f"{100 * r.rate:3.0f}%" if r.ended else "   —"
        lines.append(f"  {r.counselor_id:<16} {r.rated:>4} / {r.ended:<4} {pct}")
    total_ended = sum(r.ended for r in rates)
    if total_ended:
        lines.append(f"  {'all':<16} {sum(r.rated for r in rates):>4} / {total_ended:<4} "
                     f"{100 * sum(r.rated for r in rates) / total_ended:3.0f}%")
    if not dists:
        lines += ["", "Rating distribution: no client ratings in the store"]
    for d in dists:
        lines += ["", (f"Rating distribution, {d.instrument} (latest rating of {d.sessions} sessions; mean, then "
                       "how many gave each answer)")]
        if d.dimension_means:
            for dim, values in d.dimension_means.items():
                m, sd = _mean_sd(values)
                lines.append(f"  {dim:<12} mean {m:.2f}" + ("" if math.isnan(sd) else f"  sd {sd:.2f}"))
        for item, counts in d.items.items():
            m, _ = _mean_sd(_from_counts(counts))
            lines.append(f"  {item:<12} mean {m:5.2f}   " + " ".join(f"{v}:{k}" for v, k in counts.items()))
    lines.append("")
    return "\n".join(lines)
