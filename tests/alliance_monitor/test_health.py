"""Each part's /healthz (alliance_monitor/health.py): ready, draining, failing while it runs but cannot do its
work, and its broker (the watch, pure, and a real outage)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from alliance_monitor.health import Dependency, GroupMembership, HealthServer, kafka_answers, start_health
from streams.processor import DeadLetterStreak


def test_a_dependency_is_a_problem_only_after_it_went_silent_for_the_stale_time():
    dep = Dependency("kafka", last_ok=100.0, stale_s=6)
    assert dep.problem(106) is None
    assert dep.problem(107) == "kafka: no answer for 7 s"
    dep.observe(False, 107)
    assert dep.problem(108) is not None
    dep.observe(True, 108)
    assert dep.problem(108) is None


def test_a_group_member_is_a_problem_until_it_joined_and_during_a_long_rebalance():
    m = GroupMembership("alliance-store", since=100.0, stale_s=6)
    assert m.problem(100) == "consumer group alliance-store: not joined yet"
    assert m.problem(500) == "consumer group alliance-store: not joined yet"  # no grace before the first join
    m.update(True, 500)
    assert m.problem(500) is None
    m.update(False, 600)  # a rebalance took the assignment away
    assert m.problem(606) is None  # a short rebalance is not an outage
    assert m.problem(607) == "consumer group alliance-store: rebalancing for 7 s"
    m.update(True, 608)
    assert m.problem(700) is None


def test_the_store_check_answers_for_a_real_database_and_not_for_a_closed_port(postgres_url):
    from store.db import make_engine, store_answers

    live = make_engine(postgres_url)
    dead = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{_closed_port()}/test")
    try:
        assert store_answers(live)
        assert not store_answers(dead)
    finally:
        live.dispose()
        dead.dispose()


def _closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _until(port: int, want: int, within: float) -> dict:
    start = time.monotonic()
    while True:
        status, body = _health(port)
        if status == want:
            return body
        assert time.monotonic() - start < within, f"/healthz still {status} after {within} s: {body}"
        time.sleep(0.2)


@pytest.mark.integration
def test_a_parts_health_says_503_within_10_s_of_a_kafka_outage_and_200_after():
    """Issue 21: every part's /healthz said ok through a Kafka outage. The outage: the part's own broker is
    stopped (SIGSTOP) for a few seconds."""
    from streams.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        assert kafka_answers(broker.bootstrap)
        health = HealthServer("sink", 0, host="127.0.0.1")
        try:
            health.watch("kafka", lambda: kafka_answers(broker.bootstrap), every_s=0.5, stale_s=3)
            health.set_ready()
            _until(health.port, 200, 10)
            os.kill(broker.process.pid, signal.SIGSTOP)  # fault injection
            try:
                body = _until(health.port, 503, 10)
                assert body["status"].startswith("kafka: no answer"), body
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
            _until(health.port, 200, 10)
        finally:
            health.close()

def _get(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_failing_part_answers_503_with_the_reason_until_it_recovers():
    health = start_health("processor", 0)
    try:
        assert _get(health.port)[0] == 503  # starting
        health.set_ready()
        assert _get(health.port) == (200, {"part": "processor", "status": "ok"})
        health.set_failing("the last 3 chat records went to the dead-letter topics")
        assert _get(health.port) == (503, {"part": "processor",
                                           "status": "the last 3 chat records went to the dead-letter topics"})
        health.set_failing(None)
        assert _get(health.port)[0] == 200
    finally:
        health.close()


def test_a_streak_of_dead_letters_fails_once_at_the_limit_and_one_success_ends_it():
    streak = DeadLetterStreak(3)
    assert [streak.failed() for _ in range(5)] == [False, False, True, False, False]
    assert streak.succeeded() is True and streak.run == 0
    assert streak.failed() is False and streak.succeeded() is False  # a lone bad record is input, not failure


def test_liveness_is_alive_while_draining_and_not_while_failing():
    health = start_health("sink", 0)
    try:
        def live() -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health.port}/livez", timeout=5) as resp:
                    return resp.status
            except urllib.error.HTTPError as err:
                return err.code

        assert live() == 200  # starting is alive (the startup probe waits for ready)
        health.set_ready()
        health.set_draining()
        assert live() == 200 and _get(health.port)[0] == 503
        health.set_failing("every record dead-lettered")
        assert live() == 503
    finally:
        health.close()
