"""Crash recovery: SIGKILL a real worker mid-session; its successor recovers the tables from the changelogs.

In its own module because every processor worker reads every session: the
shared worker of test_processor.py (torn down at the end of that module) would
otherwise emit the same requests and hide a duplicate or a missing one.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from streams.replay import publish
from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_processor import cuts, events_of, requests_for, settled_requests_for
from tests.streams.worker_process import WorkerProcess

pytestmark = pytest.mark.integration


def test_killed_worker_is_replaced_without_duplicate_or_missing_requests(kafka_bootstrap, unique):
    """SIGKILL mid-session; a new worker recovers the tables from their changelogs.

    Live clock (rate 1) and turns published at full speed, so only turns move the
    boundaries and the test decides exactly where the crash falls: after early,
    before middle. Turns every 10 s of a 3-minute plan; one turn past the plan.
    """
    app_id = f"it-crash-{unique}"
    sid = f"crash-{unique}"
    args = ("--clock-rate", "1", "--lateness", "5", "--grace", "0", "--signal-interval", "0")
    started, turns, ended = session(sid, start=datetime.now(timezone.utc) - timedelta(minutes=5),
                                    planned_minutes=3, turns=19, gap_s=10)
    events = events_of(started, turns, ended)
    part1 = [e for e in events if e.at <= started.at + timedelta(seconds=75)]  # turn 6 at 70 s crosses early
    part2 = [e for e in events[len(part1):] if e.at <= started.at + timedelta(seconds=100)]
    part3 = events[len(part1) + len(part2):]
    first = WorkerProcess(kafka_bootstrap, app_id, *args).start()
    try:
        publish(part1, kafka_bootstrap, speed=math.inf, progress=False)
        requests_for(kafka_bootstrap, sid, expect=1)
        time.sleep(2.5)  # past the 1 s commit interval
        assert [r.phase for r in settled_requests_for(kafka_bootstrap, sid)] == ["early"], "\n".join(first.lines)
    finally:
        assert first.kill() == -9
    publish(part2, kafka_bootstrap, speed=math.inf, progress=False)  # the session goes on while no worker runs
    second = WorkerProcess(kafka_bootstrap, app_id, *args).start(timeout=120)
    try:
        ready = second.wait_for("processor ready", 1)
        assert int(ready.rsplit(",", 1)[1].split()[0]) >= 1, ready  # state came back from the changelog
        publish(part3, kafka_bootstrap, speed=math.inf, progress=False)
        got = requests_for(kafka_bootstrap, sid)
        assert [r.phase for r in got] == ["early", "middle", "late"], "\n".join(second.lines)
        assert cuts(got) == expected_cuts(started.at, turns, 3)
        assert cuts(got)["early"] == [0, 1, 2, 3, 4] and cuts(got)["late"][-1] == 16  # turn 17 is at 180 s
        assert len(settled_requests_for(kafka_bootstrap, sid)) == 3
    finally:
        assert second.stop() == 0


def _tombstone_text(bootstrap: str, app_id: str, sid: str, turn_id: int) -> None:
    """Delete one turn's text from the ``texts`` changelog, as a crash between two changelog writes leaves it."""
    from kafka import KafkaProducer

    from tests.kafka_helpers import consume_all_sync

    topic, key = f"{app_id}-texts-changelog", orjson.dumps(f"{sid}:{turn_id}")
    found = consume_all_sync(bootstrap, topic, where=lambda r: r.key == key, idle=2.0)
    assert found, "the text was never written to the changelog"
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        p.send(topic, key=key, value=None, partition=found[-1].partition).get(30)
    finally:
        p.close()


def test_a_redelivered_turn_whose_text_was_lost_in_the_crash_gets_it_back(kafka_bootstrap, unique):
    """The state's changelog record landed, the text's did not; the turn comes again after the restart.

    The two changelogs are separate partitions with their own produce in flight, so
    SIGKILL can leave the session state knowing a turn whose text never reached its
    changelog. The redelivered turn is then a duplicate for the state; before the fix its
    text stayed missing and every later phase was scored without it (CI, e2e fault run).
    """
    app_id = f"it-lost-{unique}"
    sid = f"lost-{unique}"
    args = ("--clock-rate", "1", "--lateness", "5", "--grace", "0", "--signal-interval", "0")
    started, turns, ended = session(sid, start=datetime.now(timezone.utc) - timedelta(minutes=5),
                                    planned_minutes=3, turns=19, gap_s=10)
    events = events_of(started, turns, ended)
    part1 = [e for e in events if e.at <= started.at + timedelta(seconds=75)]
    rest = events[len(part1):]
    first = WorkerProcess(kafka_bootstrap, app_id, *args).start()
    try:
        publish(part1, kafka_bootstrap, speed=math.inf, progress=False)
        requests_for(kafka_bootstrap, sid, expect=1)
        time.sleep(2.5)  # past the 1 s commit interval: turn 3 is not read again by itself
    finally:
        assert first.kill() == -9
    _tombstone_text(kafka_bootstrap, app_id, sid, 3)
    again = next(e for e in part1 if getattr(e.event, "turn_id", None) == 3)
    second = WorkerProcess(kafka_bootstrap, app_id, *args).start(timeout=120)
    try:
        publish([again, *rest], kafka_bootstrap, speed=math.inf, progress=False)
        got = requests_for(kafka_bootstrap, sid)
        assert [r.phase for r in got] == ["early", "middle", "late"], "\n".join(second.lines)
        assert cuts(got) == expected_cuts(started.at, turns, 3)  # turn 3 is in the middle and late transcripts
    finally:
        assert second.stop() == 0
