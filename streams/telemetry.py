"""The metrics every part agrees on: names, labels, reason classes (docs/metrics.md).

Why a contract: the dashboards, the alert rules and ``alliance-monitor status``
read metrics by name, so a name is an interface like a topic name; and two
figures are the same in every consuming part — the dead letters it wrote and
how far its consumer is behind — so they are defined once here, labelled by
``part``, and the processor, scorer and sink cannot drift apart. Each part's
own figures live in its package's ``metrics`` module (a shell).

Sensors (as faust's ``Sensor``): a part's shells never touch a counter. Each part
has a sensor protocol, a core named for what happened (``on_scored``,
``on_dead_letter``, ...: ``scoring/sensor.py``, ``store/sensor.py``,
``streams/processor_sensor.py``, ``gateway/sensor.py``, ``ingest/sensor.py``); its
Prometheus implementation is the package's ``metrics`` module, and
:class:`RecordingSensor` is the base of the recording ones, which cores and tests use
(it counts nothing anywhere: it keeps what it was told, in order).

Metrics are kept in prometheus_client's default registry: each part is its own
process, and ``/metrics`` (the part's health server, or the gateway's and
ingest's own HTTP) exposes that registry. Nothing here does I/O; a shell reads
positions and end offsets from its consumer and hands them to :func:`set_lag`.
Labels never carry message text, ids or free-form errors: a dead letter is
counted by its *reason class*, a small fixed set.
"""

from __future__ import annotations

__layer__ = "contract"

from typing import Any, Collection, Mapping

from prometheus_client import Counter, Gauge

#: every metric of the project starts with this
PREFIX = "alliance_"

#: Dead-letter reason classes: what kind of problem, never the text of the reason.
REASON_CONTRACT = "contract"        # the record does not parse as its topic's contract
REASON_REJECTED = "rejected"        # it parses, but the part's core refuses it (e.g. a turn of a closed session)
REASON_PROCESSING = "processing"    # the part failed while handling it
REASON_SCORING = "scoring"          # scoring failed or timed out after every retry
REASON_STORE = "store_refused"      # the database refused the row (not an outage)
REASON_UNROUTABLE = "unroutable"    # an empty record (tombstone) or a topic the part does not read
REASON_CLASSES = (REASON_CONTRACT, REASON_REJECTED, REASON_PROCESSING, REASON_SCORING, REASON_STORE,
                  REASON_UNROUTABLE)

#: The consumer groups of the project's parts (their defaults): processor (the Faust app id), scorer, sink,
#: survey publish-links. ``alliance-monitor status`` reads their lag from the broker.
CONSUMER_GROUPS = ("alliance-processor", "alliance-scorer", "alliance-store", "alliance-survey-links")

DEAD_LETTERS = Counter(
    "alliance_dead_letters", "Records sent to <topic>.dlq, by the part that sent them, source topic and reason class",
    ["part", "topic", "reason"])

CONSUMER_LAG = Gauge(
    "alliance_consumer_lag",
    "Records on a partition the part's consumer has not fetched yet (end offset minus position)",
    ["part", "group", "topic", "partition"])

CONSUMER_LAG_TOTAL = Gauge(
    "alliance_consumer_lag_records", "Sum of alliance_consumer_lag over the part's assigned partitions",
    ["part", "group"])


class RecordingSensor:
    """What a part's sensor was told, in order, as ``(event, args)``: the no-op sensor of cores and tests.

    Each part's recording sensor (``RecordingScorerSensor``, ...) subclasses this with one
    method per event of its protocol; a test injects one and asks what happened, without
    reading a process-wide registry that other tests move too.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[object, ...]]] = []

    def record(self, event: str, *args: object) -> None:
        self.events.append((event, args))

    def calls(self, event: str) -> list[tuple[object, ...]]:
        """The arguments of every ``event``, in order."""
        return [args for name, args in self.events if name == event]

    def count(self, event: str) -> int:
        return len(self.calls(event))


def count_dead_letter(part: str, topic: str, reason_class: str) -> None:
    """Count one dead letter; an unknown class is counted as ``processing`` (labels stay a fixed set)."""
    DEAD_LETTERS.labels(part, topic, reason_class if reason_class in REASON_CLASSES else REASON_PROCESSING).inc()


def set_lag(part: str, group: str, ends: Mapping[tuple[str, int], int | None],
            positions: Mapping[tuple[str, int], int | None]) -> int:
    """Set the lag gauges from end offsets and positions per (topic, partition); returns the total.

    A partition whose end or position is not known yet is left out (no fetch has
    answered for it): a guess would be worse than a gap in the graph.
    """
    total = 0
    for (topic, partition), end in ends.items():
        position = positions.get((topic, partition))
        if end is None or position is None:
            continue
        lag = max(0, int(end) - int(position))
        total += lag
        CONSUMER_LAG.labels(part, group, topic, str(partition)).set(lag)
    CONSUMER_LAG_TOTAL.labels(part, group).set(total)
    return total


async def observe_consumer(part: str, group: str, consumer: Any, topics: Collection[str] | None = None) -> int | None:
    """Set the lag gauges of ``consumer`` (aiokafka's or Faust's: ``assignment``, ``highwater``, ``position``).

    ``topics`` limits it to those topics (Faust's consumer also holds its tables' changelogs).
    Cheap by design: the end offsets are the high-water marks the last fetch
    responses brought (no request of its own), and a partition no fetch has
    answered for yet is skipped. Returns the total, or None when the consumer is
    between assignments (a rebalance): the caller tries again next time.
    """
    try:
        tps = [tp for tp in consumer.assignment() if topics is None or tp.topic in topics]
        ends = {(tp.topic, tp.partition): consumer.highwater(tp) for tp in tps}
        positions = {key: await consumer.position(tp)
                     for tp, key in ((tp, (tp.topic, tp.partition)) for tp in tps) if ends[key] is not None}
    except Exception:  # noqa: BLE001 - a partition revoked meanwhile; lag is a figure, never a failure
        return None
    return set_lag(part, group, ends, positions)
