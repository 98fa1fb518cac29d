"""Replay recorded sessions into ``chat.turns`` / ``chat.sessions``: the thin Kafka shell.

The file format, parsing and timing are :mod:`streams.replay_format` (re-exported
here); :func:`publish` sends the events with their original spacing, ``speed``
times faster.
"""

from __future__ import annotations

__layer__ = "shell"

import time
from dataclasses import dataclass
from typing import Callable

from .codec import encode
from .replay_format import BadLine, ReplayEvent, iter_files, merge, parse_line, read_file, rebase, schedule
from .topics import CHAT_TURNS

__all__ = ["BadLine", "ReplayEvent", "ReplayStats", "iter_files", "merge", "parse_line", "publish", "read_file",
           "rebase", "schedule"]


@dataclass
class ReplayStats:
    published: int = 0
    turns: int = 0
    session_events: int = 0
    sessions: int = 0
    elapsed_s: float = 0.0


def publish(
    events: list[ReplayEvent],
    bootstrap: str,
    *,
    speed: float = 1.0,
    progress: bool = True,
    on_event: Callable[[ReplayEvent], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayStats:
    """Send events with kafka-python, keyed by session_id, paced by ``speed``."""
    from kafka import KafkaProducer
    from tqdm import tqdm

    from .kafka_security import kafka_security

    offsets = schedule(events, speed)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, **kafka_security(),
        acks="all",
        linger_ms=5,
        retries=5,
        # one in-flight request per connection: a retry can never reorder a session
        max_in_flight_requests_per_connection=1,
        client_id="alliance-monitor-replay",
    )
    stats = ReplayStats(sessions=len({e.session_id for e in events}))
    start = time.monotonic()
    futures = []
    try:
        with tqdm(total=len(events), unit="ev", desc="replay", disable=not progress, leave=False) as bar:
            for ev, offset in zip(events, offsets, strict=True):
                wait = start + offset - time.monotonic()
                if wait > 0:
                    producer.flush()  # what is due now goes now
                    sleep(wait)
                futures.append(producer.send(ev.topic, key=ev.session_id.encode(), value=encode(ev.event)))
                stats.published += 1
                if ev.topic == CHAT_TURNS.name:
                    stats.turns += 1
                else:
                    stats.session_events += 1
                if on_event:
                    on_event(ev)
                bar.update(1)
            producer.flush()
        for f in futures:
            f.get(timeout=30)  # raise if anything failed to reach the broker
    finally:
        producer.close()
    stats.elapsed_s = time.monotonic() - start
    return stats
