"""Consumer-group lag straight from the broker: committed offsets vs end offsets.

Why beside the parts' own gauges: a part that is down reports nothing, and that
is exactly when its group's lag grows. The broker still knows every group's
committed offsets, so ``alliance-monitor status`` asks it. A committed offset is
what a restarted member would resume from, so this lag includes records a
running member has fetched but not yet committed (a batch being scored).
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass

from .errors import BrokerError


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int
    begin: int = 0  # the oldest offset still kept

    @property
    def lag(self) -> int:
        """Records the group has not committed; every kept one when it never committed here (it starts at the
        beginning with ``ALLIANCE_OFFSET_RESET=earliest``, the default)."""
        return max(0, self.end - (self.committed if self.committed is not None else self.begin))


def group_lag(bootstrap: str, groups: list[str], timeout_s: float = 10.0) -> dict[str, list[PartitionLag]]:
    """Per group, the lag of every partition of the topics it has committed on (an unknown group: empty).

    kafka-python's admin client (its OffsetFetch reads Tansu's answer; aiokafka's admin client does not).
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    from .kafka_security import kafka_security

    timeout_ms = int(timeout_s * 1000)
    security = kafka_security()  # the same TLS / SASL settings as every other client of the project
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, **security, client_id="alliance-monitor-status",
                                 request_timeout_ms=timeout_ms)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, **security, client_id="alliance-monitor-status",
                                 request_timeout_ms=timeout_ms + 1000, enable_auto_commit=False)
    except Exception as err:  # noqa: BLE001 - NoBrokersAvailable and friends
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {type(err).__name__}") from None
    try:
        out: dict[str, list[PartitionLag]] = {}
        for group in groups:
            committed = {tp: meta.offset for tp, meta in _committed(admin, group).items() if meta.offset >= 0}
            tps = sorted({TopicPartition(topic, p) for topic in {tp.topic for tp in committed}
                          for p in consumer.partitions_for_topic(topic) or ()})
            ends = consumer.end_offsets(tps) if tps else {}
            begins = consumer.beginning_offsets(tps) if tps else {}
            out[group] = [PartitionLag(group, tp.topic, tp.partition, committed.get(tp), ends[tp], begins[tp])
                          for tp in tps]
        return out
    except KafkaError as err:
        raise BrokerError(f"cannot read consumer-group offsets from {bootstrap}: {type(err).__name__}") from None
    finally:
        consumer.close()
        admin.close()


def _committed(admin, group: str) -> dict:
    """{TopicPartition: OffsetAndMetadata} of one group (kafka-python 3 and 2 name the call differently)."""
    if hasattr(admin, "list_group_offsets"):
        return admin.list_group_offsets({group: None}).get(group, {})
    return admin.list_consumer_group_offsets(group)
