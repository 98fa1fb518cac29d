"""What ``alliance-monitor status`` shows: a part's ``/metrics`` text → a few figures an operator reads.

Pure (text in, figures out), so the command module only fetches and prints.
The figures are the ones docs/metrics.md explains; a part shows those it
exports (a sink has no turns, a processor no rows). Counters are totals since
the part started; with two scrapes ``rates`` turns them into per-second figures.
"""

from __future__ import annotations

__layer__ = "cli"

from dataclasses import dataclass, field
from typing import Callable

#: sample name -> [(labels, value)]
Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse_samples(text: str) -> Samples:
    """The samples of a Prometheus text exposition; raises ValueError when it is not one."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return out


def total(samples: Samples, name: str, **match: str) -> float | None:
    """Sum of ``name``'s samples whose labels match; None when the part does not export it."""
    if name not in samples:
        return None
    return sum(v for labels, v in samples[name] if all(labels.get(k) == want for k, want in match.items()))


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


@dataclass(frozen=True)
class Figure:
    label: str
    value: Callable[[Samples], float | None]
    #: a counter total: shown per second when two scrapes are given
    counter: bool = False
    unit: str = ""


FIGURES: tuple[Figure, ...] = (
    Figure("turns", lambda s: total(s, "alliance_processor_turns_total"), counter=True),
    Figure("requests", lambda s: total(s, "alliance_processor_requests_total"), counter=True),
    Figure("signals", lambda s: total(s, "alliance_processor_signals_total"), counter=True),
    Figure("alerts", lambda s: total(s, "alliance_processor_alerts_total"), counter=True),
    Figure("sessions", lambda s: total(s, "alliance_processor_sessions")),
    Figure("scored", lambda s: total(s, "alliance_scorer_requests_total", outcome="scored"), counter=True),
    Figure("in flight", lambda s: total(s, "alliance_scorer_in_flight")),
    Figure("score mean", lambda s: _ratio(total(s, "alliance_scorer_score_seconds_sum"),
                                          total(s, "alliance_scorer_score_seconds_count")), unit="s"),
    Figure("cache hit", lambda s: _ratio(total(s, "alliance_scorer_cached_tokens_total"),
                                         total(s, "alliance_scorer_prompt_tokens_total")), unit="%"),
    Figure("records", lambda s: total(s, "alliance_sink_records_total"), counter=True),
    Figure("rows", lambda s: total(s, "alliance_sink_rows_written_total"), counter=True),
    Figure("write mean", lambda s: _ratio(total(s, "alliance_sink_write_seconds_sum"),
                                          total(s, "alliance_sink_write_seconds_count")), unit="s"),
    Figure("supervisors", lambda s: total(s, "alliance_gateway_connections", role="supervisor")),
    Figure("counselors", lambda s: total(s, "alliance_gateway_connections", role="counselor")),
    Figure("frames", lambda s: total(s, "alliance_gateway_frames_total"), counter=True),
    Figure("slow cuts", lambda s: total(s, "alliance_gateway_slow_client_cuts_total"), counter=True),
    Figure("accepted", lambda s: total(s, "alliance_ingest_records_total", outcome="accepted"), counter=True),
    Figure("duplicate", lambda s: total(s, "alliance_ingest_records_total", outcome="duplicate"), counter=True),
    Figure("rejected", lambda s: total(s, "alliance_ingest_records_total", outcome="rejected"), counter=True),
    Figure("429s", lambda s: total(s, "alliance_ingest_throttled_total", status="429"), counter=True),
    Figure("links", lambda s: total(s, "alliance_survey_links_published_total"), counter=True),
    Figure("dead letters", lambda s: total(s, "alliance_dead_letters_total"), counter=True),
    Figure("lag", lambda s: total(s, "alliance_consumer_lag_records")),
)


@dataclass
class PartStatus:
    name: str
    url: str
    ready: bool | None = None  # None: /healthz did not answer
    error: str | None = None  # why /metrics could not be read
    figures: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)  # per second, counters only


def figures_of(samples: Samples) -> dict[str, float]:
    """The figures this part exports (absent ones left out)."""
    out = {}
    for fig in FIGURES:
        value = fig.value(samples)
        if value is not None:
            out[fig.label] = value
    return out


def rates(before: Samples, after: Samples, seconds: float) -> dict[str, float]:
    """Per-second rates of the counter figures between two scrapes (a restart in between reads as 0)."""
    out = {}
    for fig in FIGURES:
        if not fig.counter:
            continue
        a, b = fig.value(before), fig.value(after)
        if a is not None and b is not None and seconds > 0:
            out[fig.label] = max(0.0, b - a) / seconds
    return out


def format_figure(label: str, value: float) -> str:
    unit = next((f.unit for f in FIGURES if f.label == label), "")
    if unit == "%":
        return f"{label} {value * 100:.0f}%"
    if unit == "s":
        return f"{label} {value * 1000:.0f} ms" if value < 1 else f"{label} {value:.1f} s"
    return f"{label} {value:.0f}"


def format_part(part: PartStatus) -> list[str]:
    """Two lines: name, URL and readiness; then the figures (per second where measured)."""
    state = "unreachable" if part.ready is None else ("ready" if part.ready else "NOT READY")
    lines = [f"{part.name:<13} {state:<11} {part.url}"]
    if part.error:
        lines.append(f"  metrics unavailable: {part.error}")
        return lines
    shown = []
    for label, value in part.figures.items():
        text = format_figure(label, value)
        if label in part.rates:
            text += f" ({part.rates[label]:.1f}/s)"
        shown.append(text)
    lines.append("  " + (" · ".join(shown) if shown else "no alliance metrics"))
    return lines
