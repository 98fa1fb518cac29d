"""The scoring worker: ``alliance.requests`` → engine → ``alliance.scores`` (at-least-once).

Delivery: an aiokafka consumer GROUP (kafka-python groups do not work on Tansu),
auto-commit off. A batch of up to ``concurrency`` requests is scored concurrently
(the engine batches across sessions), every score is produced and acknowledged
by the broker, and only then are the batch's offsets committed. A crash before
the commit re-delivers the batch: the requests are scored again, and because
``request_id`` is ``session_id:phase`` the duplicates are recognisable downstream.
Nothing is lost.

Turn-level feedback (``feedback_turns`` > 0): after a phase is scored, the last
``feedback_turns`` counselor turns of its transcript are rated with the same
engine while the session's prefix is still cached (:mod:`scoring.feedback`),
and the records go to ``alliance.feedback`` before the commit. A feedback
failure is logged and skipped: the score is what the request was for. Each
record's ``validated`` comes from the turn-level validation records
(``record_loader``, reloaded every ``record_reload_s``); a failed load closes
the gate for every record until a load succeeds.

Failures: a record that is not a valid ScoreRequest goes to the DLQ at once (it
will never parse). A request whose scoring fails or times out is retried
``retries`` times, then dead-lettered with the error; the stream goes on.
Logs carry ids, counts and timings, never transcript text.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Awaitable, Callable, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_incrementing

from streams import environment
from streams.codec import dead_letter, decode, encode, safe_reason
from streams.contracts import AllianceScore, CounselorFeedback, ScoreRequest
from streams.errors import ContractError
from streams.ownership import header_pairs
from streams.telemetry import REASON_CONTRACT, REASON_SCORING
from streams.topics import FEEDBACK, SCORE_REQUESTS, SCORES, dlq_name, offset_reset

from .metrics import PrometheusScorerSensor
from .scorer import Scorer

if TYPE_CHECKING:
    from .sensor import ScorerSensor

if TYPE_CHECKING:
    from validation.calibration import Calibration
    from validation.records import RecordBook

    from .live_detector import LiveDetector

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class WorkerConfig:
    group_id: str = "alliance-scorer"
    #: requests scored at once (one batch); more = bigger engine batches, more memory.
    concurrency: int = 4
    #: seconds for one request (all 12 items); a timeout counts as a failed attempt.
    timeout_s: float = 300.0
    #: extra attempts after the first before dead-lettering.
    retries: int = 2
    retry_backoff_s: float = 0.5
    requests_topic: str = SCORE_REQUESTS.name
    scores_topic: str = SCORES.name
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    #: stop after this many records (tests, benchmarks); None = run forever.
    max_records: int | None = None
    #: after a stop (SIGTERM), seconds the batch in progress may still take; what is
    #: unfinished then is left uncommitted and re-delivered to another worker.
    drain_s: float = 20.0
    #: after a stop and the drain, seconds for everything else together: the broker's acknowledgement
    #: of the finished batch, its commit, closing the Kafka clients. With the broker gone each would
    #: wait for aiokafka's 40 s request timeout; what is unacknowledged then stays uncommitted.
    close_s: float = 5.0
    #: maps raw dimension scores to the client scale (validation.calibration.Calibration),
    #: from the model's validation record; None = publish raw scores.
    calibration: Calibration | None = None
    #: counselor turns rated per scored phase (turn-level feedback); 0 = off.
    feedback_turns: int = field(default_factory=lambda: int(environment.get("ALLIANCE_FEEDBACK_TURNS", "0")))
    feedback_topic: str = FEEDBACK.name
    #: returns the validation records (validation.records.RecordBook) whose newest turn-level record of the
    #: feedback model's identity decides ``CounselorFeedback.validated``; None: every record unvalidated.
    record_loader: Callable[[], RecordBook] | None = None
    record_reload_s: float = 60.0
    #: a trained turn detector served in feedback cards (scoring.live_detector.LiveDetector, ``score
    #: --turn-detector``): its answers stand in for the word rules' on its codes; None: the word rules alone.
    turn_detector: LiveDetector | None = None
    #: what the worker tells its metrics (scoring/sensor.py); Prometheus unless a test records instead
    sensor: ScorerSensor = field(default_factory=PrometheusScorerSensor)


class RecordCache:
    """The record book, reloaded at most every ``reload_s`` seconds; a failed load is an EMPTY book
    (the gate closes, it never opens by error) and is tried again at the next reload."""

    def __init__(self, loader: Callable[[], RecordBook] | None, reload_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.loader, self.reload_s, self.clock = loader, reload_s, clock
        self._book: RecordBook | None = None
        self._at: float | None = None

    async def book(self) -> RecordBook | None:
        if self.loader is None:
            return None
        now = self.clock()
        if self._at is None or now - self._at >= self.reload_s:
            try:
                self._book = await asyncio.to_thread(self.loader)
            except Exception as err:  # noqa: BLE001 - fail closed
                from validation.records import RecordBook

                log.warning("validation records: reload failed (%s); feedback is unvalidated", type(err).__name__)
                self._book = RecordBook()
            self._at = now
        return self._book


@dataclass
class WorkerStats:
    scored: int = 0
    dead_lettered: int = 0
    retries: int = 0
    batches: int = 0
    feedback: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What became of one record: a score to produce, or a dead letter."""

    score: AllianceScore | None = None
    dlq_reason: str | None = None
    feedback: tuple[CounselorFeedback, ...] = ()
    #: the dead letter's reason class (streams.telemetry), for the metrics
    dlq_class: str = REASON_SCORING
    #: when the processor made the request (request → score latency in the metrics)
    requested_at: datetime | None = None


