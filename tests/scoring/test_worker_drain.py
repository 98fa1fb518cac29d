"""SIGTERM stops the scoring worker promptly: the batch in progress drains, what finished is committed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest

from scoring.worker import Outcome, StopBudget, _gave_up, finish_batch, finished_prefix, until_stopped_within
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


def test_the_stop_budget_is_one_budget_for_every_step_after_the_stop():
    now = [100.0]
    budget = StopBudget(5.0, clock=lambda: now[0])
    assert budget.left() == 5.0  # the clock starts at the first step after the stop
    now[0] += 3.0
    assert budget.left() == 2.0
    now[0] += 10.0
    assert budget.left() == 0.0


async def test_a_step_runs_to_the_end_until_the_stop_then_only_within_the_budget():
    stop = asyncio.Event()

    async def slow(v: int) -> int:
        await asyncio.sleep(0.05)
        return v

    done = await until_stopped_within(slow(1), stop, StopBudget(0.01))
    assert done.result() == 1  # no stop: as long as it takes
    stop.set()
    given_up = await until_stopped_within(asyncio.sleep(3600), stop, StopBudget(0.05))
    assert _gave_up(given_up)


@pytest.mark.model
@pytest.mark.integration
def test_sigterm_with_the_broker_gone_exits_promptly_and_commits_nothing_unacknowledged(tiny_model, unique):
    """Issue 22: with its broker gone, a worker took 35-65 s to exit after SIGTERM (aiokafka waits its 40 s
    request timeout for the acknowledgement, then the producer's close flushes as long again), past
    Kubernetes' 30 s default grace, and exited 1 with a traceback. The broker "goes" by SIGSTOP."""
    from streams.broker import EmbeddedBroker, ensure_topics

    sid = f"gone-{unique}"
    reqs = [_request(f"{sid}-{i}", "early", EN_SESSION) for i in range(12)]
    group = f"g-gone-{unique}"
    with EmbeddedBroker() as broker:  # its own: it is stopped
        ensure_topics(broker.bootstrap)
        produce(broker.bootstrap, SCORE_REQUESTS.name, [(r.session_id, r) for r in reqs])
        worker = WorkerProcess(broker.bootstrap, group, str(tiny_model.path))
        worker.cmd += ["--drain", "5"]
        worker.start()
        try:
            assert worker.wait_for("scored ", 300), "\n".join(worker.lines[-20:])
            os.kill(broker.process.pid, signal.SIGSTOP)  # fault injection: the broker stops answering
            try:
                worker.proc.send_signal(signal.SIGTERM)
                t0 = time.monotonic()
                try:
                    code = worker.proc.wait(60)
                except subprocess.TimeoutExpired:
                    code = None
                took = time.monotonic() - t0
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
        finally:
            worker.kill()
        out = "\n".join(worker.lines[-20:])
        # a bound for a property (inside Kubernetes' 30 s default grace, with --drain 5 and the 5 s close budget),
        # not a speed claim
        assert code is not None and took < 25, f"exited {code} after {took:.0f} s:\n{out}"
        assert code == 0, out
        assert not any("Traceback" in ln for ln in worker.lines), out
        scored = {r.key.decode() for r in consume_all_sync(broker.bootstrap, "alliance.scores", idle=2, timeout=30,
                                                           where=_keys(sid))}
        committed = asyncio.run(_committed(broker.bootstrap, group))
        requests = consume_all_sync(broker.bootstrap, SCORE_REQUESTS.name, expect=len(reqs), timeout=30,
                                    where=_keys(sid))
    done = {r.key.decode() for r in requests if r.offset < committed.get(r.partition, -1)}
    assert done <= scored, (done, scored)  # nothing committed without its score on the broker
    assert len(scored) < len(reqs), "it stopped, rather than scoring everything first"
