"""The scoring worker end to end through the real embedded broker, with real engines.

In-process with vLLM (the production engine), and as real subprocesses with the
transformers engine (loads in seconds) to show a SIGKILLed worker loses nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest

from scoring.scorer import Scorer, ScoringConfig
from scoring.worker import WorkerConfig, run_worker
from streams.codec import decode
from streams.contracts import AllianceScore, DeadLetter, ScoreRequest, TranscriptLine
from tests.kafka_helpers import consume_all_sync, keys_on_every_partition, produce

from .helpers import EN_SESSION, ZH_SESSION

pytestmark = [pytest.mark.model, pytest.mark.integration]


def _request(session_id: str, phase: str, turns, lang="en") -> ScoreRequest:
    lines = [TranscriptLine(turn_id=i, speaker=t.speaker, text=t.text) for i, t in enumerate(turns)]
    return ScoreRequest(request_id=f"{session_id}:{phase}", session_id=session_id, phase=phase,
                        upto_turn_id=len(lines) - 1, transcript=lines, lang=lang, counselor_id="c-1")


def _keys(prefix: str):
    return lambda r: r.key is not None and r.key.decode().startswith(prefix)


def test_worker_scores_requests_and_dead_letters_poison(kafka_bootstrap, vllm_engine, engine_loop, unique):
    import dataclasses

    from streams.broker import ensure_topics
    from streams.topics import spec

    sid = f"w-{unique}"
    # topics of its own: a new group reads from the beginning, and other tests on this worker's broker
    # (the processor's, in any order under xdist) leave their requests in the shared alliance.requests
    requests, scores_topic = f"alliance.requests.w{unique}", f"alliance.scores.w{unique}"
    ensure_topics(kafka_bootstrap, [dataclasses.replace(spec("alliance.requests"), name=requests),
                                    dataclasses.replace(spec("alliance.requests.dlq"), name=f"{requests}.dlq"),
                                    dataclasses.replace(spec("alliance.scores"), name=scores_topic)])
    good = [_request(f"{sid}-a", "early", EN_SESSION[:6]), _request(f"{sid}-b", "early", ZH_SESSION, "zh"),
            _request(f"{sid}-a", "middle", EN_SESSION)]
    empty = _request(f"{sid}-c", "late", [])  # valid contract, but nothing to score: fails every attempt
    produce(kafka_bootstrap, requests,
            [(r.session_id, r) for r in good] + [(f"{sid}-p", b"{not json"), (empty.session_id, empty)])
    cfg = WorkerConfig(group_id=f"g-{unique}", concurrency=4, timeout_s=120, retries=1, retry_backoff_s=0.1,
                       max_records=5, requests_topic=requests, scores_topic=scores_topic)
    scorer = Scorer(vllm_engine, ScoringConfig(rationale="alerts", rationale_tokens=16))
    stats = engine_loop.run(run_worker(kafka_bootstrap, scorer, cfg), timeout=900)
    assert (stats.scored, stats.dead_lettered, stats.retries) == (3, 2, 1)

    scores = [decode(AllianceScore, r.value)
              for r in consume_all_sync(kafka_bootstrap, scores_topic, expect=3, where=_keys(sid))]
    assert sorted(s.request_id for s in scores) == sorted(r.request_id for r in good)
    for s in scores:
        assert s.model.name == vllm_engine.model_name and len(s.items) == 12 and set(s.dimensions) == {
            "goal", "approach", "bond"}
        assert s.counselor_id == "c-1"
    middle = next(s for s in scores if s.phase == "middle")
    assert middle.cached_tokens > 0  # the early phase of the same session was scored first
    dead = [decode(DeadLetter, r.value)
            for r in consume_all_sync(kafka_bootstrap, f"{requests}.dlq", expect=2, where=_keys(sid))]
    reasons = sorted(d.reason for d in dead)
    assert reasons[0].startswith("invalid ScoreRequest") and "not valid JSON" in reasons[0]
    assert reasons[1].startswith("scoring failed after 2 attempt(s): ValueError in ")  # type and place, never text
    assert any(d.raw == "{not json" for d in dead)


class WorkerProcess:
    """``alliance-monitor score`` as a real subprocess (stdout: ids and timings only).

    ``model``: the model directory it loads (the tiny random-weight model in these tests: what
    they prove — nothing lost, nothing scored twice — holds for any weights)."""

    def __init__(self, bootstrap: str, group: str, model: str, health_port: int | None = None):
        self.cmd = [sys.executable, "-m", "alliance_monitor.cli", "score", "--engine", "transformers",
                    "--bootstrap", bootstrap, "--group", group, "--concurrency", "1", "--rationale", "none",
                    "--max-model-len", "1024", "--retries", "0"]
        if health_port is not None:
            self.cmd += ["--health-port", str(health_port)]
        self.env = dict(os.environ, ALLIANCE_MODEL=model, PYTHONUNBUFFERED="1")
        self.lines: list[str] = []
        self.ready = threading.Event()

    def start(self) -> "WorkerProcess":
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        t0 = time.monotonic()
        for line in self.proc.stdout:
            self.lines.append(f"[{time.monotonic() - t0:6.1f}s] {line.rstrip()}")
            if "scoring worker ready" in line:
                self.ready.set()

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in ln for ln in self.lines):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)


def test_killed_worker_loses_no_request(kafka_bootstrap, tiny_model, unique):
    sid = f"k-{unique}"
    reqs = [_request(f"{sid}-{i}", "early", EN_SESSION[:4]) for i in range(3)]
    produce(kafka_bootstrap, "alliance.requests", [(r.session_id, r) for r in reqs])
    group, model = f"g-{unique}", str(tiny_model.path)
    first = WorkerProcess(kafka_bootstrap, group, model).start()
    try:
        assert first.wait_for("scored ", 240), "\n".join(first.lines[-20:])
        first.kill(signal.SIGKILL)  # mid-stream: at most the first batch was committed
    finally:
        first.kill()
    second = WorkerProcess(kafka_bootstrap, group, model).start()
    try:
        records = consume_all_sync(kafka_bootstrap, "alliance.scores", expect=len(reqs), timeout=300,
                                   where=_keys(sid))
        # keep reading until every request id has a score (duplicates from re-delivery are fine)
        deadline = time.monotonic() + 300
        got = {orjson.loads(r.value)["request_id"] for r in records}
        while got != {r.request_id for r in reqs} and time.monotonic() < deadline:
            time.sleep(2)
            got = {orjson.loads(r.value)["request_id"]
                   for r in consume_all_sync(kafka_bootstrap, "alliance.scores", idle=1, where=_keys(sid))}
        assert got == {r.request_id for r in reqs}, "\n".join(second.lines[-20:])
    finally:
        second.kill(signal.SIGTERM)
        print("\n".join(["first:", *first.lines, "second:", *second.lines]))
    assert not any("Traceback" in ln for ln in first.lines + second.lines if "scored" not in ln)
    assert not any("sleeping badly" in ln for ln in first.lines + second.lines)  # no message text in logs


def _assignments(worker: WorkerProcess) -> list[list[int]]:
    return [orjson.loads(ln.split("partitions", 1)[1]) for ln in worker.lines if "scoring worker assignment:" in ln]


def _assigned(worker: WorkerProcess) -> list[int] | None:
    lines = _assignments(worker)
    return lines[-1] if lines else None


#: The group's session timeout (WorkerConfig.session_timeout_ms) and a margin: a member the broker
#: still counts (a first join that was answered "member id required", a worker that left) has
#: expired by then, so the split seen after this long without a new assignment is the one that stays.
SETTLED_S = 12.0


def _wait_for_a_settled_split(workers: list[WorkerProcess], timeout: float = 300) -> None:
    """Both workers own partitions, together all four, and no rebalance for SETTLED_S.

    Producing on the first complete split was flaky (``[8, 0]``): a later rebalance of the same
    group handed one worker every partition before the requests arrived.
    """
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        assert all(w.proc.poll() is None for w in workers), "\n".join(workers[0].lines + workers[1].lines)
        now = [len(_assignments(w)) for w in workers]
        if now != seen:
            seen, since = now, time.monotonic()
        split = [_assigned(w) for w in workers]
        complete = all(split) and sorted(split[0] + split[1]) == [0, 1, 2, 3]
        if complete and time.monotonic() - since >= SETTLED_S:
            return
        time.sleep(0.5)
    raise AssertionError(f"no settled split of the four partitions: {[_assignments(w) for w in workers]}")


def test_two_workers_in_one_group_share_the_requests_without_a_duplicate_score(kafka_bootstrap, tiny_model, unique):
    """Two real workers (transformers engine) in one consumer group: the partitions are split, every
    request is scored exactly once, and both workers do part of the work."""
    from streams.broker import free_port
    from tests.alliance_monitor.test_health import _health

    group, model = f"g2-{unique}", str(tiny_model.path)
    port = free_port()
    workers = [WorkerProcess(kafka_bootstrap, group, model, health_port=port if i == 0 else None).start()
               for i in range(2)]
    try:
        # issue 21: /healthz waits for the group (alliance_monitor/health.py, watch_group): never another 503
        # reason once the model is loaded, and healthy at all only if the rebalance hook reports the join
        deadline = time.monotonic() + 300
        while True:
            try:
                status, body = _health(port)
            except OSError:  # the probe's port is not open yet
                status, body = 0, {}
            if status == 200:
                break
            assert workers[0].proc.poll() is None and time.monotonic() < deadline, "\n".join(workers[0].lines)
            if workers[0].ready.is_set():  # model loaded and consuming: only the group holds it back (or the
                # probe's ready flag, set right after the line this test read)
                assert body["status"] in ("starting", f"consumer group {group}: not joined yet"), body
            time.sleep(0.2)
        # healthy only after its assignment was announced (the line is in the pipe before the probe says 200)
        assert workers[0].wait_for("scoring worker assignment", 1), "\n".join(workers[0].lines)
        _wait_for_a_settled_split(workers)
        sid = f"two-{unique}"
        # two requests on each of the four partitions, so each worker's half of the split gets four
        reqs = [_request(key, "early", EN_SESSION[:2]) for key in keys_on_every_partition(sid, 2)]
        produce(kafka_bootstrap, "alliance.requests", [(r.session_id, r) for r in reqs])
        wanted = {r.request_id for r in reqs}
        deadline = time.monotonic() + 400
        scored: list[str] = []
        while time.monotonic() < deadline:
            scored = [orjson.loads(r.value)["request_id"]
                      for r in consume_all_sync(kafka_bootstrap, "alliance.scores", idle=1, where=_keys(sid))]
            if set(scored) >= wanted:
                break
            time.sleep(2)
        time.sleep(3)  # a duplicate would come right after
        scored = [orjson.loads(r.value)["request_id"]
                  for r in consume_all_sync(kafka_bootstrap, "alliance.scores", idle=1, where=_keys(sid))]
        assert sorted(scored) == sorted(wanted), "every request scored exactly once"
        per_worker = [sum(1 for ln in w.lines if f"scored {sid}-" in ln) for w in workers]
        assert sum(per_worker) == len(reqs) and all(per_worker), (per_worker, [_assignments(w) for w in workers])
    finally:
        for w in workers:
            w.kill(signal.SIGTERM)
