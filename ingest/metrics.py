"""The ingest endpoint's Prometheus metrics (docs/metrics.md): the Prometheus :class:`IngestSensor`. A shell module.

Why these: ingest is where the platforms' traffic enters. Records by outcome say
whether a platform sends what the contracts accept (a jump in ``rejected`` is a
platform release gone wrong; ``duplicate`` is its retries), throttled posts say
Kafka or this endpoint cannot keep up, and the in-flight gauge says how close
the next post is to a 429. Counted by outcome and platform name, never by id.
The endpoint never touches these: it tells its sensor what happened
(ingest/sensor.py), and :class:`PrometheusIngestSensor` counts.
"""

from __future__ import annotations

__layer__ = "shell"

from prometheus_client import Counter, Gauge, Histogram

from .sensor import RecordOutcome, ThrottleStatus

RECORDS = Counter("alliance_ingest_records", "Posted records, by platform and outcome (accepted, duplicate, "
                  "rejected)", ["platform", "outcome"])
THROTTLED = Counter("alliance_ingest_throttled", "Posts refused for back-pressure, by status (429: too many in "
                    "flight, 503: Kafka did not acknowledge)", ["status"])
PENDING = Gauge("alliance_ingest_pending", "Records produced to Kafka and not yet acknowledged")
POST_SECONDS = Histogram("alliance_ingest_post_seconds", "One accepted post, from its body read to Kafka's "
                         "acknowledgement", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


class PrometheusIngestSensor:
    """The endpoint's events as the metrics above (stateless: every instance counts into the process's registry)."""

    def on_records(self, platform: str, outcome: RecordOutcome, records: int) -> None:
        RECORDS.labels(platform, outcome).inc(records)

    def on_throttled(self, status: ThrottleStatus) -> None:
        THROTTLED.labels(str(status)).inc()

    def on_pending(self, records: int) -> None:
        PENDING.set(records)

    def on_post_acknowledged(self, seconds: float) -> None:
        POST_SECONDS.observe(seconds)
