"""Kafka side of the survey: which links are used (from ``chat.ratings``), and publishing ratings.

Why rebuild the used set from ``chat.ratings``: a link is single-use across
gateway restarts and replicas. Every rating a survey produced carries its
``link_id``, so reading the topic from the beginning at start (and tailing it
afterwards) tells every replica which links are spent, with no database and no
shared memory. The topic keeps ratings 30 days and links live at most 7, so no
used link can fall out of it while still valid. The store's unique ``link_id``
is the second line of defence (two replicas accepting one link in the same
instant: the second rating is refused there and dead-lettered).

Ratings are read only to learn link ids; nothing of them reaches the hub, so no
client's answers can reach a websocket client.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from typing import Any

from streams.codec import decode, encode
from streams.contracts import ClientRating
from streams.errors import ContractError
from streams.topics import RATINGS

from .errors import GatewayError
from .survey import SurveyDesk

log = logging.getLogger(__name__)

RATINGS_TOPIC = RATINGS.name


class SurveyFeed:
    """Tails ``chat.ratings`` into ``desk.mark_used``; publishes a submission's rating."""

    def __init__(self, bootstrap: str, desk: SurveyDesk, *, topic: str = RATINGS_TOPIC):
        self.bootstrap = bootstrap
        self.desk = desk
        self.topic = topic
        self.ready = asyncio.Event()
        self.rejected = 0
        self._consumer: Any = None  # AIOKafkaConsumer once started (aiokafka is untyped)
        self._producer: Any = None  # AIOKafkaProducer once started
        self._end: dict = {}

    async def start(self, timeout: float = 30.0) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

        from streams.kafka_security import kafka_security

        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **kafka_security(), enable_auto_commit=False,
                                    client_id="alliance-gateway-survey")
        await consumer.start()
        self._consumer = consumer
        deadline = time.monotonic() + timeout
        parts = consumer.partitions_for_topic(self.topic)
        while not parts:
            if time.monotonic() > deadline:
                raise GatewayError(f"topic {self.topic} does not exist on {self.bootstrap}; "
                                   "run `alliance-monitor topics --create`")
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(self.topic)
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._end = await consumer.end_offsets(tps)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kafka_security(), acks="all",
                                          client_id="alliance-gateway-survey")
        await self._producer.start()

    async def run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    try:
                        rating = decode(ClientRating, r.value)
                    except ContractError:
                        self.rejected += 1  # the sink dead-letters it; here it only cannot spend a link
                        continue
                    if rating.link_id:
                        self.desk.mark_used(rating.link_id)
            if not self.ready.is_set() and await self._caught_up():
                self.ready.set()

    async def _caught_up(self) -> bool:
        for tp, end in self._end.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def publish(self, rating: ClientRating) -> None:
        await self._producer.send_and_wait(self.topic, key=rating.session_id.encode(), value=encode(rating))

    async def stop(self) -> None:
        for client in (self._producer, self._consumer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # pragma: no cover - best effort at shutdown
                    log.debug("error stopping a survey kafka client", exc_info=True)
        self._producer = self._consumer = None
