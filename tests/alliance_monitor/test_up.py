"""The supervisor with real child processes: restart on crash, stop leaves nothing running."""

from __future__ import annotations

import json
import os
import time

import pytest

from alliance_monitor.supervision import RestartPolicy, State
from alliance_monitor.up import ChildSpec, Supervisor

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_crashing_child_is_restarted_and_then_marked_failed(tmp_path):
    messages: list[str] = []
    sup = Supervisor([ChildSpec("crasher", ["replay", str(tmp_path / "missing.jsonl")])], tmp_path / "logs",
                     policy=RestartPolicy(initial_delay_s=0.1, max_delay_s=0.2, max_restarts=2, window_s=60),
                     say=messages.append)
    sup.start()
    deadline = time.monotonic() + 60
    while not sup.failed() and time.monotonic() < deadline:
        sup.step()
        time.sleep(0.05)
    sup.stop()
    assert sup.failed() == ["crasher"]
    assert sup.children[0].health.restarts == 2
    assert any("restarted crasher" in m for m in messages)
    assert any("crasher failed" in m for m in messages)
    assert "no such file" in (tmp_path / "logs" / "crasher.log").read_text()


def test_stop_terminates_every_child_and_its_group(tmp_path):
    env = {"ALLIANCE_STATE_DIR": str(tmp_path / "state"), "KAFKA_BOOTSTRAP": ""}
    sup = Supervisor([ChildSpec("broker", ["broker", "--port", "0", "--no-topics"], env, grace_s=0.5)],
                     tmp_path / "logs", say=lambda m: None)
    sup.start()
    assert sup.wait_healthy(30)
    child = sup.children[0]
    pid = child.proc.pid
    # the broker child spawns the tansu binary in its own process group; wait until it is up
    # and take the tansu pid from the state file the broker command writes
    state = tmp_path / "state" / "broker.json"
    deadline = time.monotonic() + 20
    while "broker ready" not in (tmp_path / "logs" / "broker.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    tansu_pid = int(json.loads(state.read_text())["pid"])
    assert tansu_pid != pid and _alive(tansu_pid)
    with open(f"/proc/{tansu_pid}/cmdline", "rb") as f:
        assert b"tansu" in f.read()
    sup.stop()
    assert child.health.state == State.STOPPED
    assert not _alive(pid)
    # the grandchild went with it: no tansu process of this test is left behind
    deadline = time.monotonic() + 10
    while _alive(tansu_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(tansu_pid)
    # nor any other tansu process started for this test
    for proc in os.listdir("/proc"):
        if proc.isdigit():
            try:
                with open(f"/proc/{proc}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            assert not (b"tansu" in cmd and str(tmp_path).encode() in cmd)


def test_up_can_publish_survey_links_as_one_more_part():
    import argparse

    from alliance_monitor.commands.up import add_up_arguments
    from alliance_monitor.up import default_specs

    p = argparse.ArgumentParser()
    add_up_arguments(p)
    args = p.parse_args(["--without", "scorer", "--survey-links", "https://monitor.example.org/"])
    specs = {s.name: s for s in default_specs(args, "127.0.0.1:9")}
    argv = specs["survey-links"].argv
    assert argv[:4] == ["survey", "publish-links", "--base-url", "https://monitor.example.org"]
    assert argv[4] == "--health-port" and specs["survey-links"].probe is not None  # probed like every part
    assert "survey-links" not in {s.name for s in default_specs(p.parse_args([]), "127.0.0.1:9")}


def test_a_part_that_failed_repeatedly_recovers_when_its_dependency_returns(tmp_path):
    """A short outage (here: the broker's port is taken) makes a part crash again and again.
    The supervisor reports it failed but keeps retrying, and it is healthy once the port is free."""
    import socket

    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    env = {"ALLIANCE_STATE_DIR": str(tmp_path / "state"), "KAFKA_BOOTSTRAP": ""}
    messages: list[str] = []
    sup = Supervisor([ChildSpec("broker", ["broker", "--port", str(port), "--no-topics"], env, grace_s=5.0)],
                     tmp_path / "logs", say=messages.append,
                     policy=RestartPolicy(initial_delay_s=0.1, max_delay_s=0.2, max_restarts=2, window_s=600,
                                          retry_failed_s=0.5))
    child = sup.children[0]
    sup.start()
    try:
        deadline = time.monotonic() + 120
        seen_failed = False
        while time.monotonic() < deadline and len(child.health.crashes) < 4:
            sup.step()
            seen_failed |= child.health.state == State.FAILED
            time.sleep(0.05)
        assert len(child.health.crashes) >= 4 and seen_failed  # over the limit: reported failed...
        blocker.close()  # ...the dependency comes back
        while time.monotonic() < deadline and child.health.state != State.HEALTHY:
            sup.step()
            time.sleep(0.05)
        assert child.health.state == State.HEALTHY, child.health.detail  # ...and it was still being retried
        assert any("retrying every" in m for m in messages)
    finally:
        blocker.close()
        sup.stop()


def test_a_part_without_http_is_healthy_only_once_its_log_says_ready(tmp_path):
    env = {"ALLIANCE_STATE_DIR": str(tmp_path / "state"), "KAFKA_BOOTSTRAP": ""}
    argv = ["broker", "--port", "0", "--no-topics"]
    sup = Supervisor([ChildSpec("ready", argv, env, ready_line="broker ready"),
                      ChildSpec("never", argv, {**env, "ALLIANCE_STATE_DIR": str(tmp_path / "state2")},
                                ready_line="a line this part never prints")],
                     tmp_path / "logs", say=lambda m: None)
    sup.start()
    try:
        ready, never = sup.children
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and ready.health.state != State.HEALTHY:
            sup.step()
            time.sleep(0.1)
        assert ready.health.state == State.HEALTHY
        assert never.proc.poll() is None and never.health.state == State.STARTING  # running is not ready
        assert "not ready yet" in never.health.detail
    finally:
        sup.stop()


def test_every_part_is_probed_through_its_healthz():
    """One health mechanism: `up` gives processor, scorer and sink a --health-port and
    probes that /healthz (503 until ready, then 200), like the gateway's."""
    import argparse

    from alliance_monitor.commands.up import add_up_arguments
    from alliance_monitor.health import HealthServer
    from alliance_monitor.up import default_specs

    p = argparse.ArgumentParser()
    add_up_arguments(p)
    specs = {s.name: s for s in default_specs(p.parse_args([]), "127.0.0.1:9")}
    for name in ("processor", "scorer", "sink"):
        argv = specs[name].argv
        port = int(argv[argv.index("--health-port") + 1])
        assert specs[name].probe is not None and specs[name].ready_line is None
        assert specs[name].probe()[0] is False  # nothing listens yet
        server = HealthServer(name, port, host="127.0.0.1")
        try:
            assert specs[name].probe() == (False, "HTTPError")  # 503: listening, not ready
            server.set_ready()
            assert specs[name].probe() == (True, "HTTP 200")
        finally:
            server.close()


def test_up_lists_every_part_where_status_finds_its_metrics(tmp_path):
    """`up` writes parts.json (name -> the URL whose /healthz and /metrics the part serves); `status` reads it."""
    import argparse
    import urllib.request

    from alliance_monitor.commands.up import add_up_arguments
    from alliance_monitor.health import HealthServer
    from alliance_monitor.up import clear_parts, default_specs, read_parts, write_parts

    p = argparse.ArgumentParser()
    add_up_arguments(p)
    specs = default_specs(p.parse_args(["--port", "8799", "--survey-links", "https://m.example.org"]), "127.0.0.1:9")
    path = tmp_path / "parts.json"
    write_parts(path, specs)
    parts = read_parts(path)
    assert set(parts) == {"processor", "scorer", "sink", "gateway", "survey-links"}
    assert parts["gateway"] == "http://127.0.0.1:8799"
    sink = next(s for s in specs if s.name == "sink")
    server = HealthServer("sink", int(sink.argv[sink.argv.index("--health-port") + 1]), host="127.0.0.1")
    try:
        with urllib.request.urlopen(parts["sink"] + "/metrics", timeout=5) as resp:
            assert resp.status == 200 and b"python_gc" in resp.read()
    finally:
        server.close()
    clear_parts(path)
    assert not path.exists() and read_parts(path) == {}


def test_up_runs_replicas_of_a_part_in_one_group_and_gateways_on_consecutive_ports():
    import argparse

    from alliance_monitor.commands.up import add_up_arguments
    from alliance_monitor.up import default_specs

    p = argparse.ArgumentParser()
    add_up_arguments(p)
    args = p.parse_args(["--processors", "2", "--scorers", "3", "--gateways", "2", "--port", "8801"])
    specs = {s.name: s for s in default_specs(args, "127.0.0.1:9")}
    assert set(specs) == {"processor-1", "processor-2", "scorer-1", "scorer-2", "scorer-3", "sink", "gateway-1",
                          "gateway-2"}
    # the same command (one consumer group each), each with its own health port
    assert specs["processor-1"].argv[:-1] == specs["processor-2"].argv[:-1]
    assert specs["processor-1"].health_url != specs["processor-2"].health_url
    assert {specs[f"gateway-{i}"].health_url for i in (1, 2)} == {"http://127.0.0.1:8801", "http://127.0.0.1:8802"}
    assert specs["gateway-2"].argv[-2:] == ["--port", "8802"]
    single = {s.name for s in default_specs(p.parse_args([]), "127.0.0.1:9")}
    assert single == {"processor", "scorer", "sink", "gateway"}  # one of each keeps the plain names


def test_a_bad_replica_count_is_one_line(capsys):
    from alliance_monitor.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["up", "--processors", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--processors" in err[-1] and "Traceback" not in "\n".join(err)


def test_a_part_unhealthy_past_its_grace_is_restarted(tmp_path):
    """Issue 21: `up` reported a part unhealthy and left it so. The fault: its health probe fails (as the
    gateway's /healthz does while Kafka does not answer) while the process keeps running."""
    env = {"ALLIANCE_STATE_DIR": str(tmp_path / "state"), "KAFKA_BOOTSTRAP": ""}
    health = {"ok": True}
    messages: list[str] = []
    spec = ChildSpec("broker", ["broker", "--port", "0", "--no-topics"], env,
                     probe=lambda: (health["ok"], "ok" if health["ok"] else "HTTP 503"))
    sup = Supervisor([spec], tmp_path / "logs", say=messages.append,
                     policy=RestartPolicy(unhealthy_grace_s=0.5, max_unhealthy_grace_s=1.0))
    child = sup.children[0]
    sup.start()
    try:
        assert sup.wait_healthy(30)
        first = child.proc.pid
        health["ok"] = False  # the fault: the part says it is unhealthy
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and child.health.restarts == 0:
            sup.step()
            time.sleep(0.05)
        assert child.health.restarts == 1 and child.proc is not None and child.proc.pid != first
        assert not _alive(first)
        assert any("restarted broker: unhealthy (HTTP 503)" in m for m in messages)
        health["ok"] = True  # the dependency is back: healthy, no further restart
        assert sup.wait_healthy(30) and child.health.restarts == 1 and child.health.unhealthy_restarts == 0
    finally:
        sup.stop()
