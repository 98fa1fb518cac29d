"""The stream processor's Prometheus metrics (docs/metrics.md): the Prometheus :class:`ProcessorSensor`. A shell.

Why these: turns in per second says how much chat the site carries; requests,
signals and alerts out (alerts by kind and gate) say what the monitor did with
it; the handling time per record and the lag (streams.telemetry) say whether
one worker keeps up or another is needed. The agents never touch these: they tell
their sensor what happened (streams/processor_sensor.py), and
:class:`PrometheusProcessorSensor` counts.
"""

from __future__ import annotations

__layer__ = "shell"

from typing import Collection

from prometheus_client import Counter, Gauge, Histogram

from .telemetry import count_dead_letter, observe_consumer

PART = "processor"

TURNS = Counter("alliance_processor_turns", "Chat turns consumed (rate() = turns per second)")
SESSION_EVENTS = Counter("alliance_processor_session_events", "Session start/end events consumed")
DUPLICATES = Counter("alliance_processor_duplicate_turns", "Turns seen before (re-delivered), absorbed")
REQUESTS = Counter("alliance_processor_requests", "Score requests sent (one per session and phase), by phase",
                   ["phase"])
TEXTS_RESTORED = Counter("alliance_processor_texts_restored",
                         "Re-delivered turns whose text was missing after a crash (state landed, text did not)")
SIGNALS = Counter("alliance_processor_signals", "Process signals sent")
ALERTS = Counter("alliance_processor_alerts",
                 "Alerts sent, by kind and gate (process, validated: counselors too; unvalidated: supervisors only)",
                 ["kind", "gate"])
EPISODES = Counter("alliance_processor_rupture_episodes", "Rupture episode changes sent")
SCORES = Counter("alliance_processor_scores", "Scores consumed by the alert policy")
RECORD_SECONDS = Histogram(
    "alliance_processor_record_seconds", "Time to handle one input record (state, core decision, sends), by topic",
    ["topic"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
SESSIONS = Gauge("alliance_processor_sessions", "Sessions this worker watches (its partitions' live sessions)")


class PrometheusProcessorSensor:
    """The processor's events as the metrics above (stateless: every instance counts into the process's registry)."""

    def on_turn(self) -> None:
        TURNS.inc()

    def on_session_event(self) -> None:
        SESSION_EVENTS.inc()

    def on_duplicate_turn(self) -> None:
        DUPLICATES.inc()

    def on_text_restored(self) -> None:
        TEXTS_RESTORED.inc()

    def on_request(self, phase: str) -> None:
        REQUESTS.labels(phase).inc()

    def on_signal(self) -> None:
        SIGNALS.inc()

    def on_alert(self, kind: str, gate: str) -> None:
        ALERTS.labels(kind, gate).inc()

    def on_episode(self) -> None:
        EPISODES.inc()

    def on_score(self) -> None:
        SCORES.inc()

    def on_record_handled(self, topic: str, seconds: float) -> None:
        RECORD_SECONDS.labels(topic).observe(seconds)

    def on_sessions(self, live: int) -> None:
        SESSIONS.set(live)

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        count_dead_letter(PART, topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        await observe_consumer(PART, group, consumer, topics)
