"""The scorer's sensor: what the scoring worker tells its metrics, named for what happened.

Why a protocol (as faust's ``Sensor``): the worker says *that* a request was
scored or retried, never *how* it is counted. The Prometheus implementation is
``scoring/metrics.py`` (the figures of docs/metrics.md); :class:`RecordingScorerSensor`
keeps the events for tests. A worker gets its sensor from ``WorkerConfig.sensor``.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Collection, Protocol

from streams.telemetry import RecordingSensor


class ScorerSensor(Protocol):
    def on_batch_started(self, requests: int) -> None:
        """A batch of ``requests`` is being scored now (in flight)."""

    def on_batch_finished(self) -> None:
        """The batch in flight is done (scored, dead-lettered or left for another worker)."""

    def on_retry(self) -> None:
        """A scoring attempt failed or timed out and is tried again."""

    def on_scored(self, phase: str, score_s: float, waited_s: float | None, prompt_tokens: int,
                  cached_tokens: int) -> None:
        """A request was scored: the model's own seconds, seconds since the request was made (None: unknown),
        its prompt tokens and how many of them came from the prefix cache."""

    def on_feedback(self) -> None:
        """One counselor turn was rated (a feedback record sent)."""

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        """A request of ``topic`` was dead-lettered (``reason_class``: streams.telemetry's classes)."""

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        """The consumer fetched or committed: read its lag (no request of its own)."""


class RecordingScorerSensor(RecordingSensor):
    """Keeps every event (``self.events``); counts nothing anywhere."""

    def on_batch_started(self, requests: int) -> None:
        self.record("on_batch_started", requests)

    def on_batch_finished(self) -> None:
        self.record("on_batch_finished")

    def on_retry(self) -> None:
        self.record("on_retry")

    def on_scored(self, phase: str, score_s: float, waited_s: float | None, prompt_tokens: int,
                  cached_tokens: int) -> None:
        self.record("on_scored", phase, score_s, waited_s, prompt_tokens, cached_tokens)

    def on_feedback(self) -> None:
        self.record("on_feedback")

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        self.record("on_dead_letter", topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        self.record("observe_lag", group)
