"""The audit trail's publisher: the hub's view records, stamped and sent to ``alliance.access`` in order.

The hub (gateway/access.py, gateway/hub.py) decides what counts as a view; this
shell stamps each record with the wall clock, publishes it with acks=all and a
few attempts, and counts what it could not publish (``lost``) or had nowhere to
publish (``unaudited``: no Kafka, e.g. benchmarks) — a loss is logged, never hidden.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import contextlib
import logging
import time
from collections import deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable

from .access import AccessRecord, access_event

if TYPE_CHECKING:
    from streams.contracts import AccessEvent

    from .feed import KafkaFeed

log = logging.getLogger(__name__)


class AuditPublisher:
    """Queue and publish audit records; ``stats``: published, lost, unaudited."""

    def __init__(self, feed: "Callable[[], KafkaFeed | None]", replica: str, topic: str, attempts: int,
                 keep_trying: bool = False):
        #: the gateway's Kafka feed once started (None: no Kafka)
        self._feed = feed
        #: fail closed: a record is never given up while the gateway runs; after ``attempts`` it is logged
        #: and retried until published (the gateway withholds content meanwhile: its age passes the bound)
        self.keep_trying = keep_trying
        self.replica = replica
        self.topic = topic
        self.attempts = attempts
        self._queue: asyncio.Queue[tuple[AccessRecord, datetime]] = asyncio.Queue()
        #: when each record not yet published (or counted lost) was queued, oldest first (monotonic)
        self._queued_at: deque[float] = deque()
        #: ``retried``: records that failed ``attempts`` times and were then retried until published (fail closed)
        self.stats = {"published": 0, "lost": 0, "unaudited": 0, "retried": 0}

    def overdue_s(self, now: float | None = None) -> float:
        """How long the oldest record not yet published has waited (0: nothing waiting).

        Why this and not ``lost``: with the broker down a record is counted lost only after
        its attempts time out, minutes later; the age of what waits shows the outage at once.
        """
        if not self._queued_at:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self._queued_at[0])

    @property
    def pending(self) -> int:
        """Records not yet published or counted lost (the one being sent included)."""
        return len(self._queued_at)

    def take(self, records: Iterable[AccessRecord]) -> None:
        """Stamp new view records with the wall clock and hand them to :meth:`run`."""
        records = list(records)
        if not records:
            return
        if self._feed() is None:  # no Kafka (benchmarks): nowhere to record, so count what went unaudited
            self.stats["unaudited"] += len(records)
            return
        at = datetime.now(timezone.utc)
        queued = time.monotonic()
        for record in records:
            self._queue.put_nowait((record, at))
            self._queued_at.append(queued)

    async def run(self) -> None:
        """Publish audit records in order; a record the broker refuses is retried, then counted and logged."""
        while True:
            record, at = await self._queue.get()
            try:
                await self._publish(access_event(record, at, self.replica))
            finally:
                if self._queued_at:
                    self._queued_at.popleft()
                self._queue.task_done()

    async def drain(self, timeout_s: float) -> None:
        """At shutdown: wait for the queued records (views served so far reach the trail); count the rest as lost."""
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout_s)
        left = self.pending  # the one being sent included
        if left:
            self.stats["lost"] += left
            log.error("%d audit records not published at shutdown; %d lost since start", left, self.stats["lost"])

    async def _publish(self, event: "AccessEvent") -> None:
        """Send one record with acks=all, a few attempts; then count it as lost and say so — or, when keeping
        on trying, say so and go on (every 5 s at most) until the broker takes it."""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._feed().publish_access(event, self.topic)  # type: ignore[union-attr]  # queued only with a feed
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - the broker is down: count the loss, never hide it
                if attempt < self.attempts:
                    await asyncio.sleep(0.5 * attempt)
                    continue
                if self.keep_trying:
                    if attempt == self.attempts:
                        self.stats["retried"] += 1
                        log.error("audit record %s (%s) not published after %d attempts (%s); retrying until it "
                                  "is, and serving no session content once it is older than the bound",
                                  event.event_id, event.action, attempt, type(err).__name__)
                    await asyncio.sleep(min(5.0, 0.5 * attempt))
                    continue
                self.stats["lost"] += 1
                log.error("audit record %s (%s) not published after %d attempts (%s); %d audit records lost "
                          "since start", event.event_id, event.action, attempt, type(err).__name__,
                          self.stats["lost"])
                return
            else:
                self.stats["published"] += 1
                return
