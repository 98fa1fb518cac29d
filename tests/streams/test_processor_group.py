"""Two processor workers in one group; one is SIGKILLed mid-session and the other takes its partitions.

Each worker is the other's table standby (``--standby-replicas 1``, the default): it
follows the other's changelog partitions, so the state is already there when they move.

Why its own module: every worker of the test's app id reads its share of every
session, and the shared worker of test_processor.py (another app id) would also
answer. Live clock (rate 1), turns published at full speed, so only turns move the
boundaries and the test decides where the crash falls: after early, before middle.

"The same as an undisturbed run": each session's requests (one per phase, the cuts
the plan gives) and its model alerts (those the pure alert policy gives for the same
scores, in order) — the alert memory of early must survive the move, or the middle
drop would not fire.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import pytest

from streams.alert_policy import SettingsBook, on_score
from streams.codec import decode
from streams.contracts import AllianceAlert, ScoreRequest
from streams.replay import publish
from streams.topics import ALERTS, SCORE_REQUESTS, SCORES
from tests.kafka_helpers import consume_all_sync, partition_of, produce
from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_processor import _score, cuts, events_of, requests_for
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

ARGS = ("--clock-rate", "1", "--lateness", "5", "--grace", "0", "--signal-interval", "0")
SESSIONS = 8
#: early: bond 4.0, goal 2.6 (low); middle: bond 3.2 (a drop from early); late: both recover
SCORES_BY_PHASE = {"early": (4.0, 2.6), "middle": (3.2, 2.3), "late": (3.9, 3.5)}


def _partitions(worker: WorkerProcess) -> list[int]:
    held = worker.partitions()
    assert held is not None, "\n".join(worker.lines[-20:])
    return held


def _expected_alerts(sid: str) -> list[str]:
    settings, state, out = SettingsBook.builtin().for_model("care-8b"), None, []
    for phase, (bond, goal) in SCORES_BY_PHASE.items():
        decision = on_score(state, _score(sid, phase, bond, goal), settings)
        state = decision.state
        out += [a.alert_id for a in decision.alerts]
    return out


def _settled_by_session(bootstrap: str, topic: str, sids, idle: float) -> dict[str, list[bytes]]:
    """Every record of ``sids`` on ``topic`` once nothing more arrives for ``idle`` seconds, by session.

    One read for all sessions (not one idle wait per session): the same settled view, one idle wait."""
    keys = {sid.encode() for sid in sids}
    recs = consume_all_sync(bootstrap, topic, idle=idle, timeout=90, where=lambda r: r.key in keys)
    out: dict[str, list[bytes]] = {sid: [] for sid in sids}
    for r in recs:
        out[r.key.decode()].append(r.value)
    return out


def _model_alerts(bootstrap: str, sids) -> dict[str, list[str]]:
    return {sid: [a.alert_id for a in (decode(AllianceAlert, v) for v in values) if a.kind != "process"]
            for sid, values in _settled_by_session(bootstrap, ALERTS.name, sids, idle=3.0).items()}


def _wait_for(pred, timeout: float, what: str, *workers: WorkerProcess) -> None:
    """Wait for ``pred``; a bound, not a timing claim. On failure, say what the workers last printed."""
    deadline = time.monotonic() + timeout
    while not pred():
        for w in workers:
            assert w.proc is not None and w.proc.poll() is None, \
                f"a worker exited ({w.proc and w.proc.returncode}) waiting for {what}:\n" + "\n".join(w.lines[-30:])
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n" + "\n".join(
            line for w in workers for line in w.lines[-30:])
        time.sleep(0.2)


def test_two_workers_one_killed_mid_session_every_session_still_complete(kafka_bootstrap, unique):
    app_id = f"it-group-{unique}"
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    plan = {f"grp-{unique}-{i}": session(f"grp-{unique}-{i}", start=start, planned_minutes=3, turns=19, gap_s=10)
            for i in range(SESSIONS)}
    parts = {sid: events_of(*evs) for sid, evs in plan.items()}
    cut = start + timedelta(seconds=75)  # turn 6 at 70 s crosses early
    first_half = [e for evs in parts.values() for e in evs if e.at <= cut]
    second_half = [e for evs in parts.values() for e in evs if e.at > cut]

    a = WorkerProcess(kafka_bootstrap, app_id, *ARGS).start()
    b = WorkerProcess(kafka_bootstrap, app_id, *ARGS).start(timeout=120)
    try:
        _wait_for(lambda: sorted(_partitions(a) + _partitions(b)) == [0, 1, 2, 3], 60, "the partitions to be split")
        held_by_a = _partitions(a)
        assert held_by_a and _partitions(b), (a.lines[-5:], b.lines[-5:])  # both really work
        # table standbys (the default, --standby-replicas 1): each keeps a warm copy of the other's partitions
        _wait_for(lambda: b.standbys() == held_by_a and a.standbys() == _partitions(b), 30,
                  "each worker to be the other's standby")
        publish(first_half, kafka_bootstrap, speed=math.inf, progress=False)
        for sid in plan:
            assert [r.phase for r in requests_for(kafka_bootstrap, sid, expect=1, timeout=60)] == ["early"]
        produce(kafka_bootstrap, SCORES.name, [(sid, _score(sid, "early", *SCORES_BY_PHASE["early"])) for sid in plan])
        # early scores raise no alert: wait until the policy remembered each (its table's changelog has the
        # session), so the memory is in the changelog the survivor recovers whether or not the score's offset
        # was committed before the kill (a re-delivered early score is absorbed)
        keys = {f'"{sid}"'.encode() for sid in plan}
        _wait_for(lambda: {r.key for r in consume_all_sync(kafka_bootstrap, f"{app_id}-alert_state-changelog",
                                                           idle=0.5, timeout=10, where=lambda r: r.key in keys)} == keys,
                  60, "the policy to remember every early score", a, b)
    finally:
        assert a.kill() == -9
    try:
        publish(second_half, kafka_bootstrap, speed=math.inf, progress=False)  # the sessions go on meanwhile
        # the broker notices the kill after the session timeout (10 s); on a loaded machine the survivor's
        # rebalance and table recovery take longer than that, so the bound is generous
        _wait_for(lambda: _partitions(b) == [0, 1, 2, 3], 240, "the survivor to take every partition", b)
        for sid, (started, turns, _ended) in plan.items():
            got = requests_for(kafka_bootstrap, sid, timeout=90)
            assert [r.phase for r in got] == ["early", "middle", "late"], (sid, b.lines[-10:])
            assert cuts(got) == expected_cuts(started.at, turns, 3), sid
        produce(kafka_bootstrap, SCORES.name, [(sid, _score(sid, phase, *SCORES_BY_PHASE[phase]))
                                               for sid in plan for phase in ("middle", "late")])
        settled = _settled_by_session(kafka_bootstrap, SCORE_REQUESTS.name, plan, idle=2.0)
        alerts = _model_alerts(kafka_bootstrap, plan)
        for sid in plan:
            assert sorted(decode(ScoreRequest, v).phase for v in settled[sid]) == ["early", "late", "middle"], sid
            assert alerts[sid] == _expected_alerts(sid), sid
    finally:
        assert b.stop() == 0
    moved = [sid for sid in plan if partition_of(sid) in held_by_a]
    assert moved, "no session lived on the killed worker's partitions"


def _partition_of(sid: str, partitions: int = 4) -> int:
    """The partition the producers' default partitioner (murmur2 of the key) gives a session."""
    from kafka.partitioner.default import murmur2

    return (murmur2(sid.encode()) & 0x7FFFFFFF) % partitions
