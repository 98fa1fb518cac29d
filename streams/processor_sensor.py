"""The processor's sensor: what the Faust app tells its metrics, named for what happened.

Why a protocol (as faust's ``Sensor``): the agents say *that* a turn came in or an
alert went out, never *how* it is counted. The Prometheus implementation is
``streams/processor_metrics.py`` (docs/metrics.md); :class:`RecordingProcessorSensor`
keeps the events for tests. The app gets its sensor from ``ProcessorConfig.sensor``.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Collection, Protocol

from .telemetry import RecordingSensor


class ProcessorSensor(Protocol):
    def on_turn(self) -> None:
        """A chat turn was consumed (and parsed)."""

    def on_session_event(self) -> None:
        """A session start or end was consumed (and parsed)."""

    def on_duplicate_turn(self) -> None:
        """A turn seen before (re-delivered) was absorbed."""

    def on_text_restored(self) -> None:
        """A re-delivered turn's text, lost in a crash, was restored."""

    def on_request(self, phase: str) -> None:
        """A score request was sent for ``phase``."""

    def on_signal(self) -> None:
        """A process signal was sent."""

    def on_alert(self, kind: str, gate: str) -> None:
        """An alert of ``kind`` was sent behind ``gate`` (validation.gate's ``gate_label``)."""

    def on_episode(self) -> None:
        """A rupture episode change was sent."""

    def on_score(self) -> None:
        """A score was read by the alert policy."""

    def on_record_handled(self, topic: str, seconds: float) -> None:
        """One input record of ``topic`` took ``seconds`` (state, decision, sends)."""

    def on_sessions(self, live: int) -> None:
        """This worker holds ``live`` sessions now."""

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        """A record of ``topic`` was dead-lettered (``reason_class``: streams.telemetry's classes)."""

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        """Read the consumer's lag on ``topics`` (no request of its own)."""


class RecordingProcessorSensor(RecordingSensor):
    """Keeps every event (``self.events``); counts nothing anywhere."""

    def on_turn(self) -> None:
        self.record("on_turn")

    def on_session_event(self) -> None:
        self.record("on_session_event")

    def on_duplicate_turn(self) -> None:
        self.record("on_duplicate_turn")

    def on_text_restored(self) -> None:
        self.record("on_text_restored")

    def on_request(self, phase: str) -> None:
        self.record("on_request", phase)

    def on_signal(self) -> None:
        self.record("on_signal")

    def on_alert(self, kind: str, gate: str) -> None:
        self.record("on_alert", kind, gate)

    def on_episode(self) -> None:
        self.record("on_episode")

    def on_score(self) -> None:
        self.record("on_score")

    def on_record_handled(self, topic: str, seconds: float) -> None:
        self.record("on_record_handled", topic, seconds)

    def on_sessions(self, live: int) -> None:
        self.record("on_sessions", live)

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        self.record("on_dead_letter", topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        self.record("observe_lag", group, tuple(topics or ()))
