"""The gateway's Prometheus metrics (docs/metrics.md). A shell module.

Why a collector for most of them: the fan-out is the gateway's hot path (one
event, thousands of connections), so nothing is counted per frame there. The
hub (the sans-I/O core) already keeps plain counts (``Hub.stats``) and the live
connections; this collector reads them only when ``/metrics`` is scraped.
Connections are counted by role (supervisor, counselor), never by name.
The Kafka feed's lag is the shared gauge of streams.telemetry (part ``gateway``).
The rest are events: the shells tell their sensor (gateway/sensor.py), and
:class:`PrometheusGatewaySensor` / :class:`PrometheusSurveyLinkSensor` count.
"""

from __future__ import annotations

__layer__ = "shell"

import weakref
from typing import TYPE_CHECKING, Collection, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from streams.telemetry import observe_consumer

from .sensor import AckOutcome, ArchiveOutcome, FeedOutcome

if TYPE_CHECKING:
    from .hub import Hub

PART = "gateway"
SURVEY_LINKS_PART = "survey-links"

#: Hub.stats key -> (metric name without _total, help)
HUB_COUNTERS = {
    "events": ("alliance_gateway_events", "Feed events applied to the live state (repeats excluded)"),
    "frames": ("alliance_gateway_frames", "Frames queued to connections (fan-out, replies and snapshots)"),
    "cut_slow": ("alliance_gateway_slow_client_cuts", "Connections closed because they could not keep up"),
    "resumed": ("alliance_gateway_resumes", "Connections that resumed after a reconnect"),
    "gaps": ("alliance_gateway_resume_gaps", "Resumes that could not be served in full (history too short)"),
    "duplicates": ("alliance_gateway_duplicate_events", "Feed records applied before (re-delivered), absorbed"),
}

#: WriteCounts.stats key -> (metric name without _total, help)
WRITE_COUNTERS = {
    "writes": ("alliance_gateway_socket_writes", ("Socket writes of frames to websocket clients (one write may carry "
                "several frames: those queued in the same event-loop turn)")),
    "coalesced": ("alliance_gateway_frames_coalesced", ("Frames that went out in a socket write together with at "
                   "least one other")),
}

FEED_RECORDS = Counter("alliance_gateway_feed_records", "Records read from the feed topics, by outcome "
                       "(applied, rejected: not its topic's contract)", ["outcome"])
DELIVERY_SECONDS = Histogram(
    "alliance_gateway_delivery_seconds",
    "From a score's scored_at / an alert's created_at to the gateway queueing it to its viewers, by kind "
    "(live events only: the history re-read at start-up is not counted)", ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
#: the field that dates each timed event kind
DELIVERY_CLOCK = {"score": "scored_at", "alert": "created_at"}
ARCHIVE_READS = Counter("alliance_gateway_archive_reads",
                        "Timelines of forgotten sessions read from the store, by outcome (found, unknown, failed)",
                        ["outcome"])
ACKS = Counter("alliance_gateway_acks", "Alert acknowledgements published to alliance.acks, by outcome", ["outcome"])
LINKS_PUBLISHED = Counter("alliance_survey_links_published", "Survey links published to chat.survey_links")
LINKS_REFUSED = Counter("alliance_survey_links_refused",
                        "ended records from a source that does not own the session: no survey link minted")


class WriteCounts:
    """The shell's socket writes and the frames they carried, as plain ints.

    Why not a Prometheus Counter: a write happens per connection per loop turn on the
    fan-out's hot path, and a Counter takes a lock; the collector reads these when scraped.
    """

    def __init__(self) -> None:
        self.stats = {"writes": 0, "frames_written": 0, "coalesced": 0}

    def count(self, frames: int) -> None:
        """One write carrying ``frames`` frames."""
        stats = self.stats
        stats["writes"] += 1
        stats["frames_written"] += frames
        if frames > 1:
            stats["coalesced"] += frames


class HubCollector:
    """Sums the counts of every live hub in this process (one, except in tests and benchmarks)
    and of its gateway's socket writes."""

    def __init__(self) -> None:
        self._hubs: "weakref.WeakSet[Hub]" = weakref.WeakSet()
        self._writes: "weakref.WeakSet[WriteCounts]" = weakref.WeakSet()
        #: the final counts of hubs (and write counts) that are gone: a counter must never go down
        #: (Prometheus reads a decrease as a restart), and a process may run several hubs one after
        #: another. One dict for both: their keys must differ (they do: ``frames`` vs ``frames_written``)
        self._retired: dict[str, int] = {}
        self._seen = False

    def watch(self, hub: "Hub", writes: WriteCounts | None = None) -> None:
        self._hubs.add(hub)
        self._seen = True
        weakref.finalize(hub, self._retire, hub.stats)  # holds the stats dict, not the hub
        if writes is not None:
            self._writes.add(writes)
            weakref.finalize(writes, self._retire, writes.stats)

    def _retire(self, stats: dict[str, int]) -> None:
        for key, value in stats.items():
            self._retired[key] = self._retired.get(key, 0) + value

    def collect(self) -> Iterator:
        hubs = list(self._hubs)
        if not hubs and not self._seen:
            return  # a process of this package without a gateway (survey publish-links)
        for counters, sources in ((HUB_COUNTERS, hubs), (WRITE_COUNTERS, list(self._writes))):
            for key, (name, text) in counters.items():
                family = CounterMetricFamily(name, text)
                family.add_metric([], self._retired.get(key, 0) + sum(s.stats.get(key, 0) for s in sources))
                yield family
        roles: dict[str, int] = {"supervisor": 0, "counselor": 0}
        sessions = 0
        for hub in hubs:
            # list() copies in one step under the GIL: a scrape from another thread sees a consistent set
            for conn in list(hub.connections.values()):
                roles[conn.viewer.role] = roles.get(conn.viewer.role, 0) + 1
            sessions += len(hub.sessions)
        connections = GaugeMetricFamily("alliance_gateway_connections", "Open websocket connections, by role",
                                        labels=["role"])
        for role, n in sorted(roles.items()):
            connections.add_metric([role], n)
        yield connections
        live = GaugeMetricFamily("alliance_gateway_sessions", "Sessions the gateway holds live state for")
        live.add_metric([], sessions)
        yield live


HUBS = HubCollector()
REGISTRY.register(HUBS)


class PrometheusGatewaySensor:
    """The gateway's events as the metrics above (stateless: every instance counts into the process's registry)."""

    def on_feed_records(self, outcome: FeedOutcome, records: int) -> None:
        FEED_RECORDS.labels(outcome).inc(records)

    def on_delivered(self, kind: str, seconds: float) -> None:
        DELIVERY_SECONDS.labels(kind).observe(max(0.0, seconds))

    def on_archive_read(self, outcome: ArchiveOutcome) -> None:
        ARCHIVE_READS.labels(outcome).inc()

    def on_ack(self, outcome: AckOutcome) -> None:
        ACKS.labels(outcome).inc()

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        await observe_consumer(PART, group, consumer, topics)


class PrometheusSurveyLinkSensor:
    """The survey-link publisher's events (``survey publish-links``, its own process: part ``survey-links``)."""

    def on_link_published(self) -> None:
        LINKS_PUBLISHED.inc()

    def on_link_refused(self) -> None:
        LINKS_REFUSED.inc()

    async def observe_lag(self, group: str, consumer: object, topics: Collection[str] | None = None) -> None:
        await observe_consumer(SURVEY_LINKS_PART, group, consumer, topics)