async def score_request(scorer: Scorer, req: ScoreRequest, cfg: WorkerConfig, stats: WorkerStats, *,
                        book: RecordBook | None = None) -> Outcome:
    """Score with a timeout and retries (tenacity, linear backoff); never raises for a scoring failure."""

    def why(err: BaseException) -> str:
        if isinstance(err, asyncio.TimeoutError):
            return f"timed out after {cfg.timeout_s:g} s"
        return safe_reason(err)  # never str(err): it may quote the transcript

    def failed(state: RetryCallState) -> None:  # after every failed attempt: never the transcript, only the kind
        err = state.outcome.exception() if state.outcome else None
        log.warning("request %s attempt %d/%d failed: %s", req.request_id, state.attempt_number, cfg.retries + 1,
                    why(err).split(":")[0] if err is not None else "unknown")

    def retrying(_: RetryCallState) -> None:
        stats.retries += 1
        cfg.sensor.on_retry()

    try:
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(cfg.retries + 1),
                wait=wait_incrementing(start=cfg.retry_backoff_s, increment=cfg.retry_backoff_s),
                retry=retry_if_exception_type(Exception),  # not CancelledError: a stop is not a failure
                after=failed, before_sleep=retrying, reraise=True):
            with attempt:
                score = await asyncio.wait_for(
                    scorer.score(session_id=req.session_id, phase=req.phase, turns=req.transcript, lang=req.lang,
                                 upto_turn_id=req.upto_turn_id, counselor_id=req.counselor_id,
                                 watched=req.watched, trimmed_turns=req.trimmed_turns),
                    timeout=cfg.timeout_s,
                )
                if cfg.calibration is not None:
                    from validation.calibration import calibrate_score

                    score = calibrate_score(score, cfg.calibration)
    except Exception as err:  # noqa: BLE001 - any scoring failure is retried, then dead-lettered
        return Outcome(dlq_reason=f"scoring failed after {cfg.retries + 1} attempt(s): {why(err)}")
    return Outcome(score=score, feedback=await _feedback(scorer, req, cfg, book), requested_at=req.created_at)


async def _feedback(scorer: Scorer, req: ScoreRequest, cfg: WorkerConfig,
                    book: RecordBook | None = None) -> tuple[CounselorFeedback, ...]:
    """Rate the phase's last counselor turns; any failure costs only the feedback, never the score."""
    if cfg.feedback_turns <= 0:
        return ()
    from .feedback import FeedbackScorer

    try:
        rated = await asyncio.wait_for(
            FeedbackScorer(scorer.engine, records=book, detector=cfg.turn_detector).rate(
                session_id=req.session_id, phase=req.phase, turns=req.transcript, k=cfg.feedback_turns,
                lang=req.lang, counselor_id=req.counselor_id),
            timeout=cfg.timeout_s)
        return tuple(rated)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - logged by type only (no transcript text)
        log.warning("feedback for %s failed: %s", req.request_id, type(err).__name__)
        return ()


async def handle_record(scorer: Scorer, record, cfg: WorkerConfig, stats: WorkerStats, *,
                        book: RecordBook | None = None) -> Outcome:
    try:
        req = decode(ScoreRequest, record.value)
    except ContractError as err:
        return Outcome(dlq_reason=f"invalid ScoreRequest: {err}", dlq_class=REASON_CONTRACT)
    return await score_request(scorer, req, cfg, stats, book=book)


