"""Crash recovery: SIGKILL a real worker mid-session; its successor recovers the tables from the changelogs.

In its own module because every processor worker reads every session: the
shared worker of test_processor.py (torn down at the end of that module) would
otherwise emit the same requests and hide a duplicate or a missing one.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.streams.session_factory import expected_cuts, session
from tests.streams.test_processor import cuts, events_of, requests_for, settled_requests_for
from tests.streams.worker_process import WorkerProcess
from streams.replay import publish

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
