"""One authenticated client as the hub sees it: an outbox, a backlog, a cursor, a token bucket.

Pure: the hub queues frames, the shell drains them; nothing here touches a socket.
"""

from __future__ import annotations

__layer__ = "core"

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .auth import Viewer
from .client_messages import CLOSE_TOO_SLOW
from .history import Cursor, StoredEvent


@dataclass
class Connection:
    """One authenticated client, as the core sees it: an outbox and a cursor.

    ``outbox`` holds encoded frames the shell still has to send. The core never
    lets it grow past ``Policy.max_queue``: at that point the connection is
    marked for closing with CLOSE_TOO_SLOW and its outbox is cleared, so a slow
    browser costs the others nothing and loses nothing (its cursor lets it resume).
    """

    id: int
    viewer: Viewer
    cursor: Cursor = field(default_factory=dict)
    focus: set[str] | None = None
    outbox: deque[str] = field(default_factory=deque)
    #: frames queued at connect time (welcome, snapshot, missed events); sent before
    #: ``outbox``. Missed events are kept as :class:`StoredEvent` references (shared
    #: with the history) and encoded one at a time by :meth:`Hub.render` as the
    #: writer sends them, so a resume costs no memory or time up front; their number
    #: is bounded by ``Policy.max_resume``.
    backlog: deque[str | StoredEvent] = field(default_factory=deque)
    close_code: int | None = None
    close_reason: str = ""
    sent_events: int = 0
    #: sessions whose content this connection's audit records already name (snapshot, resume, live)
    audited: set[str] = field(default_factory=set)
    wake: Callable[[], None] | None = None  # set by the shell
    #: token bucket for client messages: tokens left, when it was last refilled, refusals so far
    tokens: float | None = None
    refilled_at: float = 0.0
    refused: int = 0

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def push(self, frame: str, max_queue: int) -> bool:
        """Queue a frame; returns False (and marks the connection) on overflow."""
        if self.closing:
            return False
        if len(self.outbox) >= max_queue:
            pending = len(self.outbox)
            self.outbox.clear()
            self.backlog.clear()
            self.close(CLOSE_TOO_SLOW, f"too slow: {pending} messages pending; reconnect and resume from your last id")
            return False
        self.outbox.append(frame)
        return True

    def close(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason[:120]