async def finish_batch(coros: list, stop: asyncio.Event, drain_s: float) -> list[Outcome | None]:
    """Run a batch to the end, or, once ``stop`` is set, for at most ``drain_s`` more; None = unfinished."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        while not all(t.done() for t in tasks) and not stopper.done():
            await asyncio.wait([*[t for t in tasks if not t.done()], stopper], return_when=asyncio.FIRST_COMPLETED)
        if not all(t.done() for t in tasks):
            await asyncio.wait([t for t in tasks if not t.done()], timeout=drain_s)
    finally:
        stopper.cancel()
        for t in tasks:
            if not t.done():
                t.cancel()
    return [t.result() if t.done() and not t.cancelled() else None for t in tasks]


class StopBudget:
    """The seconds left for the steps after a stop: one budget for all of them, so the exit is bounded.

    The clock starts at the first :meth:`left` (the first step that runs after the stop).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._start: float | None = None

    def left(self) -> float:
        now = self.clock()
        if self._start is None:
            self._start = now
        return max(0.0, self.seconds - (now - self._start))


async def until_stopped_within(aw: Awaitable[T], stop: asyncio.Event, budget: StopBudget) -> asyncio.Future[T]:
    """Await ``aw`` to the end, or, once ``stop`` is set, for what is ``left`` of the budget; then cancel it.

    The returned task has a result or exception, or was given up (:func:`_gave_up`): the caller checks which.
    """
    task = asyncio.ensure_future(aw)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait([task], timeout=budget.left())
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
    return task


def _gave_up(task: asyncio.Future) -> bool:
    """Cancelled by :func:`until_stopped_within` (the cancellation may not have run yet)."""
    return not task.done() or task.cancelled()


async def _produce(producer, kept: list, cfg: WorkerConfig, stats: WorkerStats,
                   on_outcome: Callable[[object, Outcome], None] | None) -> None:
    """Produce the batch's scores, feedback and dead letters; return once the broker acknowledged every one."""
    sends = []
    for record, outcome in kept:
        if outcome.score is not None:
            sends.append(await producer.send(cfg.scores_topic, key=outcome.score.session_id.encode(),
                                             value=encode(outcome.score)))
            stats.scored += 1
            stats.latencies_ms.append(outcome.score.latency_ms)
            _count_score(cfg.sensor, outcome.score, outcome.requested_at)
            log.info("scored %s in %.0f ms (%d prompt tokens, %d cached)", outcome.score.request_id,
                     outcome.score.latency_ms, outcome.score.prompt_tokens, outcome.score.cached_tokens)
            for fb in outcome.feedback:
                sends.append(await producer.send(cfg.feedback_topic, key=fb.session_id.encode(),
                                                 value=encode(fb)))
                stats.feedback += 1
                cfg.sensor.on_feedback()
        else:
            dl = dead_letter(cfg.requests_topic, outcome.dlq_reason or "unknown", record.value,
                             key=record.key, partition=record.partition, offset=record.offset)
            sends.append(await producer.send(dlq_name(cfg.requests_topic), key=record.key, value=encode(dl),
                                             headers=header_pairs(record.headers) or None))
            stats.dead_lettered += 1
            cfg.sensor.on_dead_letter(cfg.requests_topic, outcome.dlq_class)
            log.warning("dead-lettered offset %d of partition %d: %s", record.offset, record.partition,
                        (outcome.dlq_reason or "").split(":")[0])
        if on_outcome:
            on_outcome(record, outcome)
    for fut in sends:
        await fut  # the broker has every score / dead letter before we commit


def finished_prefix(records: list, outcomes: list[Outcome | None]) -> list[int]:
    """Indexes of the records whose offsets may be committed: per partition, those before the first unfinished."""
    blocked: set[int] = set()
    keep = []
    for i, (record, outcome) in enumerate(zip(records, outcomes, strict=True)):
        if outcome is None or record.partition in blocked:
            blocked.add(record.partition)
            continue
        keep.append(i)
    return keep


def _count_score(sensor: ScorerSensor, score: AllianceScore, requested_at: datetime | None) -> None:
    waited = (datetime.now(timezone.utc) - requested_at).total_seconds() if requested_at is not None else None
    sensor.on_scored(score.phase, score.latency_ms / 1000.0, waited, score.prompt_tokens, score.cached_tokens)


