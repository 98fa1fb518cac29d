"""Read the rest of a Faust table's changelog that recovery stopped short of (Tansu's end offsets).

Why: Tansu answers ListOffsets(latest) with the *last batch's base offset* + 1, not the
last offset + 1 (docs/findings.md). Faust recovers a changelog "up to the end offset",
so with multi-record producer batches a restarted worker missed the newest records of
its state. The processor used to send every record in a batch of its own, which makes
the end offset exact but costs the producer its batching on the hot path (two
changelog records per turn). Instead, once Faust's recovery is done and before any
event is processed (``on_rebalance_complete`` runs before the streams resume), this
reads each assigned changelog partition from the reported end's batch to the true end
— until a fetch comes back empty — and applies those records in order. On a broker
with exact end offsets (Apache Kafka) the tail is the one record recovery already
applied: re-applying it changes nothing.

A shell module: aiokafka and Faust's table store.
"""

from __future__ import annotations

__layer__ = "shell"

import logging
import time
from typing import Any, Iterable

import orjson

log = logging.getLogger(__name__)


async def read_changelog_tails(bootstrap: str, tables: Iterable[Any], partitions: Iterable[int], *,
                               idle_rounds: int = 3, timeout_s: float = 30.0) -> int:
    """Apply every changelog record at or past each partition's reported end; returns how many were past it.

    ``tables``: Faust tables with json key/value serializers (the processor's). The
    records are applied to the table's store directly (``table.data``), as recovery
    does: no changelog record is written back.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from .kafka_security import kafka_security

    parts = sorted(set(partitions))
    tables = list(tables)
    if not parts or not tables:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_security(), enable_auto_commit=False,
                                fetch_max_wait_ms=50, client_id="alliance-changelog-tail")
    await consumer.start()
    try:
        owner = {TopicPartition(t.changelog_topic.get_topic_name(), p): t for t in tables for p in parts}
        tps = list(owner)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(0, ends[tp] - 1))  # the reported end's batch starts at end - 1
        past_end, idle, deadline = 0, 0, time.monotonic() + timeout_s
        while idle < idle_rounds and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            if not any(batch.values()):
                idle += 1
                continue
            idle = 0
            for tp, records in batch.items():
                store = owner[tp].data
                for r in records:
                    key = orjson.loads(r.key) if r.key is not None else None
                    if r.value is None:
                        store.pop(key, None)
                    else:
                        store[key] = orjson.loads(r.value)
                    if r.offset >= ends[tp]:
                        past_end += 1
        if time.monotonic() >= deadline:
            log.warning("changelog tails not read to the end within %.0f s", timeout_s)
        return past_end
    finally:
        await consumer.stop()
