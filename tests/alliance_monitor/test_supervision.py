"""Restart policy and health states of supervised parts (pure)."""

from alliance_monitor.supervision import ChildHealth, RestartPolicy, State, all_healthy, status_line


def test_backoff_doubles_and_caps():
    p = RestartPolicy(initial_delay_s=1, max_delay_s=10)
    assert [p.delay(n) for n in range(7)] == [0, 1, 2, 4, 8, 10, 10]


def test_crash_schedules_restart_then_gives_up_when_asked_to():
    h = ChildHealth("scorer", RestartPolicy(initial_delay_s=1, max_restarts=2, window_s=60, retry_failed_s=None))
    h.started(0)
    assert h.exited(1, now=10) == State.BACKOFF and h.restart_at == 11
    assert not h.due(10.5) and h.due(11)
    h.restarting()
    h.started(11)
    assert h.exited(1, now=12) == State.BACKOFF and h.restart_at == 14
    assert h.exited(1, now=15) == State.FAILED
    assert "3 times" in h.detail and not h.due(1000)


def test_a_failed_part_is_still_retried_and_recovers():
    """Ten crashes in a row (a dependency is down): reported failed, retried every minute, never abandoned."""
    h = ChildHealth("processor", RestartPolicy(initial_delay_s=1, max_restarts=5, window_s=300))
    now = 0.0
    for _ in range(10):
        h.started(now)
        last_exit = now + 1
        h.exited(1, now=last_exit)
        assert h.restart_at is not None
        now = h.restart_at
        assert h.due(now)
        h.restarting()
    assert h.state == State.FAILED and "retrying every 60s" in h.detail
    assert h.restart_at == last_exit + 60  # a minute between attempts once failed
    h.started(now)
    assert h.probe(True) and h.state == State.HEALTHY and h.restarts == 10


def test_old_crashes_leave_the_window():
    h = ChildHealth("sink", RestartPolicy(max_restarts=1, window_s=60))
    assert h.exited(1, now=0) == State.BACKOFF
    assert h.exited(1, now=100) == State.BACKOFF  # the first crash is forgotten
    assert h.exited(1, now=110) == State.FAILED


def test_probes_move_between_states_and_report_changes():
    h = ChildHealth("gateway")
    h.started(0)
    assert h.probe(False, "ConnectionRefusedError") is False  # still starting
    assert h.state == State.STARTING
    assert h.probe(True) is True and h.state == State.HEALTHY
    assert h.probe(True) is False
    assert h.probe(False, "HTTP 500") is True and h.state == State.UNHEALTHY
    assert h.detail == "HTTP 500"
    assert h.probe(True) is True and h.state == State.HEALTHY


def test_status_line_puts_unhealthy_first():
    a, b, c = ChildHealth("processor"), ChildHealth("gateway"), ChildHealth("scorer")
    for x in (a, b, c):
        x.started(0)
        x.probe(True)
    b.probe(False, "HTTP 503")
    c.exited(137, now=1)
    line = status_line([a, b, c])
    assert line.index("gateway: unhealthy (HTTP 503)") < line.index("scorer: backoff") < line.index("processor")
    assert not all_healthy([a, b, c]) and all_healthy([a])


def test_a_part_unhealthy_past_its_grace_is_due_a_restart_with_a_growing_capped_grace():
    """Issue 21: `up` never restarted a part that it itself reported unhealthy."""
    h = ChildHealth("gateway", RestartPolicy(unhealthy_grace_s=10, max_unhealthy_grace_s=35))
    h.started(0)
    h.probe(True, now=1)
    h.probe(False, "HTTP 503", now=100)
    assert not h.stuck(109) and h.stuck(110)
    graces = []
    now = 110.0
    for _ in range(4):  # restarted, still unhealthy once running: each grace doubles, up to the cap
        h.restarting_unhealthy()
        h.started(now)
        h.probe(True, now=now + 1)  # healthy again for a moment: the next grace starts over
        h.probe(False, "HTTP 503", now=now + 2)
        start = now + 2
        while not h.stuck(now):
            now += 1
        graces.append(now - start)
    assert graces == [10, 10, 10, 10]
    flapping = ChildHealth("sink", RestartPolicy(unhealthy_grace_s=10, max_unhealthy_grace_s=35))
    flapping.started(0)
    flapping.probe(True, now=0)
    flapping.probe(False, "HTTP 503", now=1)
    waits = []
    at = 1.0
    for _ in range(4):  # never healthy again: 10, 20, 35 (capped), 35
        start = at
        while not flapping.stuck(at):
            at += 1
        waits.append(at - start)
        flapping.restarting_unhealthy()
        flapping.state, flapping.unhealthy_since = State.UNHEALTHY, at  # came up unhealthy at once
    assert waits == [10, 20, 35, 35] and flapping.restarts == 4


def test_a_starting_part_or_a_policy_without_a_grace_is_never_restarted_for_health():
    h = ChildHealth("scorer", RestartPolicy(unhealthy_grace_s=None))
    h.started(0)
    h.probe(True, now=0)
    h.probe(False, "HTTP 503", now=1)
    assert not h.stuck(10_000)
    s = ChildHealth("scorer", RestartPolicy(unhealthy_grace_s=1))
    s.started(0)
    s.probe(False, "loading the model", now=1)  # still starting: its start-up may take long
    assert s.state == State.STARTING and not s.stuck(10_000)
