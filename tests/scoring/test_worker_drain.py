"""SIGTERM stops the scoring worker promptly: the batch in progress drains, what finished is committed."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import pytest

from scoring.worker import Outcome, finish_batch, finished_prefix
from streams.topics import SCORE_REQUESTS
from tests.kafka_helpers import consume_all_sync, produce
from tests.scoring.helpers import EN_SESSION
from tests.scoring.test_worker import WorkerProcess, _keys, _request


class _Rec:
    def __init__(self, partition: int, offset: int):
        self.partition, self.offset = partition, offset


def test_only_a_finished_prefix_per_partition_is_committed():
    recs = [_Rec(0, 1), _Rec(1, 5), _Rec(0, 2), _Rec(1, 6), _Rec(0, 3)]
    done = Outcome(dlq_reason="x")
    assert finished_prefix(recs, [done, None, done, done, None]) == [0, 2]
    assert finished_prefix(recs, [done] * 5) == [0, 1, 2, 3, 4]


async def test_a_stopped_batch_drains_then_gives_up_on_the_rest():
    stop = asyncio.Event()

    async def quick():
        await asyncio.sleep(0.01)
        return Outcome(dlq_reason="quick")

    async def endless():
        await asyncio.sleep(3600)

    asyncio.get_running_loop().call_later(0.05, stop.set)
    out = await finish_batch([quick(), endless()], stop, drain_s=0.1)
    assert out[0] is not None and out[1] is None


async def _committed(bootstrap: str, group: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        parts = c.partitions_for_topic(SCORE_REQUESTS.name) or set()
        out = {}
        for p in parts:
            off = await c.committed(TopicPartition(SCORE_REQUESTS.name, p))
            if off is not None:
                out[p] = off
        return out
    finally:
        await c.stop()


@pytest.mark.model
@pytest.mark.integration
def test_sigterm_drains_commits_what_finished_and_exits(private_kafka, tiny_model, unique):
    sid = f"term-{unique}"
    reqs = [_request(f"{sid}-{i}", "early", EN_SESSION[:4]) for i in range(4)]
    produce(private_kafka, SCORE_REQUESTS.name, [(r.session_id, r) for r in reqs])
    group = f"g-term-{unique}"
    worker = WorkerProcess(private_kafka, group, str(tiny_model.path)).start()
    try:
        assert worker.wait_for("scored ", 300), "\n".join(worker.lines[-20:])
        worker.proc.send_signal(signal.SIGTERM)
        try:
            code = worker.proc.wait(120)  # a bound for a hung worker, not a speed claim
        except subprocess.TimeoutExpired:
            raise AssertionError("the scorer ignored SIGTERM:\n" + "\n".join(worker.lines[-20:])) from None
    finally:
        worker.kill()
    assert code == 0, "\n".join(worker.lines[-20:])
    assert any("done:" in ln for ln in worker.lines)
    scored = {r.key.decode() for r in consume_all_sync(private_kafka, "alliance.scores", idle=2, timeout=30,
                                                       where=_keys(sid))}
    committed = asyncio.run(_committed(private_kafka, group))
    requests = consume_all_sync(private_kafka, SCORE_REQUESTS.name, expect=len(reqs), timeout=30, where=_keys(sid))
    done = {r.key.decode() for r in requests if r.offset < committed.get(r.partition, -1)}
    assert done == scored, (done, scored)  # every committed request has its score, and only those
    assert len(scored) < len(reqs), "it stopped, rather than scoring everything first"
