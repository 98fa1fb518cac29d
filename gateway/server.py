"""The gateway process: websockets server + Kafka feed around the protocol core.

Thin shell by design: this module moves bytes (sockets, HTTP, Kafka) and asks
:class:`gateway.protocol.Hub` for every decision. One writer task per connection
drains that connection's outbox, so a browser whose socket is full only stalls
its own writer; the fan-out itself never awaits. Frames queued in one run of the
event loop (a Kafka fetch batch) leave in one socket write per connection (see
:meth:`Gateway._flush`). When the core marks a connection as too slow, the shell
stops its writer and closes it with the code and reason the core chose.

HTTP (same port, via websockets' ``process_request``): ``/healthz``, ``/metrics``
(Prometheus; local callers only, like the detailed health: the counts say how
busy the organisation is — scrape the ``--health-port`` instead), the pages
``/``, ``/board``, ``/counselor``, ``/session``, ``/survey`` and their static files under
``/static/``. The client survey page talks to ``/survey/ws`` (gateway/survey.py
decides, gateway/survey_feed.py reads and writes ``chat.ratings``); it never
joins the hub, so no rating reaches a board or panel connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http
import logging
import mimetypes
import time
import uuid
from collections import deque
from collections.abc import Sized
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from streams.tls import server_context
from streams.topics import ACCESS, RATINGS

from .access import AccessRecord, access_event
from .auth import KeyRing, read_revoked
from .history import ArchivedSession, History, MemoryHistory, StoredEvent
from .metrics import ACKS, ARCHIVE_READS, DELIVERY_CLOCK, DELIVERY_SECONDS, HUBS, WriteCounts
from .protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_UNAUTHORIZED,
    AckRequest,
    ArchiveRequest,
    Connection,
    Hub,
    Policy,
    ProtocolError,
    parse_hello,
)

if TYPE_CHECKING:
    from websockets.asyncio.server import Server

    from streams.contracts import AccessEvent
    from validation.gate import RecordBook

    from .feed import KafkaFeed
    from .survey_feed import SurveyFeed

log = logging.getLogger(__name__)

PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGE_ROUTES = {"/": "index.html", "/board": "board.html", "/counselor": "counselor.html", "/survey": "survey.html",
               "/session": "session.html"}
SURVEY_WS_PATH = "/survey/ws"
#: close code for a socket refused because too many others wait to authenticate (RFC 6455 "try again later")
CLOSE_TRY_AGAIN = 1013
#: messages one survey connection may send (open, submit, a few retries).
SURVEY_MAX_MESSAGES = 20
#: backlog frames a writer sends in one write before yielding to the event loop.
RESUME_PAGE = 10
#: bytes a socket's write buffer may hold for live frames to be written at once from
#: :meth:`Gateway._flush`; above it the frames wait in the outbox for the writer task.
DIRECT_WRITE_LIMIT = 16 * 1024
#: most bytes of frames one coalesced socket write carries (always at least one frame):
#: bounds what a slow client holds in its socket buffer beyond websockets' own high-water mark.
WRITE_BATCH_BYTES = 64 * 1024
CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


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
    #: PEM certificate chain and private key: serve https:// and wss:// instead of http:// and ws://
    tls_cert: str | None = None
    tls_key: str | None = None
    #: producers (platform names in the record header ingest stamps) whose chat.sessions records
    #: may assign sessions; empty: every record (the demo). gateway/trust.py
    trusted_sources: tuple[str, ...] = ()
    ready_timeout_s: float = 60.0
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
    #: reads a session the gateway forgot from the store (the after-session page, days later);
    #: None: only what the gateway holds in memory. Called in a thread; may raise.
    archive_loader: "Callable[[str], ArchivedSession | None] | None" = None


class Gateway:
    """Run with ``async with Gateway(config) as gw:`` (or start()/stop())."""

    def __init__(self, config: GatewayConfig, history: History | None = None):
        self.config = config
        self.history = history if history is not None else MemoryHistory(max_events=config.history_events)
        #: this run's id: prefixes audit event ids, so replicas and restarts never collide
        self.replica = f"gw-{uuid.uuid4().hex[:12]}"
        self.hub = Hub(self.history, config.policy, replica=self.replica)
        self.hub.archive_enabled = config.archive_loader is not None
        #: socket writes and the frames they carried (plain ints; /metrics reads them)
        self.writes = WriteCounts()
        HUBS.watch(self.hub, self.writes)
        self._access_queue: asyncio.Queue[tuple[AccessRecord, datetime]] = asyncio.Queue()
        self.access_stats = {"published": 0, "lost": 0, "unaudited": 0}
        self.keys = config.secret if isinstance(config.secret, KeyRing) else KeyRing.single(config.secret)
        if config.revoked_file:
            self.keys = self.keys.with_revoked(self.keys.revoked | read_revoked(config.revoked_file))
        self.ready = asyncio.Event()
        self.feed: KafkaFeed | None = None
        self._server: Server | None = None
        self._tasks: list[asyncio.Task] = []
        self._links: dict[int, tuple[ServerConnection, asyncio.Task | None, asyncio.Event]] = {}
        #: connections whose writer task is parked on its wake event with nothing in flight
        self._idle: set[int] = set()
        #: connections with frames queued since the last flush, in order, each once (a dict)
        self._pending: dict[int, Connection] = {}
        self._flush_handle: asyncio.Handle | None = None
        self._started = time.time()
        self._feed_task: asyncio.Task | None = None
        self.port = config.port
        self.waiting = HelloWaitingRoom(config.max_unauthenticated_per_address, config.max_unauthenticated)
        from .survey import SurveyDesk, survey_key

        self.survey = SurveyDesk(config.survey_key or survey_key(self.keys))
        self.survey_feed: SurveyFeed | None = None

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> "Gateway":
        if self.config.bootstrap:
            from .feed import KafkaFeed

            self.feed = KafkaFeed(self.config.bootstrap, trusted_sources=frozenset(self.config.trusted_sources))
            mark = getattr(self.history, "mark_start", None)
            await self.feed.start(mark if mark else (lambda stream, offset: None))
            self._feed_task = asyncio.create_task(self.feed.run(self.apply, self._caught_up), name="gateway-feed")
            self._feed_task.add_done_callback(self._feed_ended)
            self._tasks.append(self._feed_task)
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
        self._tasks.append(asyncio.create_task(self._access_writer(), name="gateway-audit"))
        log.info("gateway listening on %s:%s", self.config.host, self.port)
        return self

    async def stop(self) -> None:
        for conn in list(self.hub.connections.values()):
            conn.outbox.clear()
            conn.backlog.clear()
            conn.close(CLOSE_GOING_AWAY, "gateway shutting down; reconnect and resume")
            self._kick(conn)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 15)
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):  # views served so far reach the trail
            await asyncio.wait_for(self._access_queue.join(), 10)
        if not self._access_queue.empty():
            self.access_stats["lost"] += self._access_queue.qsize()
            log.error("%d audit records not published at shutdown; %d lost since start",
                      self._access_queue.qsize(), self.access_stats["lost"])
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

    def feed_state(self) -> str:
        """``running``, ``none`` (no Kafka configured) or why the feed task ended."""
        task = self._feed_task
        if task is None:
            return "none"
        if not task.done():
            return "running"
        if task.cancelled():
            return "cancelled"
        err = task.exception()
        return f"died: {type(err).__name__}" if err else "returned"

    # -- events in ---------------------------------------------------------------------
    def apply(self, event: StoredEvent) -> None:
        """Take one feed event; its frames leave at the end of this loop turn (see :meth:`_flush`)."""
        for conn in self.hub.apply(event, time.monotonic(), time.time()):
            self._kick(conn)
        if event.kind in DELIVERY_CLOCK and self.ready.is_set():  # live only, not the start-up re-read
            _observe_delivery(event)

    def _kick(self, conn: Connection) -> None:
        """A connection got frames: close it now if the core says so, else mark it for the flush."""
        link = self._links.get(conn.id)
        if link is None:
            return
        ws, writer, wake = link
        if conn.closing:
            if writer is not None and not writer.done():
                writer.cancel()
            self._links[conn.id] = (ws, None, wake)
            _spawn(self._close(ws, conn))
            return
        self._pending[conn.id] = conn
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Send what the connections marked since the last flush have queued.

        Runs once per event-loop turn (``call_soon``), after everything applied in the same
        synchronous run — a Kafka fetch batch — so a burst of N events costs each connection
        one socket write (one ``send()`` syscall) instead of N. A loop callback, not a task:
        it runs at the next turn even when the code that applied the events never awaits.
        """
        self._flush_handle = None
        pending, self._pending = self._pending, {}
        for conn in pending.values():
            link = self._links.get(conn.id)
            if link is None or conn.closing:
                continue  # gone, or closed by _kick (its outbox was cleared by the core)
            ws, _, wake = link
            try:
                written = conn.id in self._idle and self._write_now(ws, conn)
            except Exception as err:  # noqa: BLE001 - a broken socket must not stall the others' frames
                log.debug("direct write to connection %s failed: %s", conn.id, type(err).__name__)
                written = False
            if not written:
                wake.set()  # the writer sends the rest, or meets the closed connection

    def _write_now(self, ws: ServerConnection, conn: Connection) -> bool:
        """The fan-out's fast path: write live frames into an idle socket's buffer right away.

        Waking one writer task per connection costs a task switch each (5,000 per event at
        5,000 clients); this writes synchronously like ``websockets.broadcast``. Only when the
        writer is parked (nothing in flight, so order holds), the backlog is empty and the
        socket's write buffer is nearly empty; otherwise (a slow or busy client) the frames
        wait in the outbox for the writer, which waits for the socket to drain — so
        back-pressure and the slow-client cut (``--max-queue``) work as before. True if the
        outbox was emptied.
        """
        transport = ws.transport
        if conn.backlog or transport is None:
            return False
        while conn.outbox:
            if transport.is_closing() or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT:
                return False
            if not self._write_batch(ws, conn.outbox):
                return False
        return True

    def _write_batch(self, ws: ServerConnection, frames: deque[str]) -> int:
        """Take frames from the front of ``frames`` (up to WRITE_BATCH_BYTES) and write them in ONE
        transport write; return how many (0: the connection cannot take frames now, none taken).

        Each frame is encoded by the connection's own websockets protocol (as ``broadcast``
        does for one), so framing and state stay websockets' business; only the write is ours.
        """
        protocol = ws.protocol
        if protocol.state is not State.OPEN or ws.send_in_progress is not None:
            return 0  # closing, or a fragmented send (never ours): the writer's send() decides
        taken = size = 0
        while frames and size < WRITE_BATCH_BYTES:
            data = frames.popleft().encode()
            protocol.send_text(data)
            size += len(data)
            taken += 1
        _write_chunks(ws, protocol.data_to_send())
        self.writes.count(taken)
        return taken

    async def _close(self, ws: ServerConnection, conn: Connection) -> None:
        # flush what the core still wants sent before closing (e.g. a final notice)
        with contextlib.suppress(ConnectionClosed, Exception):
            await ws.close(conn.close_code or CLOSE_GOING_AWAY, conn.close_reason)

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
                self._kick(conn)
            if now - last_beat >= self.config.heartbeat_s:
                last_beat = now
                for conn in self.hub.heartbeat():
                    self._kick(conn)
                self.hub.prune(now)

    async def reload_revoked(self) -> int:
        """Re-read the revocation file; close connections of newly revoked tokens. Returns how many."""
        revoked = await asyncio.to_thread(read_revoked, self.config.revoked_file)
        self.keys = self.keys.with_revoked(revoked)
        closed = self.hub.revoke(revoked)
        for conn in closed:
            self._kick(conn)
        return len(closed)

    # -- websocket connections -----------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path.split("?", 1)[0] == SURVEY_WS_PATH:
            await self._survey(ws)
            return
        address = _remote_host(ws)
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
        conn = self.hub.open(hello, time.time())
        self._queue_access()
        wake = asyncio.Event()
        writer = asyncio.create_task(self._writer(ws, conn, wake))
        self._links[conn.id] = (ws, writer, wake)
        if conn.closing:
            self._kick(conn)
        try:
            async for message in ws:
                requests = self.hub.handle(conn, message, time.monotonic())
                self._queue_access()
                for req in requests:
                    if isinstance(req, ArchiveRequest):
                        _spawn(self._answer_from_archive(conn, req))
                    else:
                        _spawn(self._publish_ack(conn, req))
                self._kick(conn)
        except ConnectionClosed:
            pass
        finally:
            self.hub.close(conn)
            link = self._links.pop(conn.id, None)
            if link and link[1] is not None:
                link[1].cancel()

    async def _writer(self, ws: ServerConnection, conn: Connection, wake: asyncio.Event) -> None:
        """Send the backlog, then the outbox, then park until woken (see :meth:`_flush`)."""
        try:
            while True:
                await self._send_backlog(ws, conn)
                while conn.outbox and not conn.closing:
                    await self._send_batch(ws, conn.outbox)
                if conn.closing:
                    return
                wake.clear()
                self._idle.add(conn.id)
                try:
                    await wake.wait()
                finally:
                    self._idle.discard(conn.id)
        except ConnectionClosed:
            return

    async def _send_backlog(self, ws: ServerConnection, conn: Connection) -> None:
        """Welcome, snapshot, missed events: a page of RESUME_PAGE at a time, each page one write."""
        while conn.backlog and not conn.closing:
            page: deque[str] = deque()
            for _ in range(min(RESUME_PAGE, len(conn.backlog))):
                frame = self.hub.render(conn, conn.backlog.popleft())  # a missed event is encoded only now
                if frame:
                    page.append(frame)
            while page:
                await self._send_batch(ws, page)
            await asyncio.sleep(0)  # a write into a free buffer does not yield; let others run

    async def _send_batch(self, ws: ServerConnection, frames: deque[str]) -> None:
        """Write what is queued in one go, then wait for the socket to drain, as ``send()`` does.

        ``send_context`` is websockets' own wrapper around every ``send()``: it checks the
        connection is open, waits while the transport is paused (back-pressure: a full socket
        stalls this writer, and the outbox fills up to the slow-client cut) and raises
        ConnectionClosed when the connection goes. Frames are taken off the queue only inside
        it, so none is lost or sent twice.
        """
        if ws.send_in_progress is not None:  # a fragmented send (never ours): wait for it like send()
            await ws.send(frames.popleft())
            return
        async with ws.send_context():
            self._write_batch(ws, frames)

    async def _answer_from_archive(self, conn: Connection, req: ArchiveRequest) -> None:
        """A ``timeline`` of a session this gateway forgot: read the store in a thread, let the hub answer."""
        loader = self.config.archive_loader
        try:
            archived = await asyncio.to_thread(loader, req.session_id) if loader else None
        except Exception as err:  # noqa: BLE001 - the store is down: say so, never show what the scope was not checked for
            ARCHIVE_READS.labels("failed").inc()
            log.warning("timeline from the store failed: %s", type(err).__name__)
            conn.push(orjson.dumps({"type": "error", "code": "archive_unavailable", "session_id": req.session_id,
                                    "message": "this session's history cannot be read right now; try again"}).decode(),
                      self.hub.policy.max_queue)
            self._kick(conn)
            return
        ARCHIVE_READS.labels("found" if archived is not None else "unknown").inc()
        self.hub.archived_timeline(conn, req.session_id, archived)
        self._queue_access()
        self._kick(conn)

    async def _publish_ack(self, conn: Connection, ack: AckRequest) -> None:
        if self.feed is None:
            return
        try:
            await self.feed.publish_ack(ack)
            ACKS.labels("published").inc()
        except Exception as err:  # noqa: BLE001 - the broker is down: tell the user, do not pretend
            ACKS.labels("failed").inc()
            log.warning("ack for alert %s not published: %s", ack.alert_id, type(err).__name__)
            conn.push(orjson.dumps({"type": "error", "code": "ack_failed", "alert_id": ack.alert_id,
                                    "message": "acknowledgement not saved; try again"}).decode(),
                      self.hub.policy.max_queue)
            self._kick(conn)

    # -- the audit trail -----------------------------------------------------------------
    def _queue_access(self) -> None:
        """Stamp the hub's new view records with the wall clock and hand them to the audit writer."""
        records = self.hub.access.take()
        if not records:
            return
        if self.feed is None:  # no Kafka (benchmarks): nowhere to record, so count what went unaudited
            self.access_stats["unaudited"] += len(records)
            return
        at = datetime.now(timezone.utc)
        for record in records:
            self._access_queue.put_nowait((record, at))

    async def _access_writer(self) -> None:
        """Publish audit records in order; a record the broker refuses is retried, then counted and logged."""
        while True:
            record, at = await self._access_queue.get()
            try:
                await self._publish_access(access_event(record, at, self.replica))
            finally:
                self._access_queue.task_done()

    async def _publish_access(self, event: "AccessEvent") -> None:
        """Send one record with acks=all, a few attempts; then count it as lost and say so."""
        for attempt in range(1, self.config.access_attempts + 1):
            try:
                await self.feed.publish_access(event, self.config.access_topic)  # type: ignore[union-attr]  # queued only with a feed
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - the broker is down: count the loss, never hide it
                if attempt < self.config.access_attempts:
                    await asyncio.sleep(0.5 * attempt)
                    continue
                self.access_stats["lost"] += 1
                log.error("audit record %s (%s) not published after %d attempts (%s); %d audit records lost "
                          "since start", event.event_id, event.action, attempt, type(err).__name__,
                          self.access_stats["lost"])
            else:
                self.access_stats["published"] += 1
                return

    # -- the client survey ------------------------------------------------------------------
    async def _survey(self, ws: ServerConnection) -> None:
        """Serve one survey page: ``open`` → form or refusal; ``submit`` → thanks or refusal.

        Never logs a token or an answer; a client's answers go to ``chat.ratings`` only.
        """
        from .survey import refusal

        address = _remote_host(ws)
        refused = self.waiting.enter(address)
        if refused:
            await ws.close(CLOSE_TRY_AGAIN, refused)
            return
        waiting = True
        try:
            for _ in range(SURVEY_MAX_MESSAGES):
                # the page sends "open" as soon as the socket is up; later answers may take a while
                raw = await asyncio.wait_for(ws.recv(), self.config.hello_timeout_s if waiting else 15 * 60)
                if waiting:
                    waiting = False
                    self.waiting.leave(address)
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    msg = None
                if not isinstance(msg, dict) or msg.get("type") not in ("open", "submit"):
                    await ws.send(orjson.dumps({"type": "error", "code": "protocol",
                                                "message": "expected {type: open|submit, token}"}).decode())
                    continue
                feed = self.survey_feed
                if feed is None:
                    reply = refusal("unavailable", "the survey service is not connected; try again later")
                else:
                    try:
                        await asyncio.wait_for(feed.ready.wait(), self.config.ready_timeout_s)
                    except (asyncio.TimeoutError, TimeoutError):
                        reply = refusal("unavailable", "the survey service is starting; try again shortly")
                    else:
                        reply = await self._survey_reply(msg)
                await ws.send(orjson.dumps(reply).decode())
        except (ConnectionClosed, asyncio.TimeoutError, TimeoutError):
            return
        finally:
            if waiting:
                self.waiting.leave(address)

    async def _survey_reply(self, msg: dict) -> dict:
        now = time.time()
        if msg["type"] == "open":
            return self.survey.open(msg.get("token"), now)
        reply, rating = self.survey.submit(msg.get("token"), msg.get("answers"), now)
        if rating is None:
            return reply
        try:
            await self.survey_feed.publish(rating)  # type: ignore[union-attr]  # called only with a survey feed
        except Exception as err:  # noqa: BLE001 - the broker is down: say so, let the client retry
            self.survey.release(rating.link_id or "")
            log.warning("survey rating not published: %s", type(err).__name__)
            return {"type": "error", "code": "not_saved", "message": "your answers could not be saved; try again"}
        self.survey.mark_used(rating.link_id or "")
        return reply

    # -- HTTP ----------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if request.headers.get("Upgrade", "").lower() == "websocket":
            origin = request.headers.get("Origin")
            if origin is not None and not self._origin_ok(origin, request.headers.get("Host", "")):
                return _response(http.HTTPStatus.FORBIDDEN, b"origin not allowed\n", "text/plain")
            return None
        if path == "/healthz":
            return self._health(_is_loopback(connection))
        if path == "/metrics":
            if not _is_loopback(connection):
                return _response(http.HTTPStatus.FORBIDDEN, b"metrics are served to local callers only\n",
                                 "text/plain")
            from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

            return _response(http.HTTPStatus.OK, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        name = PAGE_ROUTES.get(path)
        if name is None and path.startswith("/static/"):
            name = path[len("/static/"):]
        return self._static(name)

    def _origin_ok(self, origin: str, host: str) -> bool:
        if origin in self.config.origins:
            return True
        return origin in (f"http://{host}", f"https://{host}")

    def _health(self, detailed: bool = True) -> Response:
        """Status for probes. Counts (connections, sessions, events) only for local callers:
        unauthenticated, they would tell anyone how busy the whole organisation is."""
        ready = self.ready.is_set()
        feed = self.feed_state()
        feed_ok = feed in ("running", "none")
        status = http.HTTPStatus.OK if ready and feed_ok else http.HTTPStatus.SERVICE_UNAVAILABLE
        if not detailed:
            brief = {"status": ("ok" if ready else "starting") if feed_ok else "feed stopped", "ready": ready}
            return _response(status, orjson.dumps(brief), "application/json")
        body = {
            "status": ("ok" if ready else "starting") if feed_ok else "feed stopped",
            "ready": ready,
            "feed": feed,
            "connections": len(self.hub.connections),
            "sessions": len(self.hub.sessions),
            "history_events": len(self.history) if isinstance(self.history, Sized) else None,
            "kafka": self.config.bootstrap is not None,
            "rejected_records": self.feed.rejected if self.feed else 0,
            "untrusted_session_records": self.feed.untrusted if self.feed else 0,
            "survey": dict(self.survey.stats, used_links=len(self.survey.used)),
            "audit": dict(self.access_stats, pending=self._access_queue.qsize()),
            "socket_writes": dict(self.writes.stats),
            "uptime_s": round(time.time() - self._started, 1),
            "unauthenticated": sum(self.waiting.by_address.values()),
            "refused_unauthenticated": self.waiting.refused,
            **self.hub.stats,
        }
        return _response(status, orjson.dumps(body), "application/json")

    def _static(self, name: str | None) -> Response:
        allowed = {p.name for p in PAGES_DIR.iterdir() if p.is_file()} if PAGES_DIR.is_dir() else set()
        if not name or name not in allowed:  # a fixed list: no path traversal possible
            return _response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        return _response(http.HTTPStatus.OK, (PAGES_DIR / name).read_bytes(), ctype)


class HelloWaitingRoom:
    """Counts sockets that have not authenticated yet, so idle ones cannot pile up.

    Why: until its hello arrives a socket costs memory and a file descriptor and
    proves nothing; a cap per remote address stops one host from holding many,
    the global cap bounds the total. ``enter`` says why a socket is refused, or "".
    """

    def __init__(self, per_address: int, total: int):
        self.per_address = per_address
        self.total = total
        self.by_address: dict[str, int] = {}
        self.refused = 0

    def enter(self, address: str) -> str:
        if sum(self.by_address.values()) >= self.total:
            self.refused += 1
            return "too many connections waiting to authenticate; try again shortly"
        if self.by_address.get(address, 0) >= self.per_address:
            self.refused += 1
            return "too many unauthenticated connections from your address; try again shortly"
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return ""

    def leave(self, address: str) -> None:
        left = self.by_address.get(address, 0) - 1
        if left > 0:
            self.by_address[address] = left
        else:
            self.by_address.pop(address, None)


#: fire-and-forget tasks (a close, an archive read, an ack), held until done: the event loop keeps only a weak
#: reference to a task, so one nobody holds may be garbage-collected before it finishes
_BACKGROUND: set[asyncio.Task[None]] = set()


def _spawn(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _write_chunks(ws: ServerConnection, chunks: list[bytes]) -> None:
    """Write encoded frames to the socket with one ``transport.write``.

    The end-of-stream marker (``b""``) cannot follow frames sent on an open connection; should
    it ever, the chunks are written the way websockets' ``send_data`` writes them (half-close).
    """
    transport = ws.transport
    if all(chunks):
        transport.write(b"".join(chunks))
        return
    for chunk in chunks:
        if chunk:
            transport.write(chunk)
        elif transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()


def _remote_host(ws: ServerConnection) -> str:
    try:
        return str(ws.remote_address[0])
    except (TypeError, IndexError, AttributeError):
        return "?"


def _observe_delivery(event: StoredEvent) -> None:
    """Seconds from the event's own timestamp to now (one per event, never per connection)."""
    from datetime import datetime

    stamp = event.data.get(DELIVERY_CLOCK[event.kind])
    if not isinstance(stamp, str):
        return
    try:
        made = datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return
    DELIVERY_SECONDS.labels(event.kind).observe(max(0.0, time.time() - made))


def _is_loopback(connection: ServerConnection) -> bool:
    import ipaddress

    try:
        host = connection.remote_address[0]
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except (TypeError, ValueError, IndexError, AttributeError):
        return False


def _response(status: http.HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers([
        ("Date", formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", ctype),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", CSP),
    ])
    return Response(status.value, status.phrase, headers, body)


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
