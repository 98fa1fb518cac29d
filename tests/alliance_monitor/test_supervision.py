"""Restart policy and health states of supervised parts (pure)."""

from alliance_monitor.supervision import ChildHealth, RestartPolicy, State, all_healthy, status_line


def test_backoff_doubles_and_caps():
    p = RestartPolicy(initial_delay_s=1, max_delay_s=10)
    assert [p.delay(n) for n in range(0, 7)] == [0, 1, 2, 4, 8, 10, 10]


def test_crash_schedules_restart_then_gives_up():
    h = ChildHealth("scorer", RestartPolicy(initial_delay_s=1, max_restarts=2, window_s=60))
    h.started(0)
    assert h.exited(1, now=10) == State.BACKOFF and h.restart_at == 11
    assert not h.due(10.5) and h.due(11)
    h.restarting()
    h.started(11)
    assert h.exited(1, now=12) == State.BACKOFF and h.restart_at == 14
    assert h.exited(1, now=15) == State.FAILED
    assert "3 times" in h.detail and not h.due(1000)


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
