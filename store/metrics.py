"""The sink's Prometheus metrics (docs/metrics.md). A shell module: the sink counts, ``/metrics`` shows.

Why these: an operator asks of the sink "is it keeping up" (records in, lag in
streams.telemetry), "is the database slow or down" (write latency, retries) and
"is anything lost" (dead letters in streams.telemetry, commit failures).
"""

from __future__ import annotations

__layer__ = "shell"

from prometheus_client import Counter, Histogram

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
