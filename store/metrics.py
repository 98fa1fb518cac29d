"""The sink's Prometheus metrics (docs/metrics.md): the Prometheus :class:`SinkSensor`. A shell module.

Why these: an operator asks of the sink "is it keeping up" (records in, lag in
streams.telemetry), "is the database slow or down" (write latency, retries) and
"is anything lost" (dead letters in streams.telemetry, commit failures). The sink
never touches these: it tells its sensor what happened (store/sensor.py), and
:class:`PrometheusSinkSensor` counts.
"""

from __future__ import annotations

__layer__ = "shell"

from contextlib import AbstractContextManager
from typing import Collection

from prometheus_client import Counter, Histogram

from streams.telemetry import count_dead_letter, observe_consumer

PART = "sink"

RECORDS = Counter("alliance_sink_records", "Records the sink consumed, by topic", ["topic"])
ROWS = Counter("alliance_sink_rows_written", "Rows the sink wrote (inserted or updated), by kind", ["kind"])
SKIPPED = Counter("alliance_sink_rows_skipped", "Events the store already had (repeats absorbed), by kind", ["kind"])
WRITE_SECONDS = Histogram(
    "alliance_sink_write_seconds",
    "One database transaction of the sink, each attempt (a batch; one record while it isolates a refused one)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
DB_RETRIES = Counter("alliance_sink_db_retries", "Database writes retried because the store was unavailable")
COMMIT_FAILURES = Counter("alliance_sink_commit_failures",
                          "Offset commits refused after a rebalance (the batch is read again)")


class PrometheusSinkSensor:
    """The sink's events as the metrics above (stateless: every instance counts into the process's registry)."""

    def on_records(self, topic: str, records: int) -> None:
        RECORDS.labels(topic).inc(records)

    def write_timer(self) -> AbstractContextManager[object]:
        return WRITE_SECONDS.time()

    def on_rows_written(self, kind: str, rows: int) -> None:
        ROWS.labels(kind).inc(rows)

    def on_rows_skipped(self, kind: str, rows: int) -> None:
        SKIPPED.labels(kind).inc(rows)

    def on_db_retry(self) -> None:
        DB_RETRIES.inc()

    def on_commit_failed(self) -> None:
        COMMIT_FAILURES.inc()

    def on_dead_letter(self, topic: str, reason_class: str) -> None:
        count_dead_letter(PART, topic, reason_class)

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        await observe_consumer(PART, group, consumer, topics)
