"""The sink's sensor: what the sink tells its metrics, named for what happened.

Why a protocol (as faust's ``Sensor``): the sink says *that* records came in, rows
were written or a commit was refused, never *how* that is counted. The Prometheus
implementation is ``store/metrics.py`` (docs/metrics.md); :class:`RecordingSinkSensor`
keeps the events for tests. A sink gets its sensor from ``Sink(..., sensor=...)``.
"""

from __future__ import annotations

__layer__ = "core"

import time
from contextlib import AbstractContextManager, contextmanager
from typing import Collection, Iterator, Protocol

from streams.telemetry import RecordingSensor


class SinkSensor(Protocol):
    def on_records(self, topic: str, records: int) -> None:
        """``records`` records of ``topic`` were consumed."""

    def write_timer(self) -> AbstractContextManager[object]:
        """Times one database transaction (each attempt, failed ones too): the ``with`` around it."""

    def on_rows_written(self, kind: str, rows: int) -> None:
        """``rows`` rows of ``kind`` (session, prediction, alert, ...) were inserted or updated."""

    def on_rows_skipped(self, kind: str, rows: int) -> None:
        """``rows`` events of ``kind`` were repeats the store already had."""

    def on_db_retry(self) -> None:
        """A write is retried because the store was unavailable."""

    def on_commit_failed(self) -> None:
        """An offset commit was refused after a rebalance (the batch is read again)."""

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        """A record of ``topic`` was dead-lettered (``reason_class``: streams.telemetry's classes)."""

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        """The consumer fetched or committed: read its lag (no request of its own)."""


class RecordingSinkSensor(RecordingSensor):
    """Keeps every event (``self.events``); counts nothing anywhere."""

    def on_records(self, topic: str, records: int) -> None:
        self.record("on_records", topic, records)

    @contextmanager
    def _timed(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record("write", time.perf_counter() - started)

    def write_timer(self) -> AbstractContextManager[object]:
        return self._timed()

    def on_rows_written(self, kind: str, rows: int) -> None:
        self.record("on_rows_written", kind, rows)

    def on_rows_skipped(self, kind: str, rows: int) -> None:
        self.record("on_rows_skipped", kind, rows)

    def on_db_retry(self) -> None:
        self.record("on_db_retry")

    def on_commit_failed(self) -> None:
        self.record("on_commit_failed")

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        self.record("on_dead_letter", topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        self.record("observe_lag", group)
