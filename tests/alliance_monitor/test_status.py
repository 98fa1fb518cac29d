"""``alliance-monitor status`` against a real running part (the sink, cheap to run) and the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from alliance_monitor.up import ChildSpec, read_parts, write_parts
from streams.contracts import SessionEvent
from streams.topics import CHAT_SESSIONS

from .test_parts_run_like_services import ROOT, Part, _free_port

pytestmark = pytest.mark.integration


def status(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_", "KAFKA_"))}
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "status", *args], env=clean,
                          capture_output=True, text=True, timeout=120)


def sessions(n: int, tag: str) -> list[SessionEvent]:
    from datetime import datetime, timezone

    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    return [SessionEvent(session_id=f"st{i}-{tag}", kind="started", at=at, counselor_id="c-1", group="g")
            for i in range(n)]


def produce_one_by_one(bootstrap: str, events: list[SessionEvent]) -> None:
    from kafka import KafkaProducer

    from streams.codec import encode

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for ev in events:
            p.send(CHAT_SESSIONS.name, key=ev.session_id.encode(), value=encode(ev))
            p.flush()  # one record per batch: exact end offsets on the embedded broker
    finally:
        p.close()


def test_status_prints_a_running_sinks_figures_and_its_groups_lag(private_kafka, tmp_path):
    port = _free_port()
    group = "alliance-store"
    part = Part("sink", "--health-port", str(port), "--db", f"sqlite:///{tmp_path / 'store.db'}",
                KAFKA_BOOTSTRAP=private_kafka)
    try:
        assert part.health(port) == 200
        produce_one_by_one(private_kafka, sessions(5, "a"))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            out = status("--parts", f"sink={url}", "--groups", group, "--json", KAFKA_BOOTSTRAP=private_kafka)
            assert out.returncode == 0, out.stderr
            report = json.loads(out.stdout)
            sink = report["parts"][0]
            if sink["figures"].get("records", 0) >= 5 and report["groups"][group]["partitions"] and \
                    report["groups"][group]["lag"] == 0:
                break
            assert time.monotonic() < deadline, report
            time.sleep(0.5)
        assert sink["name"] == "sink" and sink["ready"] is True and sink["error"] is None
        assert sink["figures"]["rows"] >= 5 and sink["figures"]["lag"] == 0
        assert report["broker"] == private_kafka

        table = status("--parts", f"sink={url}", "--groups", group, KAFKA_BOOTSTRAP=private_kafka)
        assert table.returncode == 0, table.stderr
        assert table.stdout.splitlines()[0].split()[:2] == ["sink", "ready"]
        assert "records " in table.stdout and "rows " in table.stdout and "lag 0" in table.stdout
        assert f"{group}" in table.stdout

        # discovery: the parts file `up` writes (same functions), read when --parts is not given
        state = tmp_path / "state"
        state.mkdir()
        write_parts(state / "parts.json", [ChildSpec("sink", ["sink"], health_url=url)])
        assert read_parts(state / "parts.json") == {"sink": url}
        found = status("--no-broker", ALLIANCE_STATE_DIR=str(state))
        assert found.returncode == 0 and found.stdout.startswith("sink"), found.stdout + found.stderr
    finally:
        assert part.terminate() == 0

    down = status("--parts", f"sink={url}", "--no-broker")  # the part is gone: said, and a non-zero exit
    assert down.returncode == 1 and "unreachable" in down.stdout


@pytest.mark.parametrize("bad", ["foo", "http://127.0.0.1", "ftp://x:1", "sink=", ","])
def test_a_bad_parts_value_is_one_line_and_exit_2(bad):
    out = status("--parts", bad, "--no-broker")
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "--parts must" in out.stderr, out.stderr


def test_no_parts_and_no_broker_is_one_line(tmp_path):
    out = status("--no-broker", ALLIANCE_STATE_DIR=str(tmp_path))
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "--parts" in out.stderr


def test_status_shows_each_topic_off_the_partition_count_with_its_fix(tmp_path):
    """Issue 22: only `topics --check` showed partition mismatches; `status` says them too, one line each."""
    from streams.broker import EmbeddedBroker, ensure_topics
    from streams.contracts import ChatTurn
    from streams.topics import TopicSpec

    state = tmp_path / "state"
    state.mkdir()
    with EmbeddedBroker() as broker:  # its own: its topics are made to disagree
        env = dict(KAFKA_BOOTSTRAP=broker.bootstrap, ALLIANCE_PARTITIONS="3", ALLIANCE_STATE_DIR=str(state))
        assert subprocess.run([sys.executable, "-m", "alliance_monitor.cli", "topics", "--create"],
                              env=dict(os.environ, PYTHONPATH=str(ROOT), **env), capture_output=True,
                              timeout=120).returncode == 0
        ok = status("--groups", "alliance-store", **env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "partitions: every existing topic has 3" in ok.stdout

        changelog = "alliance-processor-sessions-changelog"  # left at 2 by an earlier run
        ensure_topics(broker.bootstrap, [TopicSpec(changelog, ChatTurn, 3600_000, False, "left", partitions=2)])
        off = status("--groups", "alliance-store", **env)
        lines = [ln for ln in off.stdout.splitlines() if ln.startswith("partitions:")]
        assert off.returncode == 1, off.stdout + off.stderr
        assert lines == [(f"partitions: {changelog} has 2, not 3 (ALLIANCE_PARTITIONS); fix: kafka-topics.sh "
                          f"--delete --topic {changelog} with the processor stopped (it recreates it with 3; "
                          f"the sessions in flight lose their state)")], off.stdout

        raised = status("--groups", "alliance-store", "--json", **dict(env, ALLIANCE_PARTITIONS="4"))
        report = json.loads(raised.stdout)["partitions"]
        assert report["want"] == 4 and report["mismatched"]["chat.turns"] == 3 and report["mismatched"][changelog] == 2
        table = status("--groups", "alliance-store", **dict(env, ALLIANCE_PARTITIONS="4")).stdout
        assert ("partitions: chat.turns has 3, not 4 (ALLIANCE_PARTITIONS); fix: kafka-topics.sh --alter "
                "--topic chat.turns --partitions 4") in table
