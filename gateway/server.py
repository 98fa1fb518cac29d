"""The gateway process: websockets server + Kafka feed around the hub (the sans-I/O core).

Thin shell by design: this module runs the parts and asks :class:`gateway.hub.Hub`
for every decision. Its own job is the lifecycle (start, stop, the Kafka feed,
housekeeping) and each board or panel socket from hello to close; the rest is
in one module each:

* gateway/fanout.py — one writer task per connection, coalesced socket writes,
  the slow-client close;
* gateway/http_pages.py — HTTP on the same port: ``/healthz``, ``/metrics``, the
  pages and their static files;
* gateway/survey_socket.py — the client survey page's socket (``/survey/ws``),
  which never joins the hub, so no rating reaches a board or panel connection;
* gateway/coding_socket.py — the coding page's socket (``/code/ws``): supervisors code
  sampled stored turns, audited; never joins the hub;
* gateway/audit_publisher.py — the audit trail (who viewed which session) to
  ``alliance.access``.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from streams.tls import server_context
from streams.topics import ACCESS, RATINGS

from . import http_pages
from .audit_publisher import AuditPublisher
from .auth import KeyRing, read_revoked
from .client_address import LOOPBACK, ClientAddress, forwarded_hops, parse_networks, resolve
from .client_messages import (
    CLOSE_GOING_AWAY,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    AckRequest,
    ArchiveRequest,
    parse_hello,
)
from .coding_socket import CODING_WS_PATH, CodingDesk, CodingSocket
from .connection import Connection
from .errors import ProtocolError
from .fanout import FanOut, spawn
from .history import ArchivedSession, History, MemoryHistory, StoredEvent
from .hub import Hub
from .metrics import DELIVERY_CLOCK, HUBS, PrometheusGatewaySensor, WriteCounts
from .policy import Policy
from .sensor import GatewaySensor
from .survey_socket import SURVEY_WS_PATH, SurveySocket
from .waiting_room import HelloWaitingRoom

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

    from validation.records import RecordBook

    from .feed import KafkaFeed
    from .survey_feed import SurveyFeed

log = logging.getLogger(__name__)

AUDIT_UNAVAILABLE = "audit trail unavailable: no session content until it is back; try again shortly"


@dataclass
class GatewayConfig:
    #: the token keys (gateway.auth.KeyRing), or one secret (a ring with the key id "default")
    secret: "bytes | KeyRing"
    host: str = "127.0.0.1"
    port: int = 8765
    bootstrap: str | None = None  # None: no Kafka feed (benchmarks inject events directly)
    #: extra allowed Origins (the gateway's own origin is always allowed; so are
    #: clients that send no Origin, i.e. non-browsers, which can forge it anyway).
    origins: tuple[str, ...] = ()
    max_message_bytes: int = 64 * 1024
    policy: Policy = field(default_factory=Policy)
    history_events: int = 50_000
    #: an unauthenticated socket is closed after this long without a valid hello
    hello_timeout_s: float = 3.0
    #: sockets that have not said hello yet, per remote address and in all; the excess is closed (1013)
    max_unauthenticated_per_address: int = 20
    max_unauthenticated: int = 500
    #: reverse proxies (CIDR) whose X-Forwarded-For / Forwarded headers name the client; the per-client
    #: caps and the observer check use that address (gateway/client_address.py). Empty: the TCP peer.
    trusted_proxies: tuple[str, ...] = ()
    #: clients (CIDR) that may read /metrics and the detailed /healthz; empty: loopback only.
    #: A forwarded request counts by the address it was forwarded for, never by the proxy's.
    observers: tuple[str, ...] = ()
    #: PEM certificate chain and private key: serve https:// and wss:// instead of http:// and ws://
    tls_cert: str | None = None
    tls_key: str | None = None
    #: producers (platform names in the record header ingest stamps) whose chat.sessions records
    #: may claim sessions; empty: every record (the demo). Either way only a session's owner
    #: changes it afterwards (streams/ownership.py)
    trusted_sources: tuple[str, ...] = ()
    ready_timeout_s: float = 60.0
    #: the Kafka feed counts as stalled (/healthz 503) when the broker has not answered for this long;
    #: the gateway asks it for metadata every third of this
    kafka_stale_s: float = 6.0
    heartbeat_s: float = 15.0
    #: reloads validation records (returns a RecordBook); None: keep the policy's book.
    record_loader: "Callable[[], RecordBook] | None" = None
    record_reload_s: float = 60.0
    #: topic the survey page publishes ratings to and learns used links from.
    ratings_topic: str = RATINGS.name
    #: key for survey links; None: ``gateway.survey.survey_key(secret)``.
    survey_key: bytes | None = None
    #: file of revoked token ids (one jti per line), re-read every ``revoked_reload_s``
    revoked_file: str | None = None
    revoked_reload_s: float = 10.0
    #: topic of the audit trail (who viewed which sessions)
    access_topic: str = ACCESS.name
    #: attempts to publish one audit record before it is counted as lost
    access_attempts: int = 3
    #: an audit record unpublished for longer than this is an audit outage: /healthz says so (503) and,
    #: unless ``serve_unaudited``, no session content is served until the trail is back
    audit_bound_s: float = 15.0
    #: serve content during an audit outage anyway (views then go unaudited until the trail is back)
    serve_unaudited: bool = False
    #: reads a session the gateway forgot from the store (the after-session page, days later);
    #: None: only what the gateway holds in memory. Called in a thread; may raise.
    archive_loader: "Callable[[str], ArchivedSession | None] | None" = None
    #: what the gateway tells its metrics (gateway/sensor.py); Prometheus unless a test records instead
    sensor: GatewaySensor = field(default_factory=PrometheusGatewaySensor)
    #: the store behind the coding page (``/code``; alliance_monitor/coding.py); None: the page says it has none
    coding: "CodingDesk | None" = None


class Gateway:
    """Run with ``async with Gateway(config) as gw:`` (or start()/stop())."""

    def __init__(self, config: GatewayConfig, history: History | None = None):
        self.config = config
        self.history = history if history is not None else MemoryHistory(max_events=config.history_events)
        #: this run's id: prefixes audit event ids, so replicas and restarts never collide
        self.replica = f"gw-{uuid.uuid4().hex[:12]}"
        self.hub = Hub(self.history, config.policy, replica=self.replica,
                       trusted_sources=frozenset(config.trusted_sources))
        self.hub.archive_enabled = config.archive_loader is not None
        #: socket writes and the frames they carried (plain ints; /metrics reads them)
        self.writes = WriteCounts()
        HUBS.watch(self.hub, self.writes)
        self.fanout = FanOut(self.hub, self.writes)
        self.audit = AuditPublisher(lambda: self.feed, self.replica, config.access_topic, config.access_attempts,
                                    keep_trying=not config.serve_unaudited)
        self.coding_socket = CodingSocket(self, config.coding)
        self.keys = config.secret if isinstance(config.secret, KeyRing) else KeyRing.single(config.secret)
        if config.revoked_file:
            self.keys = self.keys.with_revoked(self.keys.revoked | read_revoked(config.revoked_file))
        self.ready = asyncio.Event()
        #: an audit outage past ``audit_bound_s``: connections closed, new ones refused (fail closed)
        self.audit_blocked = False
        self.feed: KafkaFeed | None = None
        self._server: Server | None = None
        self._tasks: list[asyncio.Task] = []
        self.started_at = time.time()
        self._feed_task: asyncio.Task | None = None
        self.port = config.port
        self.trusted_proxies = parse_networks(config.trusted_proxies)  # ValueError: the CLI says which
        self.observers = parse_networks(config.observers) or LOOPBACK
        self.waiting = HelloWaitingRoom(config.max_unauthenticated_per_address, config.max_unauthenticated)
        #: survey sockets for their whole life (they never authenticate): the same caps, a room of their own
        self.survey_room = HelloWaitingRoom(config.max_unauthenticated_per_address, config.max_unauthenticated)
        from .survey import SurveyDesk, survey_key

        self.survey = SurveyDesk(config.survey_key or survey_key(self.keys))
        self.survey_feed: SurveyFeed | None = None
        self.survey_socket = SurveySocket(self.survey, lambda: self.survey_feed, self.waiting, config.hello_timeout_s,
                                          config.ready_timeout_s, self.survey_room)

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> "Gateway":
        if self.config.bootstrap:
            from .feed import KafkaFeed

            self.feed = KafkaFeed(self.config.bootstrap, sensor=self.config.sensor)
            mark = getattr(self.history, "mark_start", None)
            await self.feed.start(mark if mark else (lambda stream, offset: None))
            self._feed_task = asyncio.create_task(self.feed.run(self.apply, self._caught_up), name="gateway-feed")
            self._feed_task.add_done_callback(self._feed_ended)
            self._tasks.append(self._feed_task)
            self._tasks.append(asyncio.create_task(self._probe_kafka(), name="gateway-kafka-probe"))
            from .survey_feed import SurveyFeed

            self.survey_feed = SurveyFeed(self.config.bootstrap, self.survey, topic=self.config.ratings_topic)
            await self.survey_feed.start()
            self._tasks.append(asyncio.create_task(self.survey_feed.run(), name="gateway-survey-feed"))
        else:
            self.ready.set()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=self.config.max_message_bytes,
            compression=None,  # per-connection deflate would re-compress every fanned-out frame
            ping_interval=20,
            ping_timeout=20,
            close_timeout=10,
            max_queue=16,
            open_timeout=self.config.hello_timeout_s,  # a socket that never finishes the HTTP upgrade
            ssl=server_context(self.config.tls_cert, self.config.tls_key),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="gateway-housekeeping"))
        self._tasks.append(asyncio.create_task(self.audit.run(), name="gateway-audit"))
        log.info("gateway listening on %s:%s", self.config.host, self.port)
        return self

    async def stop(self) -> None:
        for conn in list(self.hub.connections.values()):
            conn.outbox.clear()
            conn.backlog.clear()
            conn.close(CLOSE_GOING_AWAY, "gateway shutting down; reconnect and resume")
            self.fanout.kick(conn)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 15)
        await self.audit.drain(10)  # views served so far reach the trail
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.feed is not None:
            await self.feed.stop()
        if self.survey_feed is not None:
            await self.survey_feed.stop()

    async def __aenter__(self) -> "Gateway":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def http_url(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "", "::") else self.config.host
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return "ws" + self.http_url[len("http"):] + "/ws"

    def _caught_up(self) -> None:
        # sessions re-read from weeks of history that ended or went quiet long ago go now,
        # before the first snapshot, not at the first heartbeat
        self.hub.prune(time.monotonic())
        self.ready.set()

    def _feed_ended(self, task: asyncio.Task) -> None:
        if not task.cancelled():  # cancelled = stop(); anything else means the board is now frozen
            err = task.exception()
            log.error("gateway Kafka feed stopped (%s); /healthz reports 503 until restarted",
                      type(err).__name__ if err else "returned")

    async def _probe_kafka(self) -> None:
        """Ask the broker for metadata every third of ``kafka_stale_s``: the feed's own reads cannot tell an
        outage from a quiet hour (aiokafka retries inside them)."""
        every = self.config.kafka_stale_s / 3
        stalled = False
        while self.feed is not None:
            await asyncio.sleep(every)
            await self.feed.probe(every)
            now_stalled = self.feed.silent_s() > self.config.kafka_stale_s
            if now_stalled != stalled:
                stalled = now_stalled
                if stalled:
                    log.error("Kafka has not answered for %.0f s; /healthz reports 503 until it does",
                              self.feed.silent_s())
                else:
                    log.warning("Kafka answers again; the feed is reading")

    def feed_state(self) -> str:
        """``running``, ``none`` (no Kafka configured), ``stalled: ...`` (the broker does not answer) or why
        the feed task ended."""
        task = self._feed_task
        if task is None:
            return "none"
        if not task.done():
            if self.feed is not None and self.feed.silent_s() > self.config.kafka_stale_s:
                return f"stalled: no answer from Kafka for {self.feed.silent_s():.0f} s"
            return "running"
        if task.cancelled():
            return "cancelled"
        err = task.exception()
        return f"died: {type(err).__name__}" if err else "returned"

    # -- events in ---------------------------------------------------------------------
    def apply(self, event: StoredEvent) -> None:
        """Take one feed event; its frames leave at the end of this loop turn (see :meth:`FanOut._flush`)."""
        for conn in self.hub.apply(event, time.monotonic(), time.time()):
            self.fanout.kick(conn)
        if self.hub.access.pending:  # first live content of a session on a connection (gateway/hub.py)
            self._queue_access()
        if event.kind in DELIVERY_CLOCK and self.ready.is_set():  # live only, not the start-up re-read
            _observe_delivery(event, self.config.sensor)

    async def _housekeeping(self) -> None:
        last_beat = last_records = last_revoked = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            if self.config.revoked_file and now - last_revoked >= self.config.revoked_reload_s:
                last_revoked = now
                await self.reload_revoked()
            if self.config.record_loader is not None and now - last_records >= self.config.record_reload_s:
                last_records = now
                book = await asyncio.to_thread(self.config.record_loader)
                self.hub.policy = dataclasses.replace(self.hub.policy, record_book=book)
            for conn in self.hub.expire_tokens(time.time()):
                self.fanout.kick(conn)
            self.check_audit(now)
            if now - last_beat >= self.config.heartbeat_s:
                last_beat = now
                for conn in self.hub.heartbeat():
                    self.fanout.kick(conn)
                self.hub.prune(now)

    def audit_overdue(self, now: float | None = None) -> bool:
        return self.audit.overdue_s(now) > self.config.audit_bound_s

    def check_audit(self, now: float | None = None) -> None:
        """Fail closed on an audit outage: past the bound, close every board and panel connection
        (they resume once the trail is back: nothing is lost) and refuse new ones."""
        overdue = self.audit_overdue(now) and not self.config.serve_unaudited
        if overdue and not self.audit_blocked:
            log.error("audit trail unavailable for more than %g s (%d records waiting); no session content is "
                      "served until it is back", self.config.audit_bound_s, self.audit.pending)
            for conn in list(self.hub.connections.values()):
                conn.outbox.clear()
                conn.backlog.clear()
                conn.close(CLOSE_TRY_AGAIN, AUDIT_UNAVAILABLE)
                self.fanout.kick(conn)
        elif not overdue and self.audit_blocked:
            log.warning("audit trail is back; serving session content again")
        self.audit_blocked = overdue

    async def reload_revoked(self) -> int:
        """Re-read the revocation file; close connections of newly revoked tokens. Returns how many."""
        revoked = await asyncio.to_thread(read_revoked, self.config.revoked_file)
        self.keys = self.keys.with_revoked(revoked)
        closed = self.hub.revoke(revoked)
        for conn in closed:
            self.fanout.kick(conn)
        return len(closed)

    # -- websocket connections -----------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        address = self.client(ws, ws.request.headers if ws.request is not None else None).address
        if ws.request is not None and ws.request.path.split("?", 1)[0] == SURVEY_WS_PATH:
            await self.survey_socket.serve(ws, address)
            return
        if ws.request is not None and ws.request.path.split("?", 1)[0] == CODING_WS_PATH:
            await self.coding_socket.serve(ws, address)
            return
        refused = self.waiting.enter(address)
        if refused:
            await ws.close(CLOSE_TRY_AGAIN, refused)
            return
        try:
            raw = await asyncio.wait_for(ws.recv(), self.config.hello_timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            await ws.close(CLOSE_UNAUTHORIZED, f"no hello with a token within {self.config.hello_timeout_s:g} s")
            return
        except ConnectionClosed:
            return
        finally:
            self.waiting.leave(address)
        try:
            hello = parse_hello(raw, self.keys, time.time())
        except ProtocolError as err:
            await ws.close(err.code, err.reason)
            return
        if not self.ready.is_set():
            try:
                await asyncio.wait_for(self.ready.wait(), self.config.ready_timeout_s)
            except (asyncio.TimeoutError, TimeoutError):
                await ws.close(CLOSE_TRY_AGAIN, "gateway is still catching up; try again shortly")
                return
        self.check_audit()
        if self.audit_blocked:
            await ws.close(CLOSE_TRY_AGAIN, AUDIT_UNAVAILABLE)
            return
        conn = self.hub.open(hello, time.time())
        self._queue_access()
        self.fanout.attach(ws, conn)
        if conn.closing:
            self.fanout.kick(conn)
        try:
            async for message in ws:
                requests = self.hub.handle(conn, message, time.monotonic())
                self._queue_access()
                for req in requests:
                    if isinstance(req, ArchiveRequest):
                        spawn(self._answer_from_archive(conn, req))
                    else:
                        spawn(self._publish_ack(conn, req))
                self.fanout.kick(conn)
        except ConnectionClosed:
            pass
        finally:
            self.hub.close(conn)
            self.fanout.detach(conn)

    async def _answer_from_archive(self, conn: Connection, req: ArchiveRequest) -> None:
        """A ``timeline`` of a session this gateway forgot: read the store in a thread, let the hub answer."""
        loader = self.config.archive_loader
        try:
            archived = await asyncio.to_thread(loader, req.session_id) if loader else None
        except Exception as err:  # noqa: BLE001 - the store is down: say so, never show what the scope was not checked for
            self.config.sensor.on_archive_read("failed")
            log.warning("timeline from the store failed: %s", type(err).__name__)
            conn.push(orjson.dumps({"type": "error", "code": "archive_unavailable", "session_id": req.session_id,
                                    "message": "this session's history cannot be read right now; try again"}).decode(),
                      self.hub.policy.max_queue)
            self.fanout.kick(conn)
            return
        self.config.sensor.on_archive_read("found" if archived is not None else "unknown")
        self.hub.archived_timeline(conn, req.session_id, archived)
        self._queue_access()
        self.fanout.kick(conn)

    async def _publish_ack(self, conn: Connection, ack: AckRequest) -> None:
        if self.feed is None:
            return
        try:
            await self.feed.publish_ack(ack)
            self.config.sensor.on_ack("published")
        except Exception as err:  # noqa: BLE001 - the broker is down: tell the user, do not pretend
            self.config.sensor.on_ack("failed")
            log.warning("ack for alert %s not published: %s", ack.alert_id, type(err).__name__)
            conn.push(orjson.dumps({"type": "error", "code": "ack_failed", "alert_id": ack.alert_id,
                                    "message": "acknowledgement not saved; try again"}).decode(),
                      self.hub.policy.max_queue)
            self.fanout.kick(conn)

    def _queue_access(self) -> None:
        """Hand the hub's new view records to the audit trail (gateway/audit_publisher.py)."""
        self.audit.take(self.hub.access.take())

    def client(self, connection: ServerConnection, headers: Headers | None) -> ClientAddress:
        """Who this request is charged to: the peer, or whom a trusted proxy forwards for."""
        hops = [] if headers is None else forwarded_hops(headers.get_all("Forwarded"),
                                                          headers.get_all("X-Forwarded-For"),
                                                          headers.get_all("X-Real-IP"))
        return resolve(_remote_host(connection), hops, self.trusted_proxies)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return http_pages.answer(self, connection, request)


def _remote_host(ws: ServerConnection) -> str:
    try:
        return str(ws.remote_address[0])
    except (TypeError, IndexError, AttributeError):
        return "?"


def _observe_delivery(event: StoredEvent, sensor: GatewaySensor) -> None:
    """Seconds from the event's own timestamp to now (one per event, never per connection)."""
    from datetime import datetime

    stamp = event.data.get(DELIVERY_CLOCK[event.kind])
    if not isinstance(stamp, str):
        return
    try:
        made = datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return
    sensor.on_delivered(event.kind, time.time() - made)


async def run_gateway(config: GatewayConfig, stop: asyncio.Event,
                      on_ready: Callable[[], None] | None = None) -> None:
    """Serve until ``stop`` is set (the CLI sets it on SIGINT/SIGTERM); ``on_ready`` once caught up."""
    async with Gateway(config) as gw:
        print(f"gateway ready: board {gw.http_url}/board, counselor panel {gw.http_url}/counselor, "
              f"health {gw.http_url}/healthz", flush=True)
        if on_ready is not None:
            waiter = asyncio.ensure_future(gw.ready.wait())
            waiter.add_done_callback(lambda t: None if t.cancelled() else on_ready())
        await stop.wait()
