"""Small helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time

from streams.codec import encode


def partition_of(key: str, partitions: int = 4) -> int:
    """The partition the producers' default partitioner (murmur2 of the key) gives a key."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def keys_on_every_partition(prefix: str, per_partition: int, partitions: int = 4) -> list[str]:
    """``prefix-N`` keys, ``per_partition`` of them on each partition: a test that needs every member of a
    group to get work cannot leave that to the hash (8 random keys all land on one member's two of four
    partitions once in 128 runs)."""
    out: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(v) < per_partition for v in out.values()):
        key = f"{prefix}-{n}"
        bucket = out[partition_of(key, partitions)]
        if len(bucket) < per_partition:
            bucket.append(key)
        n += 1
    return [k for p in range(partitions) for k in out[p]]


def produce(bootstrap: str, topic: str, records: list[tuple[str | None, bytes | object]]) -> None:
    """Produce (key, value) pairs synchronously; contracts are encoded with orjson."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_in_flight_requests_per_connection=1)
    try:
        for key, value in records:
            raw = value if isinstance(value, (bytes, bytearray)) else encode(value)
            p.send(topic, key=key.encode() if key else None, value=raw)
        p.flush()
    finally:
        p.close()


async def consume_all(bootstrap: str, topic: str, *, expect: int | None = None, idle: float = 3.0,
                      timeout: float = 60.0, where=None) -> list:
    """Read a topic from the beginning (no group) until ``expect`` records match or it goes idle.

    ``where`` filters records (e.g. by key) so tests sharing a broker stay apart.
    Uses partition assignment, not a consumer group: see docs/broker-findings.md.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await c.start()
    out = []
    try:
        parts = c.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while not parts and time.monotonic() < deadline:
            await c._client.force_metadata_update()
            parts = c.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        last = time.monotonic()
        while time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=200)
            got = False
            for recs in batch.values():
                for r in recs:
                    if where is None or where(r):
                        out.append(r)
                        got = True
            if got:
                last = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if expect is None and time.monotonic() - last > idle:
                break
        return out
    finally:
        await c.stop()


def consume_all_sync(*args, **kwargs) -> list:
    return asyncio.run(consume_all(*args, **kwargs))
