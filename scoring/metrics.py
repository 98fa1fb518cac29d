"""The scoring worker's Prometheus metrics (docs/metrics.md): the Prometheus :class:`ScorerSensor`. A shell module.

Why these: the scorer is the expensive stage. An operator asks "how long does a
phase take" (latency), "is the prefix cache working" (cached / prompt tokens, by
phase: a late phase should be mostly cached), "how much is waiting" (in flight
here, and the lag of the requests topic in streams.telemetry) and "what fails"
(outcomes, retries, dead letters). The worker never touches these: it tells its
sensor what happened (scoring/sensor.py), and :class:`PrometheusScorerSensor` counts.
"""

from __future__ import annotations

__layer__ = "shell"

from typing import Collection

from prometheus_client import Counter, Gauge, Histogram

from streams.telemetry import count_dead_letter, observe_consumer

PART = "scorer"

REQUESTS = Counter("alliance_scorer_requests", "Score requests finished, by outcome (scored, dead_lettered)",
                   ["outcome"])
RETRIES = Counter("alliance_scorer_retries", "Scoring attempts retried after a failure or a timeout")
SCORE_SECONDS = Histogram(
    "alliance_scorer_score_seconds", "One request scored (all items, the model's own latency), by phase", ["phase"],
    buckets=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0))
REQUEST_SECONDS = Histogram(
    "alliance_scorer_request_seconds",
    "From the processor's request (its created_at) to the score sent: queue wait plus scoring, by phase", ["phase"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0))
PROMPT_TOKENS = Counter("alliance_scorer_prompt_tokens", "Prompt tokens of scored requests, by phase", ["phase"])
CACHED_TOKENS = Counter("alliance_scorer_cached_tokens",
                        "Prompt tokens served from the engine's prefix cache, by phase (hit ratio = cached / prompt)",
                        ["phase"])
FEEDBACK = Counter("alliance_scorer_feedback", "Counselor turns rated (turn-level feedback records sent)")
IN_FLIGHT = Gauge("alliance_scorer_in_flight", "Requests of the batch being scored now")


class PrometheusScorerSensor:
    """The scorer's events as the metrics above (stateless: every instance counts into the process's registry)."""

    def on_batch_started(self, requests: int) -> None:
        IN_FLIGHT.set(requests)

    def on_batch_finished(self) -> None:
        IN_FLIGHT.set(0)

    def on_retry(self) -> None:
        RETRIES.inc()

    def on_scored(self, phase: str, score_s: float, waited_s: float | None, prompt_tokens: int,
                  cached_tokens: int) -> None:
        REQUESTS.labels("scored").inc()
        if waited_s is not None:
            REQUEST_SECONDS.labels(phase).observe(max(0.0, waited_s))
        SCORE_SECONDS.labels(phase).observe(score_s)
        PROMPT_TOKENS.labels(phase).inc(prompt_tokens)
        CACHED_TOKENS.labels(phase).inc(cached_tokens)

    def on_feedback(self) -> None:
        FEEDBACK.inc()

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        REQUESTS.labels("dead_lettered").inc()
        count_dead_letter(PART, topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        await observe_consumer(PART, group, consumer, topics)
