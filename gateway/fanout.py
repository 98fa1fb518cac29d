"""The write side of the fan-out: one writer task per connection, coalesced socket writes.

The hub (gateway/hub.py) queues frames in each connection's outbox; this module
gets them onto the sockets. A browser whose socket is full only stalls its own
writer; the fan-out itself never awaits. Frames queued in one run of the event
loop (a Kafka fetch batch) leave in one socket write per connection (see
:meth:`FanOut._flush`). When the hub marks a connection as too slow, its writer
is stopped and the socket closed with the code and reason the hub chose.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Coroutine

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from .client_messages import CLOSE_GOING_AWAY
from .connection import Connection

if TYPE_CHECKING:
    from .hub import Hub
    from .metrics import WriteCounts

log = logging.getLogger(__name__)

#: backlog frames a writer sends in one write before yielding to the event loop.
RESUME_PAGE = 10
#: bytes a socket's write buffer may hold for live frames to be written at once from
#: :meth:`FanOut._flush`; above it the frames wait in the outbox for the writer task.
DIRECT_WRITE_LIMIT = 16 * 1024
#: most bytes of frames one coalesced socket write carries (always at least one frame):
#: bounds what a slow client holds in its socket buffer beyond websockets' own high-water mark.
WRITE_BATCH_BYTES = 64 * 1024

#: fire-and-forget tasks of the gateway (a close here; an archive read, an ack in gateway/server.py), held until
#: done: the event loop keeps only a weak reference to a task, so one nobody holds may be garbage-collected
#: before it finishes
_BACKGROUND: set[asyncio.Task[None]] = set()


def spawn(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` as a task nobody awaits, held (in :data:`_BACKGROUND`) until it is done."""
    task = asyncio.create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


class FanOut:
    """Per-connection writer tasks and the coalescing flush, for every connection of one gateway."""

    def __init__(self, hub: "Hub", writes: "WriteCounts"):
        self.hub = hub
        #: socket writes and the frames they carried (plain ints; /metrics reads them)
        self.writes = writes
        #: connection id -> (socket, writer task or None once closing, the writer's wake event)
        self.links: dict[int, tuple[ServerConnection, asyncio.Task | None, asyncio.Event]] = {}
        #: connections whose writer task is parked on its wake event with nothing in flight
        self.idle: set[int] = set()
        #: connections with frames queued since the last flush, in order, each once (a dict)
        self._pending: dict[int, Connection] = {}
        self._flush_handle: asyncio.Handle | None = None

    def attach(self, ws: ServerConnection, conn: Connection) -> None:
        """Start the connection's writer task: it sends the backlog (welcome, snapshot), then the outbox."""
        wake = asyncio.Event()
        writer = asyncio.create_task(self._writer(ws, conn, wake))
        self.links[conn.id] = (ws, writer, wake)

    def detach(self, conn: Connection) -> None:
        """The connection is gone: stop its writer."""
        link = self.links.pop(conn.id, None)
        if link and link[1] is not None:
            link[1].cancel()

    def kick(self, conn: Connection) -> None:
        """A connection got frames: close it now if the core says so, else mark it for the flush."""
        link = self.links.get(conn.id)
        if link is None:
            return
        ws, writer, wake = link
        if conn.closing:
            if writer is not None and not writer.done():
                writer.cancel()
            self.links[conn.id] = (ws, None, wake)
            spawn(self._close(ws, conn))
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
            link = self.links.get(conn.id)
            if link is None or conn.closing:
                continue  # gone, or closed by kick (its outbox was cleared by the core)
            ws, _, wake = link
            try:
                written = conn.id in self.idle and self._write_now(ws, conn)
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
                self.idle.add(conn.id)
                try:
                    await wake.wait()
                finally:
                    self.idle.discard(conn.id)
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
