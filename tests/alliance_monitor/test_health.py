"""A part's /healthz: ready, draining, and failing while it runs but cannot do its work."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from alliance_monitor.health import start_health
from streams.processor import DeadLetterStreak


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
