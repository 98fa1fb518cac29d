"""The ingest endpoint's Prometheus metrics (docs/metrics.md). A shell module.

Why these: ingest is where the platforms' traffic enters. Records by outcome say
whether a platform sends what the contracts accept (a jump in ``rejected`` is a
platform release gone wrong; ``duplicate`` is its retries), throttled posts say
Kafka or this endpoint cannot keep up, and the in-flight gauge says how close
the next post is to a 429. Counted by outcome and platform name, never by id.
"""

from __future__ import annotations

__layer__ = "shell"

from prometheus_client import Counter, Gauge, Histogram

RECORDS = Counter("alliance_ingest_records", "Posted records, by platform and outcome (accepted, duplicate, "
                  "rejected)", ["platform", "outcome"])
THROTTLED = Counter("alliance_ingest_throttled", "Posts refused for back-pressure, by status (429: too many in "
                    "flight, 503: Kafka did not acknowledge)", ["status"])
PENDING = Gauge("alliance_ingest_pending", "Records produced to Kafka and not yet acknowledged")
POST_SECONDS = Histogram("alliance_ingest_post_seconds", "One accepted post, from its body read to Kafka's "
                         "acknowledgement", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
