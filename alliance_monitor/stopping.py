"""How the long-running commands stop: SIGINT or SIGTERM ends a part cleanly, the same way in each.

Why one helper: an orchestrator stops a part with SIGTERM and waits; the part must
then say it is draining (its ``/healthz`` turns 503, so no new traffic comes),
finish the batch in progress, commit it and exit. The asynchronous parts
(``sink``, ``score``, ``ingest``, ``survey publish-links``, ``gateway``) get a stop
event from :func:`stop_on_signals`; the synchronous supervisors (``broker``,
``up``, ``demo``), where Ctrl-C arrives as KeyboardInterrupt, hand
:func:`stop_on_sigterm` what to call.
"""

from __future__ import annotations

__layer__ = "cli"

import asyncio
import signal
from typing import Callable, Protocol


class Draining(Protocol):
    def set_draining(self) -> None: ...


def stop_on_signals(health: Draining | None = None) -> asyncio.Event:
    """An event set on SIGINT or SIGTERM, after marking ``health`` draining; call it inside the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:  # finish the batch in progress, commit it, exit
        if health:
            health.set_draining()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    return stop


def stop_on_sigterm(stop: Callable[[], object]) -> None:
    """Call ``stop()`` on SIGTERM (Ctrl-C stays a KeyboardInterrupt the caller catches)."""
    signal.signal(signal.SIGTERM, lambda *_: stop())
