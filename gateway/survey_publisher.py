"""Publish a survey link for every session that ends (``chat.sessions`` → ``chat.survey_links``).

Why a consumer group and not the gateway: gateway replicas each read every
record (they fan out), so each would publish its own link for the same session.
One group shares the ``ended`` events out, and an offset is committed only after
the links of its batch are on the topic. A crash can therefore publish a link
twice; that does no harm because a link is a pure function of the session, the
instrument and the end time (its id is derived from the session id, its times
from the event), so the repeat is the very same single-use link.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from streams.codec import decode, encode
from streams.contracts import Instrument, SessionEvent, SurveyLink
from streams.errors import ContractError
from streams.topics import CHAT_SESSIONS, SURVEY_LINKS

from .metrics import PrometheusSurveyLinkSensor
from .sensor import SurveyLinkSensor
from .survey import DEFAULT_LINK_TTL_S, link_url, mint_link

log = logging.getLogger(__name__)


def link_id_for(key: bytes, session_id: str, instrument: str) -> str:
    """The same session and instrument always get the same link id (a re-published link is the same link)."""
    digest = hmac.new(key, f"{session_id}\x1f{instrument}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode().rstrip("=")


def link_for_session(key: bytes, event: SessionEvent, base_url: str, *, instrument: Instrument = "wai-sr",
                     ttl_s: float = DEFAULT_LINK_TTL_S) -> SurveyLink | None:
    """A SurveyLink for an ``ended`` event (in the session's language); None for other events. Pure."""
    if event.kind != "ended":
        return None
    now = event.at.timestamp()
    token, claims = mint_link(key, session_id=event.session_id, lang=event.lang, instrument=instrument,
                              ttl_s=ttl_s, now=now, link_id=link_id_for(key, event.session_id, instrument))
    return SurveyLink(link_id=claims.link_id, session_id=event.session_id, url=link_url(base_url, token),
                      instrument=instrument, lang=event.lang,
                      expires_at=datetime.fromtimestamp(claims.expires_at, timezone.utc),
                      created_at=datetime.now(timezone.utc))


@dataclass
class PublisherStats:
    ended: int = 0
    published: int = 0
    skipped_bad: int = 0
    skipped_expired: int = 0


class LinkPublisher:
    """Consumes ``chat.sessions`` in a group; publishes a SurveyLink per ended session."""

    def __init__(self, bootstrap: str, key: bytes, base_url: str, *, instrument: Instrument = "wai-sr",
                 ttl_s: float = DEFAULT_LINK_TTL_S, sessions_topic: str = CHAT_SESSIONS.name,
                 links_topic: str = SURVEY_LINKS.name, group_id: str = "alliance-survey-links",
                 sensor: SurveyLinkSensor | None = None):
        self.bootstrap, self.key, self.base_url = bootstrap, key, base_url
        self.instrument, self.ttl_s = instrument, ttl_s
        self.sessions_topic, self.links_topic, self.group_id = sessions_topic, links_topic, group_id
        self.stats = PublisherStats()
        self.sensor: SurveyLinkSensor = sensor if sensor is not None else PrometheusSurveyLinkSensor()

    async def run(self, stop: asyncio.Event) -> PublisherStats:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        from streams.kafka_security import kafka_security

        consumer = AIOKafkaConsumer(self.sessions_topic, bootstrap_servers=self.bootstrap, **kafka_security(),
                                    group_id=self.group_id,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id="alliance-survey-links")
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kafka_security(), acks="all",
                                    client_id="alliance-survey-links")
        await producer.start()
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        await self._handle(producer, r.value)
                if batch:
                    await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs})
                    await self.sensor.observe_lag(self.group_id, consumer)
        finally:
            await consumer.stop()
            await producer.stop()
        return self.stats

    async def _handle(self, producer, raw: bytes) -> None:
        try:
            event = decode(SessionEvent, raw)
        except ContractError:
            self.stats.skipped_bad += 1  # the sink dead-letters bad session events
            return
        if event.kind != "ended":
            return
        self.stats.ended += 1
        link = link_for_session(self.key, event, self.base_url, instrument=self.instrument, ttl_s=self.ttl_s)
        if link is None or link.expires_at <= datetime.now(timezone.utc):
            self.stats.skipped_expired += 1  # an old session replayed: its link would be dead on arrival
            return
        await producer.send_and_wait(self.links_topic, key=event.session_id.encode(), value=encode(link))
        self.stats.published += 1
        self.sensor.on_link_published()
