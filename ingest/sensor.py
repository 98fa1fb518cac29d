"""The ingest endpoint's sensor: what it tells its metrics, named for what happened.

Why a protocol (as faust's ``Sensor``): the endpoint says *that* a post was
throttled or its records were accepted, never *how* it is counted. The Prometheus
implementation is ``ingest/metrics.py`` (docs/metrics.md); :class:`RecordingIngestSensor`
keeps the events for tests. An endpoint gets its sensor from ``Ingest(cfg, sensor=...)``.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Literal, Protocol

from streams.telemetry import RecordingSensor

RecordOutcome = Literal["accepted", "duplicate", "rejected"]
RECORD_OUTCOMES: tuple[RecordOutcome, ...] = ("accepted", "duplicate", "rejected")
#: 429: too many records in flight here; 503: Kafka did not acknowledge
ThrottleStatus = Literal[429, 503]


class IngestSensor(Protocol):
    def on_records(self, platform: str, outcome: RecordOutcome, records: int) -> None:
        """``records`` records of a post from ``platform`` ended as ``outcome``."""

    def on_throttled(self, status: ThrottleStatus) -> None:
        """A post was refused for back-pressure with ``status``."""

    def on_pending(self, records: int) -> None:
        """``records`` records are produced and not yet acknowledged now."""

    def on_post_acknowledged(self, seconds: float) -> None:
        """An accepted post took ``seconds`` from its body read to Kafka's acknowledgement."""


class RecordingIngestSensor(RecordingSensor):
    """Keeps every event (``self.events``); counts nothing anywhere."""

    def on_records(self, platform: str, outcome: RecordOutcome, records: int) -> None:
        self.record("on_records", platform, outcome, records)

    def on_throttled(self, status: ThrottleStatus) -> None:
        self.record("on_throttled", status)

    def on_pending(self, records: int) -> None:
        self.record("on_pending", records)

    def on_post_acknowledged(self, seconds: float) -> None:
        self.record("on_post_acknowledged", seconds)
