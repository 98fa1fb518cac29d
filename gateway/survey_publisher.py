"""Publish a survey link for every session that ends (``chat.sessions`` → ``chat.survey_links``).

Why a consumer group and not the gateway: gateway replicas each read every
record (they fan out), so each would publish its own link for the same session.
One group shares the ``ended`` events out, and an offset is committed only after
the links of its batch are on the topic. A crash can therefore publish a link
twice; that does no harm because a link is a pure function of the session, the
instrument and the end time (its id is derived from the session id, its times
from the event), so the repeat is the very same single-use link.

Ownership (streams/ownership.py, the rule every part applies): only the session
owner's ``ended`` mints a link. The publisher keeps each session's owner from the
records it reads, in topic order, and judges every record as the processor, sink
and gateway do (the same ``--trusted-source`` configuration); a foreign ``ended``
mints nothing and is counted (``refused``, ``alliance_survey_links_refused``). Why
it reads the topic from the start: a group member that resumes from its committed
offset would meet the ``ended`` of a session whose ``started`` it never saw and
could not tell the owner from a forger. So on every assignment it re-reads its
partitions from the beginning (``chat.sessions`` keeps 30 days of small records)
and, below the committed offset, only learns owners: nothing is minted twice.
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
from streams.ownership import Owner, judge, record_source
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
    #: ``ended`` records from a source that does not own the session: no link
    refused: int = 0


class LinkPublisher:
    """Consumes ``chat.sessions`` in a group; publishes a SurveyLink per ended session."""

    def __init__(self, bootstrap: str, key: bytes, base_url: str, *, instrument: Instrument = "wai-sr",
                 ttl_s: float = DEFAULT_LINK_TTL_S, sessions_topic: str = CHAT_SESSIONS.name,
                 links_topic: str = SURVEY_LINKS.name, group_id: str = "alliance-survey-links",
                 sensor: SurveyLinkSensor | None = None, trusted_sources: frozenset[str] = frozenset()):
        self.bootstrap, self.key, self.base_url = bootstrap, key, base_url
        #: sources whose chat.sessions records may claim a session (empty: every source); streams/ownership.py
        self.trusted_sources = trusted_sources
        #: each session's owner, from the records read so far (rebuilt from the start on every assignment)
        self.owners: dict[str, Owner] = {}
        #: per partition, the committed offset at assignment: records below it only teach owners
        self._replay_until: dict = {}
        self.instrument, self.ttl_s = instrument, ttl_s
        self.sessions_topic, self.links_topic, self.group_id = sessions_topic, links_topic, group_id
        self.stats = PublisherStats()
        self.sensor: SurveyLinkSensor = sensor if sensor is not None else PrometheusSurveyLinkSensor()

    async def run(self, stop: asyncio.Event) -> PublisherStats:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

        from streams.kafka_security import kafka_security

        publisher = self

        class FromTheStart(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked) -> None:
                pass

            async def on_partitions_assigned(self, assigned) -> None:
                for tp in assigned:  # learn the owners of what was committed before minting again
                    publisher._replay_until[tp] = await consumer.committed(tp) or 0
                if assigned:
                    await consumer.seek_to_beginning(*assigned)

        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, **kafka_security(),
                                    group_id=self.group_id,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id="alliance-survey-links")
        consumer.subscribe([self.sessions_topic], listener=FromTheStart())
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kafka_security(), acks="all",
                                    client_id="alliance-survey-links")
        await producer.start()
        await consumer.start()
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for r in records:
                        await self._handle(producer, r.value, record_source(r.headers),
                                           replay=r.offset < self._replay_until.get(tp, 0))
                # never commit below what was committed before the replay
                done = {tp: recs[-1].offset + 1 for tp, recs in batch.items()
                        if recs and recs[-1].offset + 1 > self._replay_until.get(tp, 0)}
                if done:
                    await consumer.commit(done)
                if batch:
                    await self.sensor.observe_lag(self.group_id, consumer)
        finally:
            await consumer.stop()
            await producer.stop()
        return self.stats

    async def _handle(self, producer, raw: bytes, source: str | None = None, *, replay: bool = False) -> None:
        try:
            event = decode(SessionEvent, raw)
        except ContractError:
            if not replay:
                self.stats.skipped_bad += 1  # the sink dead-letters bad session events
            return
        verdict = judge(self.owners.get(event.session_id), event, source, self.trusted_sources)
        if verdict.owner is not None:
            self.owners[event.session_id] = verdict.owner
        if replay or event.kind != "ended":
            return
        if not verdict.accepted:
            self.stats.refused += 1  # a forged end mints no link; the reason names sources, never text
            self.sensor.on_link_refused()
            log.warning("no survey link: %s", verdict.refused)
            return
        self.stats.ended += 1
        link = link_for_session(self.key, event, self.base_url, instrument=self.instrument, ttl_s=self.ttl_s)
        if link is None or link.expires_at <= datetime.now(timezone.utc):
            self.stats.skipped_expired += 1  # an old session replayed: its link would be dead on arrival
            return
        await producer.send_and_wait(self.links_topic, key=event.session_id.encode(), value=encode(link))
        self.stats.published += 1
        self.sensor.on_link_published()
