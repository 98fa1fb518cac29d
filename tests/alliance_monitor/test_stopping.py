"""The long-running commands' one way to stop (alliance_monitor/stopping.py): a signal drains, then stops."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from alliance_monitor.stopping import stop_on_signals, stop_on_sigterm


class Health:
    def __init__(self) -> None:
        self.draining = False

    def set_draining(self) -> None:
        self.draining = True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_marks_the_part_draining_then_sets_the_stop_event(sig):
    health = Health()

    async def main() -> bool:
        stop = stop_on_signals(health)
        assert not stop.is_set() and not health.draining
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), 5)
        return health.draining

    assert asyncio.run(main())  # the loop's handlers go with the loop


def test_without_a_health_endpoint_the_event_is_set_all_the_same():
    async def main() -> None:
        stop = stop_on_signals(None)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)

    asyncio.run(main())


def test_sigterm_calls_the_synchronous_stop():
    previous = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    try:
        stop_on_sigterm(stop.set)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        signal.signal(signal.SIGTERM, previous)
