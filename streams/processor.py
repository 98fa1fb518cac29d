"""The stream processor: a thin Faust shell around :mod:`streams.session_state`.

Agents (all keyed by ``session_id``, so co-partitioned with their tables):

* ``sessions_agent`` reads ``chat.turns``, ``chat.sessions`` and a private tick
  topic, and for each record loads the session state from the ``sessions``
  table, lets the pure core decide, sends ScoreRequests / ProcessSignals /
  process alerts, then stores the state (changelog-backed, so a restarted
  worker recovers it). Turn texts live in the ``texts`` table, one key per turn.
* ``alerts_agent`` reads ``alliance.scores``, applies :mod:`streams.alert_policy`
  with its per-session state in the ``alert_state`` table, and sends alerts.
* Rupture episodes (:mod:`streams.ruptures`) live in the session state, so
  ``sessions_agent`` also reads the policy's *drop* alerts back from
  ``alliance.alerts`` (already gated) and sends every episode change to
  ``alliance.ruptures``. One agent owns the state: no two agents race on it.

Why a tick *topic* instead of changing state in the timer: Faust only allows a
table change inside stream iteration (the changelog partition is the current
event's partition). The timer therefore only *reads* the tables and, for a
session that has something due (a phase boundary crossed by elapsed time, a
coalesced signal, a closed session to forget), sends a tick record to the
session's own partition; the agent handles it like any other event.

Delivery: at-least-once (Tansu has no transactions). Outputs are sent before
the state that records them, so a crash can repeat a ScoreRequest (same
``request_id``: the scorer scores it again; the store's upsert, the alert policy
and the gateway treat the repeat as the same score) but never lose one. Malformed records go
to ``<topic>.dlq`` as DeadLetter and processing goes on.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import heapq
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import orjson

from validation.detectors import gate_episode, gate_process_alert
from validation.gate import apply_gate, gate_label
from validation.records import RecordBook

from . import session_state as core
from .alert_policy import SettingsBook, memory_at_forget, memory_done, on_score
from .catch_up import CatchUp
from .changelog_tail import read_changelog_tails
from .codec import M, dead_letter, decode, encode, safe_reason
from .contracts import AllianceAlert, AllianceScore, ChatTurn, SessionEvent
from .errors import ContractError
from .ownership import header_pairs, record_source
from .processor_metrics import PrometheusProcessorSensor
from .processor_sensor import ProcessorSensor
from .telemetry import REASON_CONTRACT, REASON_PROCESSING, REASON_REJECTED
from .topics import (
    ALERTS,
    CHAT_SESSIONS,
    CHAT_TURNS,
    RUPTURES,
    SCORE_REQUESTS,
    SCORES,
    SIGNALS,
    TopicSpec,
    dlq_name,
    offset_reset,
    replication_factor,
)

log = logging.getLogger(__name__)

READY_LINE = "processor ready"


@dataclass
class ProcessorConfig:
    bootstrap: str
    app_id: str = "alliance-processor"
    settings: core.ProcessorSettings = field(default_factory=core.ProcessorSettings)
    alert_book: SettingsBook = field(default_factory=SettingsBook.builtin)
    tick_interval_s: float = 0.25
    #: Faust offset commit interval; short so a restarted worker repeats little.
    commit_interval_s: float = 1.0
    #: how long the group waits for a dead member (a killed worker) before rebalancing.
    session_timeout_s: float = 10.0
    #: consumer long-poll bound (Faust's own is 1500 ms; see shorten_fetch_wait).
    fetch_max_wait_ms: int = 50
    #: the producer's batch size in bytes. Exact changelog recovery on Tansu no longer needs
    #: single-record batches (1): the changelog tails are read after recovery instead.
    producer_max_batch_size: int = 16384
    #: table standby replicas: another worker of the group follows each table partition's
    #: changelog, so when the partition moves to it (its worker died) the state is already there
    standby_replicas: int = 1
    #: after recovery, read each owned changelog partition past its reported end
    #: (streams/changelog_tail.py): Tansu's end offsets stop at the last batch's base
    read_changelog_tails: bool = True
    #: returns the validation records (validation.records.RecordBook) that decide
    #: ``alert.validated`` (docs/validation.md); None: no records, every model unvalidated.
    record_loader: Callable[[], RecordBook] | None = None
    record_reload_s: float = 60.0
    #: after a (re)start, how long the timer may wait for the input backlog to be read before it
    #: ends phases anyway (streams/catch_up.py); 0 turns the wait off.
    catch_up_max_s: float = 30.0
    #: how often the consumer lag and session gauges of /metrics are refreshed
    lag_interval_s: float = 2.0
    #: called once the tables are recovered and the worker processes records (health endpoint)
    on_ready: Callable[[], None] | None = None
    #: what the agents tell the metrics (streams/processor_sensor.py); Prometheus unless a test records instead
    sensor: ProcessorSensor = field(default_factory=PrometheusProcessorSensor)
    #: called with a reason when ``failing_after`` chat records in a row went to the DLQ and none was
    #: processed (the worker is broken, not the input: the health endpoint turns 503), with None when
    #: one is processed again
    on_failing: Callable[[str | None], None] | None = None
    failing_after: int = 100

    def partitioned_topics(self) -> list[str]:
        """The topics whose partitions must agree: the sources, the tick topic and the changelogs (Faust
        joins a source partition to the same table partition; a mismatch dead-letters every record)."""
        return [CHAT_TURNS.name, CHAT_SESSIONS.name, ALERTS.name, SCORES.name, self.tick_topic().name,
                *changelog_topics(self.app_id)]
    #: hears True when a rebalance completes (tables recovered) and False when one revokes (health's group watch)
    on_group: Callable[[bool], None] | None = None

    def tick_topic(self) -> TopicSpec:
        return TopicSpec(
            f"{self.app_id}-ticks", SessionEvent, 3600 * 1000, False, "internal timer ticks",
            partitions=CHAT_TURNS.partition_count(),
        )


@dataclass
class DeadLetterStreak:
    """Chat records dead-lettered in a row with none processed. A few are bad input; ``limit`` in a row
    means the worker cannot process anything (a partition mismatch, a store it cannot read)."""

    limit: int
    run: int = 0

    def failed(self) -> bool:
        """Count one; True when this one makes the streak reach the limit."""
        self.run += 1
        return self.run == self.limit

    def succeeded(self) -> bool:
        """A record was processed; True when that ends a streak at the limit."""
        failing, self.run = self.run >= self.limit, 0
        return failing


@dataclass
class Counters:
    turns: int = 0
    session_events: int = 0
    duplicates: int = 0
    ignored: int = 0
    requests: int = 0
    signals: int = 0
    alerts: int = 0
    episodes: int = 0
    dead_letters: int = 0
    scores: int = 0
    ticks: int = 0

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.__dict__.items())


class Wakeups:
    """When each local session next needs the timer: a heap with lazy deletion."""

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def set(self, sid: str, at: float | None) -> None:
        if at is None:
            self._at.pop(sid, None)
            return
        if self._at.get(sid) != at:
            self._at[sid] = at
            heapq.heappush(self._heap, (at, sid))

    def cancel(self, sid: str) -> None:
        self._at.pop(sid, None)

    def clear(self) -> None:
        self._at.clear()
        self._heap.clear()

    def pop_due(self, now: float) -> list[str]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            at, sid = heapq.heappop(self._heap)
            if self._at.get(sid) == at:
                del self._at[sid]
                due.append(sid)
        return due

    def __len__(self) -> int:
        return len(self._at)


#: the processor's tables; Faust names each changelog topic "<app id>-<table>-changelog"
TABLES = ("sessions", "texts", "alert_state")


def changelog_topics(app_id: str = "alliance-processor") -> list[str]:
    return [f"{app_id}-{table}-changelog" for table in TABLES]


def check_partitions(cfg: ProcessorConfig) -> None:
    """Refuse to start (one line) when the sources and changelogs that exist disagree with the partition
    count: Faust would raise PartitionsMismatch for every record and dead-letter it."""
    from .broker import disagreement_line, partition_counts, partition_disagreements
    from .errors import BrokerError

    want = CHAT_TURNS.partition_count()
    found = partition_disagreements(partition_counts(cfg.bootstrap, cfg.partitioned_topics()), want)
    if found:
        raise BrokerError(disagreement_line(found, want))


def texts_changelog_configs() -> dict[str, str]:
    """Topic configs of the ``texts`` changelog: the retention of ``chat.turns``, the topic its texts came from."""
    return {"retention.ms": str(CHAT_TURNS.retention_ms), "cleanup.policy": "compact,delete"}


def _copy(state: Any) -> Any:
    """A private copy of a table value (the store hands out its own object)."""
    return orjson.loads(orjson.dumps(state)) if state is not None else None


def shorten_fetch_wait(fetch_max_wait_ms: int) -> None:
    """Make Faust's consumers long-poll for at most ``fetch_max_wait_ms``.

    faust-streaming 0.15.3 hard-codes ``fetch_max_wait_ms=1500`` for its worker
    consumer, and Tansu answers a fetch with no new data only when that wait has
    run out (it is not woken by a produce): every quiet moment then costs up to
    1.5 s of latency (see docs/findings.md). Idempotent.
    """
    from faust.transport.drivers import aiokafka as driver

    thread = driver.AIOKafkaConsumerThread
    original = getattr(thread, "_alliance_original_create_worker_consumer", thread._create_worker_consumer)

    def create(self, transport):
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer

    thread._alliance_original_create_worker_consumer = original  # type: ignore[attr-defined]  # our marker: idempotent
    thread._create_worker_consumer = create  # type: ignore[method-assign]  # the patch itself (see above)


def build_app(cfg: ProcessorConfig):
    """Create the Faust app with its topics, tables, agents and timer."""
    import faust

    from .codec import register_faust_codecs

    register_faust_codecs()
    shorten_fetch_wait(cfg.fetch_max_wait_ms)
    s = cfg.settings
    partitions = CHAT_TURNS.partition_count()
    from .broker import state_dir
    from .kafka_security import faust_security

    datadir = state_dir() / "faust" / cfg.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        cfg.app_id,
        broker=f"kafka://{cfg.bootstrap}",
        **faust_security(),  # SASL / TLS from the part-wide settings (streams/kafka_security.py)
        # Faust keeps a small data dir per app; never in the current directory
        datadir=str(datadir),
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=partitions,
        topic_replication_factor=replication_factor(),
        processing_guarantee="at_least_once",
        table_standby_replicas=cfg.standby_replicas,
        web_enabled=False,
        broker_commit_interval=cfg.commit_interval_s,
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_request_timeout=max(40.0, cfg.session_timeout_s + 10),
        consumer_auto_offset_reset=offset_reset(),
        producer_acks=-1,
        # Tansu answers ListOffsets(latest) with the *last batch's base offset* + 1, so
        # Faust's changelog recovery stops short of multi-record batches; on_ready reads
        # the rest (streams/changelog_tail.py, docs/findings.md) rather than sending
        # every record in a batch of its own.
        producer_max_batch_size=cfg.producer_max_batch_size,
        autodiscover=False,
    )
    tick_spec = cfg.tick_topic()
    inputs = app.topic(CHAT_TURNS.name, CHAT_SESSIONS.name, tick_spec.name, ALERTS.name, key_type=bytes, value_type=bytes,
                       value_serializer="raw", key_serializer="raw")
    scores_in = app.topic(SCORES.name, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
    out = {
        name: app.topic(name, value_serializer="raw", key_serializer="raw")
        for name in (SCORE_REQUESTS.name, SIGNALS.name, ALERTS.name, RUPTURES.name, tick_spec.name,
                     CHAT_TURNS.dlq, CHAT_SESSIONS.dlq, SCORES.dlq)
    }
    def table(name: str, **extra):
        return app.Table(name, default=None, partitions=partitions,
                         schema=faust.Schema(key_serializer="json", value_serializer="json"), **extra)

    sessions = table("sessions")
    # one key per turn: "session_id:turn_id" -> [speaker, text, sent_at] (core.text_entry). Its changelog holds
    # chat text, so it keeps it no longer than chat.turns does (compact *and* delete).
    texts = table("texts", extra_topic_configs=texts_changelog_configs())
    alert_state = table("alert_state")
    counters = Counters()
    sensor = cfg.sensor  # what the agents tell the metrics (streams/processor_sensor.py)
    wakeups = Wakeups()
    ready = {"flag": False}
    catch_up: dict[str, Any] = {"gate": CatchUp.open(), "warned": False}
    inflight: dict[str, float] = {}
    app.alliance_counters = counters  # type: ignore[attr-defined]  # run_processor reads them back from the app
    loader = cfg.record_loader
    records: dict[str, Any] = {"book": loader() if loader else None}

    async def send(topic: str, key: str, value: bytes, partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        await out[topic].send(key=key.encode(), value=value, partition=partition, headers=headers or None)

    streak = DeadLetterStreak(cfg.failing_after)

    async def to_dlq(source: str, reason: str, message, reason_class: str = REASON_PROCESSING) -> None:
        counters.dead_letters += 1
        if source in (CHAT_TURNS.name, CHAT_SESSIONS.name) and streak.failed() and cfg.on_failing:
            cfg.on_failing(f"the last {streak.limit} chat records went to the dead-letter topics")
        sensor.on_dead_letter(source, reason_class)
        letter = dead_letter(source, reason, message.value, key=message.key,
                             partition=message.partition, offset=message.offset)
        # the record's headers go with it (its source above all): `dlq redrive` sends them back
        await send(dlq_name(source), letter.key or "", encode(letter), headers=header_pairs(message.headers))
        log.warning("dead letter from %s[%s]@%s: %s", source, message.partition, message.offset, reason)

    async def decoded(contract: type[M], source: str, message) -> M | None:
        """The record as ``contract``, or None once it is dead-lettered (the stream goes on)."""
        try:
            return decode(contract, message.value)
        except ContractError as err:
            await to_dlq(source, str(err), message, REASON_CONTRACT)
            return None

    async def apply(outcome: core.Outcome, session_id: str, partition: int) -> None:
        state = outcome.state
        state["partition"] = partition
        for due in outcome.requests:
            request = core.build_request(state, due, lambda tid: _text(texts, session_id, tid), s.transcript_mode,
                                         s.watched)
            await send(SCORE_REQUESTS.name, session_id, encode(request))
            counters.requests += 1
            sensor.on_request(request.phase)
            log.info("request %s: upto turn %s, %d lines, phase ended by %s", request.request_id,
                     request.upto_turn_id, len(request.transcript), due.reason)
            outcome.drop_turn_ids.extend(core.mark_emitted(state, due.phase, s))
        outcome.episodes.extend(core.close_ruptures(state))  # nothing unless the session just closed
        for episode in outcome.episodes:
            # the detector gate: markers reach a counselor only once the rupture-marker rules passed
            episode = gate_episode(episode, records["book"])
            await send(RUPTURES.name, session_id, encode(episode))
            counters.episodes += 1
            sensor.on_episode()
        if outcome.signal is not None:
            await send(SIGNALS.name, session_id, encode(outcome.signal))
            counters.signals += 1
            sensor.on_signal()
        for alert in outcome.alerts:
            alert = gate_process_alert(alert, records["book"])  # a flag reaches a counselor once its rule passed
            await send(ALERTS.name, session_id, encode(alert))
            counters.alerts += 1
            sensor.on_alert(alert.kind, gate_label(alert))
        if outcome.forget:
            sessions.pop(session_id, None)
            # the alert policy's memory of the session goes with it (same key, same
            # partition: the tables are co-partitioned), or it would be kept forever —
            # unless a phase is still to be scored: then it goes when that score comes
            kept = memory_at_forget(alert_state.get(session_id))
            if kept is None:
                alert_state.pop(session_id, None)
            else:
                alert_state[session_id] = kept
            wakeups.cancel(session_id)
            return
        sessions[session_id] = state
        wakeups.set(session_id, core.next_wakeup(state, s))
        for tid in outcome.drop_turn_ids:
            texts.pop(f"{session_id}:{tid}", None)

    @app.agent(inputs, name="sessions_agent")
    async def sessions_agent(stream):
        async for event in stream.events():
            message = event.message
            wall = time.time()
            catch_up["gate"].observe(message.topic, message.partition, message.offset)
            started = time.perf_counter()
            dead_before = counters.dead_letters
            try:
                if message.topic == tick_spec.name:
                    counters.ticks += 1
                    sid = (message.key or b"").decode("utf-8", "replace")
                    inflight.pop(sid, None)
                    state = _copy(sessions.get(sid))
                    if state is not None:
                        await apply(core.on_tick(state, wall, s), sid, message.partition)
                    continue
                if message.topic == CHAT_TURNS.name:
                    if (turn := await decoded(ChatTurn, CHAT_TURNS.name, message)) is None:
                        continue
                    counters.turns += 1
                    sensor.on_turn()
                    state = _copy(sessions.get(turn.session_id))
                    outcome = core.on_turn(state, turn, wall, s, received_at=wall,
                                           source=record_source(message.headers),
                                           previous=_previous(texts, turn, s))
                    if outcome.rejected:
                        await to_dlq(CHAT_TURNS.name, outcome.rejected, message, REASON_REJECTED)
                        continue
                    text_key = f"{turn.session_id}:{turn.turn_id}"
                    if outcome.duplicate:
                        counters.duplicates += 1
                        sensor.on_duplicate_turn()
                        if texts.get(text_key) is None:  # an open session's texts are kept until it closes
                            # A crash can land the state's changelog record but not the text's
                            # (two changelog partitions, each with its own produce in flight);
                            # the redelivered turn is then a "duplicate" whose text is missing.
                            # Restore it, or every later transcript silently lacks this turn.
                            texts[text_key] = core.text_entry(turn, s)
                            sensor.on_text_restored()
                    elif outcome.ignored:
                        counters.ignored += 1
                    else:
                        texts[text_key] = core.text_entry(turn, s)
                    if outcome.ignored:
                        continue
                    await apply(outcome, turn.session_id, message.partition)
                elif message.topic == CHAT_SESSIONS.name:
                    if (ev := await decoded(SessionEvent, CHAT_SESSIONS.name, message)) is None:
                        continue
                    counters.session_events += 1
                    sensor.on_session_event()
                    outcome = core.on_session_event(_copy(sessions.get(ev.session_id)), ev, wall, s,
                                                    source=record_source(message.headers))
                    if outcome.rejected:  # not the owner's: changes nothing, kept in the dead-letter topic
                        await to_dlq(CHAT_SESSIONS.name, outcome.rejected, message, REASON_REJECTED)
                        continue
                    if outcome.ignored:
                        counters.ignored += 1
                        continue
                    await apply(outcome, ev.session_id, message.partition)
                elif message.topic == ALERTS.name:
                    try:
                        alert = decode(AllianceAlert, message.value)
                    except ContractError:
                        continue  # the sink dead-letters this topic; a reader must not write N copies
                    if alert.kind != "drop":
                        continue
                    state = _copy(sessions.get(alert.session_id))
                    if state is None:
                        continue  # a session this processor never saw (or long forgotten)
                    await apply(core.on_model_drop(state, alert, s), alert.session_id, message.partition)
            except Exception as err:  # noqa: BLE001 - never stop the stream on one bad record
                # no log.exception: a traceback's last line quotes values, i.e. chat text
                log.error("processing failed for %s[%s]@%s: %s", message.topic, message.partition, message.offset,
                          safe_reason(err))
                if message.topic not in (tick_spec.name, ALERTS.name):
                    await to_dlq(message.topic, f"processing error: {safe_reason(err)}", message)
            finally:
                sensor.on_record_handled(message.topic, time.perf_counter() - started)
                processed = message.topic in (CHAT_TURNS.name, CHAT_SESSIONS.name) and counters.dead_letters == dead_before
                if processed and streak.succeeded() and cfg.on_failing:
                    cfg.on_failing(None)


    if loader is not None:
        @app.timer(interval=cfg.record_reload_s)
        async def reload_records() -> None:
            # a failed reload yields an empty book: the gate closes, it never opens by error
            records["book"] = await asyncio.to_thread(loader)

    @app.agent(scores_in, name="alerts_agent")
    async def alerts_agent(stream):
        async for event in stream.events():
            message = event.message
            try:
                if (score := await decoded(AllianceScore, SCORES.name, message)) is None:
                    continue
                counters.scores += 1
                sensor.on_score()
                previous = alert_state.get(score.session_id)
                decision = on_score(_copy(previous), score, cfg.alert_book.for_model(score.model.name))
                record = records["book"].for_model(score.model) if records["book"] is not None else None
                for alert in decision.alerts:
                    # the validation gate: only a passing record for this exact model identity
                    # and dimension lets the alert reach a counselor (routing is the gateway's)
                    alert = apply_gate(alert, record, score.model)
                    await send(ALERTS.name, score.session_id, encode(alert))
                    counters.alerts += 1
                    sensor.on_alert(alert.kind, gate_label(alert))
                if memory_done(previous, decision.state):
                    # the last score of a session already forgotten: nothing more will come
                    alert_state.pop(score.session_id, None)
                elif decision.state != previous:
                    alert_state[score.session_id] = decision.state
            except Exception as err:  # noqa: BLE001 - never stop the stream on one bad score
                log.error("alert policy failed for %s[%s]@%s: %s", message.topic, message.partition, message.offset,
                          safe_reason(err))
                await to_dlq(SCORES.name, f"processing error: {safe_reason(err)}", message)

    @app.timer(interval=cfg.lag_interval_s)
    async def observe() -> None:  # the figures of /metrics that are states, not counts
        sensor.on_sessions(len(sessions))
        if ready["flag"] and not app.rebalancing:
            await sensor.observe_lag(cfg.app_id, app.consumer,
                                   (CHAT_TURNS.name, CHAT_SESSIONS.name, SCORES.name, ALERTS.name))

    @app.timer(interval=cfg.tick_interval_s)
    async def tick() -> None:
        if not ready["flag"] or app.rebalancing:
            return
        wall = time.time()
        gate = catch_up["gate"]
        if not gate.is_open(wall):
            return  # the turns of the downtime are still being read: no phase ends by extrapolation yet
        if gate.opened_by == "timeout" and not catch_up["warned"]:
            catch_up["warned"] = True
            log.warning("input backlog not read after %.0f s (%d partition(s) behind); the timer goes on",
                        cfg.catch_up_max_s, gate.behind)
        for sid in wakeups.pop_due(wall):
            state = sessions.get(sid)
            if state is None:
                continue
            if wall - inflight.get(sid, 0.0) < 1.0:
                wakeups.set(sid, inflight[sid] + 1.0)
                continue
            if core.tick_needed(state, wall, s):
                inflight[sid] = wall
                wakeups.set(sid, wall + 2.0)  # safety net; handling the tick sets the real next wake-up
                await send(tick_spec.name, sid, b"{}", partition=state.get("partition"))
            else:
                wakeups.set(sid, core.next_wakeup(state, s))

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # Faust types connect() so no plain receiver fits
    async def on_ready(sender: Any, **kwargs: Any) -> None:  # after table recovery
        nonlocal s
        first = not ready["flag"]
        # from now on this worker watches these sessions; the time nobody did is not silence
        s = replace(s, observed_since=time.time())
        catch_up["warned"] = False
        if cfg.read_changelog_tails:
            owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == CHAT_TURNS.name]
            try:
                tail = await read_changelog_tails(cfg.bootstrap, (sessions, texts, alert_state), owned)
            except Exception as err:  # noqa: BLE001 - never keep a worker from starting over it; say what it may have missed
                log.warning("changelog tails not read (%s): the newest state of a moved session may be missing",
                            safe_reason(err))
            else:
                if tail:
                    log.info("changelog tails: %d record(s) past the reported end applied", tail)
        catch_up["gate"] = await _catch_up_gate(app, (CHAT_TURNS.name, CHAT_SESSIONS.name), cfg.catch_up_max_s)
        inflight.clear()
        wakeups.clear()
        for sid, state in list(sessions.items()):  # after recovery: one full scan
            if state is not None:
                wakeups.set(sid, core.next_wakeup(state, s))
        ready["flag"] = True
        turns = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == CHAT_TURNS.name)
        # which sessions this worker now owns (one line per rebalance: operators and tests see partitions move)
        standby = sorted(tp.partition for tp in app.assignor.assigned_standbys()
                         if tp.topic == sessions.changelog_topic.get_topic_name())
        print(f"processor assignment: {CHAT_TURNS.name} partitions {turns}, {len(sessions)} session(s), "
              f"standby for partitions {standby}",
              file=sys.stderr, flush=True)
        for sid, state in list(sessions.items()):
            if state is not None:
                log.debug("recovered %s: emitted %s, %d turns", sid, state["clock"]["emitted"], core.turn_count(state))
        if cfg.on_group:
            cfg.on_group(True)
        if first:
            print(f"{READY_LINE}: app {cfg.app_id}, {len(sessions)} session(s) recovered", file=sys.stderr,
                  flush=True)
            if cfg.on_ready:
                cfg.on_ready()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust types connect() so no plain receiver fits
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        inflight.clear()
        if cfg.on_group:
            cfg.on_group(False)
        print(f"processor rebalance: {len(revoked)} partition(s) revoked", file=sys.stderr, flush=True)

    return app


async def _catch_up_gate(app, topics: tuple[str, ...], max_wait_s: float) -> CatchUp:
    """The backlog this worker must read before its timer may end phases (see streams/catch_up.py)."""
    if max_wait_s <= 0:
        return CatchUp.open()
    tps = [tp for tp in app.consumer.assignment() if tp.topic in topics]
    try:
        ends = await app.consumer.highwaters(*tps) if tps else {}
    except Exception as err:  # noqa: BLE001 - the gate is a refinement; never keep a worker from starting over it
        log.warning("end offsets unavailable (%s); phase ends are not held for the backlog", safe_reason(err))
        return CatchUp.open()
    return CatchUp.from_end_offsets({(tp.topic, tp.partition): int(end) for tp, end in ends.items()},
                                    time.time(), max_wait_s)


def _previous(texts, turn: ChatTurn, s: core.ProcessorSettings) -> str:
    """The text of the turn before a client turn, for a served rupture-marker detector (its context); '' when
    no detector is served, for counselor turns, and when the turn before is unknown."""
    if s.ruptures.markers is None or turn.speaker != "client" or turn.turn_id < 1:
        return ""
    entry = _text(texts, turn.session_id, turn.turn_id - 1)
    return str(entry[1]) if entry else ""


def _text(texts, session_id: str, turn_id: int) -> list[Any] | None:
    """The turn's text entry (``core.text_entry``), None once dropped."""
    return texts.get(f"{session_id}:{turn_id}") or None


def run_worker(cfg: ProcessorConfig, loglevel: str = "WARNING") -> int:
    """Run one worker until SIGINT/SIGTERM; returns the exit code (no sys.exit)."""
    import asyncio

    import faust

    from .broker import ensure_topics
    from .topics import all_topics

    ensure_topics(cfg.bootstrap, list(all_topics()) + [cfg.tick_topic()])
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(cfg)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False, override_logging=False)
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    counters = app.alliance_counters
    print(f"processor stopped: {counters.line()}", file=sys.stderr, flush=True)
    return code
