"""Helpers to run the real sink against the real broker on topics of its own."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from store.sink import Sink, SinkTopics
from streams.broker import ensure_topics
from streams.topics import spec


def make_topics(bootstrap: str, suffix: str) -> SinkTopics:
    """Unique copies of the sink's topics (and their DLQs), so tests sharing the broker stay apart."""
    topics = SinkTopics.with_suffix(suffix)
    specs = []
    for base in ("chat.sessions", "alliance.scores", "alliance.alerts", "alliance.acks", "chat.ratings",
                 "alliance.ruptures", "alliance.access", "alliance.feedback"):
        s = dataclasses.replace(spec(base), name=base + suffix, partitions=2)
        specs += [s, dataclasses.replace(spec(base + ".dlq"), name=s.dlq, partitions=1)]
    ensure_topics(bootstrap, specs)
    return topics


class RunningSink:
    """A Sink running as a task in the test's event loop."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "RunningSink":
        self.task = asyncio.create_task(self.sink.run(self.stop))
        return self

    async def __aexit__(self, *exc) -> None:
        self.stop.set()
        if self.task and not self.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 20)
            except asyncio.TimeoutError:
                self.task.cancel()
        if self.task and self.task.done() and not self.task.cancelled() and self.task.exception():
            raise self.task.exception()

    async def crash(self) -> None:
        """Cancel the sink wherever it is (e.g. inside a DB retry): no commit happens."""
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
