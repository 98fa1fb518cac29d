"""Kafka side of the gateway: read the live topics, publish acks. A thin shell.

Why partition assignment and not a consumer group: every gateway replica must
see *every* record (it fans out to its own browsers), so replicas must not share
partitions the way a group would split them; and kafka-python groups do not work
on Tansu anyway. Each replica assigns itself all partitions of the feed topics and
reads them from the beginning, which also rebuilds the live state after a restart.
Event ids are ``topic:partition:offset`` (gateway/history.py), identical on every
replica.

A record that fails its contract is counted and logged by topic/partition/offset
(never its text) and skipped: the gateway is a reader, the raw bytes stay in the
topic, and dead-lettering them from N replicas would write N copies.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from typing import Any, Callable

from streams.codec import decode, encode
from streams.contracts import (
    AccessEvent,
    AlertAck,
    AllianceAlert,
    AllianceScore,
    CounselorFeedback,
    ProcessSignal,
    RuptureEpisode,
    SessionEvent,
)
from streams.errors import ContractError
from streams.ownership import record_source
from streams.topics import ACKS, ALERTS, CHAT_SESSIONS, FEEDBACK, RUPTURES, SCORES, SIGNALS

from .client_messages import AckRequest
from .errors import GatewayError
from .history import EventId, Kind, StoredEvent
from .metrics import PrometheusGatewaySensor
from .sensor import GatewaySensor

log = logging.getLogger(__name__)

#: topic → (event kind, contract)
FeedContract = SessionEvent | AllianceScore | ProcessSignal | AllianceAlert | AlertAck | RuptureEpisode | CounselorFeedback
FEED_TOPICS: dict[str, tuple[Kind, type[FeedContract]]] = {
    CHAT_SESSIONS.name: ("session", SessionEvent),
    SCORES.name: ("score", AllianceScore),
    SIGNALS.name: ("signal", ProcessSignal),
    ALERTS.name: ("alert", AllianceAlert),
    ACKS.name: ("ack", AlertAck),
    RUPTURES.name: ("rupture", RuptureEpisode),
    FEEDBACK.name: ("feedback", CounselorFeedback),
}
ACK_TOPIC = ACKS.name
#: records applied between yields to the event loop; keep well below Policy.max_queue.
YIELD_EVERY = 50
#: seconds between refreshes of the feed's lag gauge
LAG_EVERY_S = 2.0


def to_event(topic: str, partition: int, offset: int, raw: bytes, source: str | None = None) -> StoredEvent:
    """Decode one record into a StoredEvent; raises ContractError on a bad record.

    ``source``: the record's source header; the hub obeys a session record only from
    the session's owner (streams/ownership.py).
    """
    kind, model = FEED_TOPICS[topic]
    record = decode(model, raw)
    return StoredEvent(EventId.of(topic, partition, offset), kind, record.session_id,
                       record.model_dump(mode="json"), source)


class KafkaFeed:
    """Consumes the feed topics into ``on_event``; calls ``on_ready`` once caught up."""

    def __init__(self, bootstrap: str, *, topics: tuple[str, ...] = tuple(FEED_TOPICS),
                 sensor: GatewaySensor | None = None):
        self.bootstrap = bootstrap
        self.topics = topics
        self.sensor: GatewaySensor = sensor if sensor is not None else PrometheusGatewaySensor()
        self.rejected = 0
        self.consumed = 0
        self._consumer: Any = None  # AIOKafkaConsumer once started (aiokafka is untyped)
        self._producer: Any = None  # AIOKafkaProducer once started
        self._end: dict[Any, int] = {}
        #: when the broker last answered (monotonic): a metadata probe or a fetch that returned records.
        #: Why: during an outage aiokafka retries inside getmany() and returns empty batches, so the
        #: feed task keeps "running" while it reads nothing; the age of this says so.
        self.last_contact = time.monotonic()

    async def start(self, mark_start: Callable[[str, int], None], timeout: float = 30.0) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        from streams.kafka_security import kafka_security

        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **kafka_security(), enable_auto_commit=False,
                                    client_id="alliance-gateway", max_poll_records=500)
        await consumer.start()
        self._consumer = consumer
        deadline = time.monotonic() + timeout
        tps = []
        for topic in self.topics:
            parts = consumer.partitions_for_topic(topic)
            while not parts:
                if time.monotonic() > deadline:
                    raise GatewayError(f"topic {topic} does not exist on {self.bootstrap}; run `alliance-monitor topics --create`")
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await asyncio.sleep(0.2)
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        begin = await consumer.beginning_offsets(tps)
        self._end = await consumer.end_offsets(tps)
        for tp in tps:
            mark_start(f"{tp.topic}:{tp.partition}", begin[tp])
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kafka_security(), acks="all",
                                          client_id="alliance-gateway")
        await self._producer.start()
        self.last_contact = time.monotonic()

    async def caught_up(self) -> bool:
        for tp, end in self._end.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def run(self, on_event: Callable[[StoredEvent], None], on_ready: Callable[[], None]) -> None:
        ready = False
        lag_at = 0.0
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            if batch:
                self.last_contact = time.monotonic()
            if time.monotonic() >= lag_at:
                lag_at = time.monotonic() + LAG_EVERY_S
                await self.sensor.observe_lag("alliance-gateway", self._consumer)  # no group: every replica reads all
            for tp, records in batch.items():
                applied = 0
                for r in records:
                    try:
                        source = record_source(r.headers) if tp.topic == CHAT_SESSIONS.name else None
                        event = to_event(tp.topic, tp.partition, r.offset, r.value, source)
                    except (ContractError, KeyError) as err:
                        self.rejected += 1
                        self.sensor.on_feed_records("rejected", 1)
                        log.warning("skipped bad record %s:%s:%s: %s", tp.topic, tp.partition, r.offset,
                                    str(err)[:200] if isinstance(err, ContractError) else "unknown topic")
                        continue
                    self.consumed += 1
                    applied += 1
                    on_event(event)
                    if self.consumed % YIELD_EVERY == 0:
                        # let the connections' writers drain between bursts, so a burst
                        # of records never looks like a slow client (Policy.max_queue)
                        await asyncio.sleep(0)
                self.sensor.on_feed_records("applied", applied)
                await asyncio.sleep(0)
            if not ready and await self.caught_up():
                ready = True
                on_ready()

    async def probe(self, timeout_s: float) -> bool:
        """Ask the broker for the cluster's metadata (one small request); True and ``last_contact`` now if it
        answered within ``timeout_s``."""
        try:
            await asyncio.wait_for(self._consumer.topics(), timeout_s)
        except Exception:  # noqa: BLE001 - any failure means "the broker did not answer"; the age says how long
            return False
        self.last_contact = time.monotonic()
        return True

    def silent_s(self, now: float | None = None) -> float:
        """Seconds since the broker last answered."""
        return max(0.0, (time.monotonic() if now is None else now) - self.last_contact)

    async def publish_ack(self, ack: AckRequest) -> None:
        record = AlertAck(alert_id=ack.alert_id, session_id=ack.session_id, by=ack.by, role=ack.role,
                          note=ack.note)
        await self._producer.send_and_wait(ACK_TOPIC, key=ack.session_id.encode(), value=encode(record))

    async def publish_access(self, event: AccessEvent, topic: str) -> None:
        """One audit record, keyed by viewer; waits for every in-sync replica (acks=all)."""
        await self._producer.send_and_wait(topic, key=event.viewer.encode(), value=encode(event))

    async def stop(self) -> None:
        for client in (self._producer, self._consumer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # pragma: no cover - best effort at shutdown
                    log.debug("error stopping kafka client", exc_info=True)
        self._producer = self._consumer = None
