"""Re-drive dead letters: put the records of ``<topic>.dlq`` back on ``<topic>``.

Why: a record is dead-lettered when a part cannot handle it *then* — a bug since
fixed, a limit since raised, a database that refused it. Once the cause is gone,
the raw bytes kept in the DeadLetter (utf-8 or base64) go back to their source
topic with their original key and headers (the parts write a record's headers onto
its dead letter; the source header above all: a session record without it is not
its owner's word any more, streams/ownership.py), and the normal path handles them.

Delivery is at-least-once: re-driving the same letters twice sends them twice.
Every consumer of the source topics is idempotent (the processor drops a turn id it
has, the sink upserts on natural keys, the scorer dedupes request ids), so a repeat
changes nothing downstream; ``--reason`` narrows a re-drive to one cause and
``--dry-run`` shows what would go. Letters of another source topic and letters that
cannot be read are counted and skipped, never sent.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .codec import decode
from .contracts import DeadLetter
from .errors import ContractError, DlqError
from .ownership import header_pairs


@dataclass
class RedriveResult:
    """What a re-drive saw and did (counts; reasons are never chat text)."""

    source_topic: str
    scanned: int = 0
    matched: int = 0
    sent: int = 0
    unreadable: int = 0
    other_source: int = 0
    newer: int = 0  # written after the re-drive began (left for the next one)
    reasons: Counter = field(default_factory=Counter)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would re-drive" if dry_run else "re-drove"
        out = [(f"{self.source_topic}.dlq: {self.scanned} dead letters, {self.matched} matching; "
                f"{verb} {self.matched if dry_run else self.sent} to {self.source_topic}")]
        if self.unreadable or self.other_source or self.newer:
            out.append(f"  skipped: {self.unreadable} unreadable, {self.other_source} from another topic, "
                       f"{self.newer} written after the re-drive began")
        for reason, n in self.reasons.most_common(10):
            out.append(f"  {n:6d}  {reason[:100]}")
        return out


def raw_bytes(letter: DeadLetter) -> bytes:
    """The original record value, as it was consumed."""
    if letter.raw_encoding == "base64":
        return base64.b64decode(letter.raw)
    return letter.raw.encode("utf-8")


def selects(letter: DeadLetter, source_topic: str, reason_contains: str | None) -> bool:
    return letter.source_topic == source_topic and (reason_contains is None or reason_contains in letter.reason)


async def redrive(bootstrap: str, source_topic: str, *, reason_contains: str | None = None, dry_run: bool = False,
                  timeout_s: float = 30.0, idle_s: float = 2.0) -> RedriveResult:
    """Read ``<source_topic>.dlq`` from the beginning and re-send the letters written before now that match."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.errors import KafkaError

    from .kafka_security import kafka_security

    dlq = f"{source_topic}.dlq"
    res = RedriveResult(source_topic)
    began = datetime.now(timezone.utc)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_security(), enable_auto_commit=False,
                                client_id="alliance-dlq")
    producer = None if dry_run else AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_security(), acks="all",
                                                      client_id="alliance-dlq", max_request_size=2 * 1024 * 1024)
    try:
        await consumer.start()
        if producer is not None:
            await producer.start()
        parts = consumer.partitions_for_topic(dlq)
        deadline = time.monotonic() + timeout_s
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(dlq)
            if not parts:
                await asyncio.sleep(0.2)
        if not parts:
            raise DlqError(f"topic {dlq} does not exist on {bootstrap}")
        tps = [TopicPartition(dlq, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        # Read until the topic stays quiet for idle_s. Not up to end_offsets(): Tansu answers
        # it with the last *batch's* base offset + 1 (docs/broker-findings.md), which stops
        # short of a multi-record batch. Letters written after the re-drive began (e.g. the
        # same record failing again) are left for the next re-drive: no loop.
        sends = []
        last_record = time.monotonic()
        while time.monotonic() - last_record < idle_s:
            if time.monotonic() > deadline + timeout_s:
                raise DlqError(f"reading {dlq} did not go quiet within {2 * timeout_s:g} s")
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    last_record = time.monotonic()
                    res.scanned += 1
                    try:
                        letter = decode(DeadLetter, r.value)
                    except ContractError:
                        res.unreadable += 1
                        continue
                    if letter.source_topic != source_topic:
                        res.other_source += 1
                        continue
                    if letter.at >= began:
                        res.newer += 1
                        continue
                    if not selects(letter, source_topic, reason_contains):
                        continue
                    res.matched += 1
                    res.reasons[letter.reason] += 1
                    if producer is not None:
                        key = letter.key.encode("utf-8") if letter.key is not None else None
                        sends.append(await producer.send(source_topic, key=key, value=raw_bytes(letter),
                                                         headers=header_pairs(r.headers) or None))
        for fut in sends:
            await fut
            res.sent += 1
        return res
    except KafkaError as err:
        raise DlqError(f"{dlq}: {type(err).__name__}") from None
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()


__all__ = ["DlqError", "RedriveResult", "redrive", "raw_bytes", "selects"]