async def run_worker(bootstrap: str, scorer: Scorer, cfg: WorkerConfig | None = None, *,
                     stop: asyncio.Event | None = None,
                     on_ready: Callable[[], None] | None = None,
                     on_outcome: Callable[[object, Outcome], None] | None = None,
                     on_assigned: Callable[[list[int]], None] | None = None,
                     on_group: Callable[[bool], None] | None = None) -> WorkerStats:
    """Consume, score, produce, then commit, until ``stop`` is set or ``max_records`` are done.

    ``on_assigned`` hears the request partitions this worker holds after each rebalance:
    several workers of one group split the partitions, and a stopped worker's move to the others.
    ``on_group`` hears True after each assignment and False when a rebalance revokes it (the health probe).
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
    from aiokafka.errors import CommitFailedError, KafkaError

    class Assignment(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked) -> None:
            if on_group:
                on_group(False)

        async def on_partitions_assigned(self, assigned) -> None:
            if on_assigned:
                on_assigned(sorted(tp.partition for tp in assigned))
            if on_group:  # after the assignment is announced: healthy means it holds these partitions
                on_group(True)

    from streams.kafka_security import kafka_security

    cfg = cfg or WorkerConfig()
    stop = stop or asyncio.Event()
    stats = WorkerStats()
    records_cache = RecordCache(cfg.record_loader, cfg.record_reload_s)
    budget = StopBudget(cfg.close_s)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, **kafka_security(),
        group_id=cfg.group_id,
        enable_auto_commit=False,
        auto_offset_reset=offset_reset(),
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        # scoring a batch can take minutes on a CPU; the group must not evict us meanwhile
        max_poll_interval_ms=max(300_000, int(cfg.timeout_s * (cfg.retries + 1) * 1000) + 60_000),
        client_id="alliance-scorer",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_security(), acks="all", client_id="alliance-scorer",
                                max_request_size=4 * 1024 * 1024)
    consumer.subscribe([cfg.requests_topic], listener=Assignment())
    await producer.start()
    await consumer.start()
    done = 0
    try:
        if on_ready:
            on_ready()
        while not stop.is_set():
            if cfg.max_records is not None and done >= cfg.max_records:
                break
            batch = await consumer.getmany(timeout_ms=500, max_records=cfg.concurrency)
            records = [r for recs in batch.values() for r in recs]
            if not records:
                continue
            stats.batches += 1
            await cfg.sensor.observe_lag(cfg.group_id, consumer)
            cfg.sensor.on_batch_started(len(records))
            book = await records_cache.book() if cfg.feedback_turns > 0 else None
            try:
                outcomes = await finish_batch([handle_record(scorer, r, cfg, stats, book=book) for r in records],
                                              stop, cfg.drain_s)
            finally:
                cfg.sensor.on_batch_finished()
            finished = finished_prefix(records, outcomes)
            if len(finished) < len(records):
                log.warning("stopping: %d request(s) of the batch left unfinished for another worker",
                            len(records) - len(finished))
            kept = [(records[i], o) for i in finished if (o := outcomes[i]) is not None]  # finished: all have one
            records = [r for r, _ in kept]
            # the broker has every score / dead letter before we commit; after a stop, within the budget
            delivery = await until_stopped_within(_produce(producer, kept, cfg, stats, on_outcome), stop, budget)
            if _gave_up(delivery) or (stop.is_set() and isinstance(delivery.exception(), KafkaError)):
                log.warning("stopping: the broker did not acknowledge the batch within %.0f s of the stop; "
                            "%d request(s) left uncommitted for another worker", cfg.close_s, len(records))
                break
            delivery.result()  # a delivery failure while running: raised, nothing of the batch committed
            offsets: dict = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                offsets[tp] = max(offsets.get(tp, -1), r.offset + 1)
            try:
                if offsets:
                    commit = await until_stopped_within(consumer.commit(offsets), stop, budget)
                    if _gave_up(commit):
                        log.warning("stopping: the commit did not finish within %.0f s of the stop; "
                                    "%d scored request(s) will be scored again", cfg.close_s, len(records))
                        break
                    commit.result()
            except (CommitFailedError, KafkaError) as err:
                # rebalanced meanwhile: the batch will be re-delivered and re-scored (idempotent ids)
                log.warning("commit failed (%s); the batch will be scored again", type(err).__name__)
            done += len(records)
            await cfg.sensor.observe_lag(cfg.group_id, consumer)
    finally:
        await _close("consumer", consumer.stop(), budget)
        await _close("producer", producer.stop(), budget)
    return stats


async def _close(what: str, closing: Awaitable[None], budget: StopBudget) -> None:
    """Close a Kafka client within what is left of the budget: with the broker gone, aiokafka's consumer
    waits on the coordinator and its producer flushes unacknowledged sends for up to 40 s each."""
    try:
        await asyncio.wait_for(closing, timeout=max(budget.left(), 0.1))
    except asyncio.TimeoutError:
        log.warning("closing the Kafka %s timed out (broker unreachable); exiting without it", what)
