"""The gateway's sensors: what the gateway and the survey-link publisher tell their metrics.

Why protocols (as faust's ``Sensor``): the shells say *that* a feed record was
applied or an acknowledgement failed, never *how* it is counted. The Prometheus
implementations are in ``gateway/metrics.py`` (docs/metrics.md); the recording
ones keep the events for tests. The fan-out's per-frame counts are not events
here: the hub and the socket writer keep plain counts on the hot path, which the
metrics module's collector reads when ``/metrics`` is scraped.
"""

from __future__ import annotations

__layer__ = "core"

from typing import Collection, Literal, Protocol

from streams.telemetry import RecordingSensor

FeedOutcome = Literal["applied", "rejected"]
ArchiveOutcome = Literal["found", "unknown", "failed"]
AckOutcome = Literal["published", "failed"]


class GatewaySensor(Protocol):
    def on_feed_records(self, outcome: FeedOutcome, records: int) -> None:
        """``records`` feed records were applied, or refused as not their topic's contract."""

    def on_delivered(self, kind: str, seconds: float) -> None:
        """A live event of ``kind`` (score, alert) was queued to its viewers ``seconds`` after it was made."""

    def on_archive_read(self, outcome: ArchiveOutcome) -> None:
        """A forgotten session's timeline was read from the store (found, unknown) or could not be (failed)."""

    def on_ack(self, outcome: AckOutcome) -> None:
        """An acknowledgement was published to the acks topic, or failed to be."""

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        """Read the feed consumer's lag (no request of its own)."""


class SurveyLinkSensor(Protocol):
    def on_link_published(self) -> None:
        """A survey link was sent."""

    def on_link_refused(self) -> None:
        """An ``ended`` not from the session's owner: no link minted (streams/ownership.py)."""

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        """Read the sessions consumer's lag (no request of its own)."""


class RecordingGatewaySensor(RecordingSensor):
    """Keeps every event of both protocols (``self.events``); counts nothing anywhere."""

    def on_feed_records(self, outcome: FeedOutcome, records: int) -> None:
        self.record("on_feed_records", outcome, records)

    def on_delivered(self, kind: str, seconds: float) -> None:
        self.record("on_delivered", kind, seconds)

    def on_archive_read(self, outcome: ArchiveOutcome) -> None:
        self.record("on_archive_read", outcome)

    def on_ack(self, outcome: AckOutcome) -> None:
        self.record("on_ack", outcome)

    def on_link_published(self) -> None:
        self.record("on_link_published")

    def on_link_refused(self) -> None:
        self.record("on_link_refused")

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        self.record("observe_lag", group)
