"""The sink: Kafka → store, idempotent, and nothing lost while the database is down.

Why its own aiokafka consumer and not a Faust agent: the one guarantee that
matters here is "an offset is committed only after the rows are committed".
Faust commits offsets on its own schedule once an agent has *processed* an
event, which is before a retried DB write has succeeded; a plain consumer group
with ``enable_auto_commit=False`` makes the order explicit:

    poll a batch → decode (bad records → <topic>.dlq) → one DB transaction
    → commit the batch's offsets

While the database is unreachable the write is retried with capped exponential
backoff and nothing is committed, so a crash or a rebalance re-delivers the
batch and the idempotent upserts (store.writes) make the repeat harmless. The
DB calls run in a worker thread, so the consumer keeps heartbeating meanwhile.
(aiokafka groups work on Tansu; kafka-python groups do not — see docs/findings.md.)
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from privacy.events import redact_events
from streams.codec import dead_letter, decode, encode
from streams.contracts import (
    AccessEvent,
    AlertAck,
    AllianceAlert,
    AllianceScore,
    ChatTurn,
    ClientRating,
    Contract,
    CounselorFeedback,
    RuptureEpisode,
    SessionEvent,
)
from streams.errors import ContractError
from streams.ownership import header_pairs, record_source
from streams.telemetry import REASON_CONTRACT, REASON_STORE, REASON_UNROUTABLE
from streams.topics import (
    ACCESS,
    ACKS,
    ALERTS,
    CHAT_SESSIONS,
    CHAT_TURNS,
    FEEDBACK,
    RATINGS,
    RUPTURES,
    SCORES,
    dlq_name,
    offset_reset,
)

from .metrics import PrometheusSinkSensor
from .retention import purge_audit, purge_text
from .sensor import SinkSensor
from .settings import StoreSettings
from .writes import Origin, WriteResult, record_positions, write_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkTopics:
    """Topic names the sink reads (tests use unique names on a shared broker)."""

    sessions: str = CHAT_SESSIONS.name
    scores: str = SCORES.name
    alerts: str = ALERTS.name
    acks: str | None = ACKS.name
    turns: str | None = None  # set when ALLIANCE_STORE_TURNS=1
    ratings: str | None = RATINGS.name
    ruptures: str | None = RUPTURES.name
    access: str | None = ACCESS.name  # the audit trail (who viewed which session)
    feedback: str | None = FEEDBACK.name  # turn-level counselor feedback (the after-session page)

    def contracts(self) -> dict[str, type[Contract]]:
        out: dict[str, type[Contract]] = {self.sessions: SessionEvent, self.scores: AllianceScore,
                                          self.alerts: AllianceAlert}
        if self.acks:
            out[self.acks] = AlertAck
        if self.turns:
            out[self.turns] = ChatTurn
        if self.ratings:
            out[self.ratings] = ClientRating
        if self.ruptures:
            out[self.ruptures] = RuptureEpisode
        if self.access:
            out[self.access] = AccessEvent
        if self.feedback:
            out[self.feedback] = CounselorFeedback
        return out

    @classmethod
    def with_suffix(cls, suffix: str, *, turns: bool = False) -> "SinkTopics":
        return cls(f"{CHAT_SESSIONS.name}{suffix}", f"{SCORES.name}{suffix}", f"{ALERTS.name}{suffix}",
                   f"{ACKS.name}{suffix}", f"{CHAT_TURNS.name}{suffix}" if turns else None,
                   ratings=f"{RATINGS.name}{suffix}", ruptures=f"{RUPTURES.name}{suffix}",
                   access=f"{ACCESS.name}{suffix}", feedback=f"{FEEDBACK.name}{suffix}")


@dataclass
class SinkStats:
    consumed: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    db_retries: int = 0
    commit_failures: int = 0
    purged_turns: int = 0
    #: rows whose quotes / rationales / notes the retention purge removed
    purged_text: int = 0
    #: audit records (views) older than their own retention, deleted
    purged_access: int = 0
    #: PII spans replaced before storing, per kind (counts only, never the text)
    redacted: dict[str, int] = field(default_factory=dict)
    written: WriteResult = field(default_factory=WriteResult)


#: PostgreSQL SQLSTATEs that say "the database cannot take writes right now", not
#: "this record is bad": every record would fail the same way, so dead-lettering
#: them would empty the stream into the DLQ. Classes 08 (connection), 53
#: (insufficient resources), 57P (operator intervention), 58 (system error) and:
TRANSIENT_SQLSTATES = frozenset({
    "25006",  # read_only_sql_transaction: a replica promoted or a primary demoted (failover)
    "42501",  # insufficient_privilege: a grant revoked or not yet applied (an operator fixes it)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "55006",  # object_in_use
    # a deploy that skipped a migration: the schema lacks a table or column the code writes;
    # no record can be stored until `alliance-monitor db upgrade` runs, and none is to blame
    "42P01",  # undefined_table
    "42703",  # undefined_column
})
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P", "58")


def sqlstate(err: BaseException) -> str | None:
    """The SQLSTATE of a DBAPI error (psycopg2 ``pgcode``, psycopg 3 ``sqlstate``), if any."""
    orig = getattr(err, "orig", None)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_transient(err: BaseException) -> bool:
    """A database error worth retrying forever: connection lost, server down, locked,
    read-only after a failover, permission denied, a migration not applied — the database, not the record."""
    if isinstance(err, (OperationalError, InterfaceError, DisconnectionError)):
        return True
    if isinstance(err, DBAPIError) and bool(err.connection_invalidated):
        return True
    code = sqlstate(err)
    return code is not None and (code in TRANSIENT_SQLSTATES or code.startswith(TRANSIENT_SQLSTATE_CLASSES))


@dataclass
class Decoded:
    events: list[Contract] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    #: (origin, reason, key, value, reason class of streams.telemetry)
    rejected: list[tuple[Origin, str, bytes | None, bytes | None, str]] = field(default_factory=list)
    #: each record's headers by its origin's (stream, offset): a dead letter keeps them (`dlq redrive` sends them back)
    headers: dict[tuple[str, int], list[tuple[str, bytes]]] = field(default_factory=dict)


def decode_batch(records: list, contracts: dict[str, type[Contract]]) -> Decoded:
    """Pure: Kafka records → contracts, or rejections with a reason (never raises)."""
    out = Decoded()
    for r in records:
        origin = Origin(r.topic, r.partition, r.offset, record_source(r.headers))
        if r.headers:
            out.headers[(origin.stream, origin.offset)] = header_pairs(r.headers)
        model = contracts.get(r.topic)
        if model is None:
            out.rejected.append((origin, f"the store does not read topic {r.topic}", r.key, r.value, REASON_UNROUTABLE))
            continue
        if r.value is None:
            out.rejected.append((origin, "empty record (tombstone)", r.key, r.value, REASON_UNROUTABLE))
            continue
        try:
            out.events.append(decode(model, r.value))
            out.origins.append(origin)
        except ContractError as err:
            out.rejected.append((origin, str(err), r.key, r.value, REASON_CONTRACT))
    return out


class Sink:
    """Consume the topics in ``topics`` and write them into the store at ``engine``."""

    def __init__(self, bootstrap: str, engine: Engine, *, topics: SinkTopics | None = None,
                 group_id: str = "alliance-store", settings: StoreSettings | None = None,
                 batch_max: int = 500, retry_initial_s: float = 0.2, retry_max_s: float = 10.0,
                 purge_every_s: float = 3600.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 trusted_sources: frozenset[str] = frozenset(), sensor: SinkSensor | None = None,
                 on_group: Callable[[bool], None] | None = None):
        self.bootstrap = bootstrap
        #: hears True after each assignment, False when a rebalance revokes it (the health probe's group watch)
        self.on_group = on_group
        #: sources whose chat.sessions records may claim a session (empty: every source); streams/ownership.py
        self.trusted_sources = trusted_sources
        self.engine = engine
        self.settings = settings or StoreSettings.from_env(str(engine.url))
        if topics is None:
            topics = SinkTopics(turns=CHAT_TURNS.name if self.settings.store_turns else None)
        self.topics = topics
        self.group_id = group_id
        self.batch_max = batch_max
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.purge_every_s = purge_every_s
        self._sleep = sleep
        self.stats = SinkStats()
        #: what the sink tells its metrics (store/sensor.py); Prometheus unless a test records instead
        self.sensor: SinkSensor = sensor if sensor is not None else PrometheusSinkSensor()
        self._consumer: Any = None  # AIOKafkaConsumer once started (aiokafka is untyped)
        self._producer: Any = None  # AIOKafkaProducer once started
        self._last_purge = 0.0

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

        from streams.kafka_security import kafka_security

        on_group = self.on_group

        class Membership(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked) -> None:
                if on_group:
                    on_group(False)

            async def on_partitions_assigned(self, assigned) -> None:
                if on_group:
                    on_group(True)

        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, **kafka_security(), group_id=self.group_id,
            enable_auto_commit=False, auto_offset_reset=offset_reset(), client_id="alliance-store-sink",
            max_poll_records=self.batch_max,
            # a long DB outage means a long gap between polls; stay in the group meanwhile
            max_poll_interval_ms=30 * 60 * 1000,
        )
        self._consumer.subscribe(list(self.topics.contracts()), listener=Membership())
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kafka_security(), acks="all",
                                          client_id="alliance-store-dlq")
        await self._producer.start()
        await self._consumer.start()

    async def stop(self) -> None:
        for client in (self._consumer, self._producer):
            if client is not None:
                try:
                    await client.stop()
                except Exception:  # best effort on shutdown
                    log.debug("error stopping a kafka client", exc_info=True)
        self._consumer = self._producer = None

    async def run(self, stop: asyncio.Event | None = None, on_ready: Callable[[], None] | None = None) -> SinkStats:
        """Poll, write, commit until ``stop`` is set. ``on_ready`` once the group has given this sink its
        partitions (not at start: it answered healthy ~5 s before it had joined its group)."""
        stop = stop or asyncio.Event()
        await self.start()
        try:
            while not stop.is_set():
                await self.step(timeout_ms=500)
                if on_ready is not None and self._consumer.assignment():
                    on_ready()
                    on_ready = None
                await self._maybe_purge()
        finally:
            await self.stop()
        return self.stats

    async def step(self, timeout_ms: int = 500) -> int:
        """One poll → write → commit cycle; returns how many records it handled."""
        assert self._consumer is not None, "start() first"
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.batch_max)
        records = [r for recs in batch.values() for r in recs]
        if not records:
            return 0
        self.stats.consumed += len(records)
        self.stats.batches += 1
        for tp, recs in batch.items():
            self.sensor.on_records(tp.topic, len(recs))
        await self.sensor.observe_lag(self.group_id, self._consumer)
        decoded = decode_batch(records, self.topics.contracts())
        if self.settings.redact:  # before the first write: no stored column, journal row or retry sees PII
            decoded.events, found = await asyncio.to_thread(redact_events, decoded.events)
            for kind, n in found.items():
                self.stats.redacted[kind] = self.stats.redacted.get(kind, 0) + n
        await self._write_with_retry(decoded)
        for origin, reason, key, value, reason_class in decoded.rejected:
            await self._dead_letter(origin, reason, key, value, decoded.headers.get((origin.stream, origin.offset)))
            self.sensor.on_dead_letter(origin.topic, reason_class)
        await self._commit(batch)
        await self.sensor.observe_lag(self.group_id, self._consumer)
        return len(records)

    def _retrying(self, retry_on: Callable[[BaseException], bool], on_retry: Callable[[RetryCallState], None]):
        """Retry forever while ``retry_on(error)``, backing off exponentially (initial → max seconds)."""
        return AsyncRetrying(wait=wait_exponential(multiplier=self.retry_initial_s, max=self.retry_max_s),
                             retry=retry_if_exception(retry_on), before_sleep=on_retry, sleep=self._sleep,
                             reraise=True)

    def _db_retry(self, state: RetryCallState) -> None:
        self.stats.db_retries += 1
        self.sensor.on_db_retry()
        err = state.outcome.exception() if state.outcome else None
        state_code = sqlstate(err) if err is not None else None
        log.warning("store unavailable (%s%s); retrying in %.1fs, offsets not committed",
                    type(err).__name__, f" SQLSTATE {state_code}" if state_code else "", state.upcoming_sleep)

    async def _write_with_retry(self, decoded: Decoded) -> None:
        try:
            async for attempt in self._retrying(is_transient, self._db_retry):
                with attempt:
                    self.stats.written.merge(await asyncio.to_thread(self._write, decoded))
        except Exception:  # noqa: BLE001 - not an outage: a record the database refuses
            await self._write_one_by_one(decoded)  # find it, dead-letter it

    def _write(self, decoded: Decoded) -> WriteResult:
        with self.sensor.write_timer(), self.engine.begin() as conn:
            result = write_events(conn, decoded.events, store_turns=bool(self.topics.turns),
                                  origins=decoded.origins, trusted=self.trusted_sources)
            record_positions(conn, [o for o, *_ in decoded.rejected])
        for kind, n in result.written.items():
            self.sensor.on_rows_written(kind, n)
        for kind, n in result.skipped.items():
            self.sensor.on_rows_skipped(kind, n)
        return result

    async def _write_one_by_one(self, decoded: Decoded) -> None:
        keep = Decoded(rejected=list(decoded.rejected), headers=decoded.headers)
        for ev, origin in zip(decoded.events, decoded.origins, strict=True):
            single = Decoded(events=[ev], origins=[origin], headers=decoded.headers)
            try:
                async for attempt in self._retrying(is_transient, self._db_retry):
                    with attempt:
                        self.stats.written.merge(await asyncio.to_thread(self._write, single))
            except Exception as err:  # noqa: BLE001 - refused, not an outage
                log.error("store refused a record at %s:%s (%s)", origin.stream, origin.offset,
                          type(err).__name__)
                keep.rejected.append((origin, (f"store refused the record: {type(err).__name__}: "
                                               f"{str(err).splitlines()[0][:300]}"), None, encode(ev),
                                      REASON_STORE))
        decoded.rejected[:] = keep.rejected

    async def _dead_letter(self, origin: Origin, reason: str, key: bytes | None, value: bytes | None,
                           headers: list[tuple[str, bytes]] | None = None) -> None:
        """Send to ``<topic>.dlq`` with the record's headers; retried while Kafka refuses (offsets wait, so nothing is lost)."""
        from aiokafka.errors import KafkaError

        dl = dead_letter(origin.topic, reason, value, key=key, partition=origin.partition, offset=origin.offset)
        assert self._producer is not None

        def retry(state: RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            log.warning("dead-letter send failed (%s); retrying in %.1fs", type(err).__name__, state.upcoming_sleep)

        async for attempt in self._retrying(lambda err: isinstance(err, KafkaError), retry):
            with attempt:
                await self._producer.send_and_wait(dlq_name(origin.topic), encode(dl), key=key, headers=headers or None)
        self.stats.dead_lettered += 1

    async def _commit(self, batch: dict) -> None:
        from aiokafka.errors import CommitFailedError, IllegalStateError

        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
        try:
            await self._consumer.commit(offsets)
            self.stats.commits += 1
        except (CommitFailedError, IllegalStateError) as err:
            # the group rebalanced while we wrote: the new owner re-reads, the upserts absorb it
            self.stats.commit_failures += 1
            self.sensor.on_commit_failed()
            log.warning("offset commit failed after a rebalance (%s); records will be re-read", type(err).__name__)

    async def _maybe_purge(self) -> None:
        # quotes and rationales arrive with every score and alert: retention runs
        # whether or not turns are stored (store/retention.py); the audit trail has its own
        days, audit_days = self.settings.turns_retention_days, self.settings.audit_retention_days
        if days is None and audit_days is None:
            return
        now = time.monotonic()
        if self._last_purge and now - self._last_purge < self.purge_every_s:
            return
        self._last_purge = now
        try:
            await asyncio.to_thread(self._purge, days, audit_days)
        except Exception as err:  # noqa: BLE001 - retention runs again next time
            log.warning("retention purge failed (%s)", type(err).__name__)

    def _purge(self, days: float | None, audit_days: float | None) -> None:
        with self.engine.begin() as conn:
            if days is not None:
                res = purge_text(conn, days)
                self.stats.purged_turns += res.turns
                self.stats.purged_text += res.total - res.turns
            if audit_days is not None:
                self.stats.purged_access += purge_audit(conn, audit_days)
