"""``GET /healthz`` and ``GET /metrics`` for the parts that serve no HTTP of their own.

Why: an orchestrator (compose healthcheck, Kubernetes probes) needs a yes/no
per part. The answer is 200 once the part is ready (the processor has
recovered its tables, the scorer has loaded its model, the sink is consuming)
and 503 before that and while it drains after SIGTERM, so traffic and restarts
follow the truth. A daemon thread, so it keeps answering while the part's own
event loop is busy; it never sees a record.

Dependencies: a part's ``/healthz`` also answers 503 while a dependency it watches
(:meth:`HealthServer.watch`; every Kafka part watches its broker) has not answered
for ``stale_s`` seconds, naming it ("kafka: no answer for 8 s"). Why: a part whose
broker is gone stays "ready" — its client library retries quietly — and a probe that
says ok then hides the outage from the orchestrator and from ``up``. The sink also
watches its store (:meth:`HealthServer.watch_store`: ``SELECT 1`` every 2 s, 503
``store: no answer for N s`` after ``stale_s``), so a database outage, during which
it retries and commits nothing, shows.

Consumer groups: a part that consumes in a group (processor, scorer, sink) is not
healthy before its member has joined the group and holds its assignment
(:meth:`HealthServer.watch_group`: 503 ``consumer group G: not joined yet``), nor
while a rebalance lasts longer than ``stale_s``. Why: a sink that answered ok
~5 s before it had partitions would be called ready while it read nothing.

``/metrics`` is the part's Prometheus registry (docs/metrics.md): counters and
histograms the part's shell keeps, read here from another thread (the client
library locks its values). Served on the same internal port as the probe, which
compose and Kubernetes never publish: the figures say how busy the service is.
"""

from __future__ import annotations

__layer__ = "cli"

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

#: seconds a watched dependency may go without answering before /healthz says 503
STALE_S = 6.0
#: seconds between two checks of a watched dependency
CHECK_EVERY_S = 2.0


@dataclass
class Dependency:
    """One watched dependency: when it last answered, and whether that is too long ago (pure: time is given)."""

    name: str
    last_ok: float
    stale_s: float = STALE_S

    def observe(self, ok: bool, now: float) -> None:
        if ok:
            self.last_ok = now

    def problem(self, now: float) -> str | None:
        silent = now - self.last_ok
        return f"{self.name}: no answer for {silent:.0f} s" if silent > self.stale_s else None


@dataclass
class GroupMembership:
    """Whether this part's consumer-group member holds its assignment (pure: time is given).

    ``update(True)`` after each assignment (an empty one too: a replica beyond the
    partition count has joined and is idle, not broken), ``update(False)`` when a
    rebalance takes the assignment away. Written from the part's event loop, read
    by the probe's thread: single attribute writes.
    """

    group: str
    since: float
    stale_s: float = STALE_S
    joined: bool = False
    ever_joined: bool = False

    def update(self, joined: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if joined:
            self.joined = self.ever_joined = True
        elif self.joined:
            self.joined, self.since = False, now

    def problem(self, now: float) -> str | None:
        if self.joined:
            return None
        if not self.ever_joined:
            return f"consumer group {self.group}: not joined yet"
        silent = now - self.since
        return f"consumer group {self.group}: rebalancing for {silent:.0f} s" if silent > self.stale_s else None


def kafka_answers(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """Does the first bootstrap broker answer? A Kafka ApiVersions request over plaintext; with TLS or SASL
    configured, a TCP connect (the handshake is the client library's)."""
    import socket

    from streams.broker import api_versions_ok, split_bootstrap
    from streams.kafka_security import security_from_env

    host, port = split_bootstrap(bootstrap)
    if security_from_env().protocol == "PLAINTEXT":
        return api_versions_ok(host, port, timeout=timeout_s)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def metrics_body() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class HealthServer:
    def __init__(self, part: str, port: int, host: str = "0.0.0.0"):
        self.part = part
        self.ready = threading.Event()
        self.detail = "starting"
        self.dependencies: list[Dependency] = []
        self.groups: list[GroupMembership] = []
        self._closed = threading.Event()
        self.failing: str | None = None  # set while the part runs but cannot do its work
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._send(200, *metrics_body())
                    return
                if path == "/livez":  # liveness: the process serves and is not failing every record
                    alive = health.failing is None
                    body = json.dumps({"part": health.part, "status": "alive" if alive else health.failing}).encode()
                    self._send(200 if alive else 503, body, "application/json")
                    return
                if path not in ("/healthz", "/readyz"):
                    self.send_error(404)
                    return
                problems = ([health.failing] if health.failing else []) + health.problems()
                ok = health.ready.is_set() and not problems
                status = "ok" if ok else ("; ".join(problems) if health.ready.is_set() else health.detail)
                body = json.dumps({"part": health.part, "status": status}).encode()
                self._send(200 if ok else 503, body, "application/json")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:  # probes every few seconds: not worth a log line
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="healthz", daemon=True)
        self._thread.start()

    def set_ready(self) -> None:
        self.ready.set()

    def problems(self, now: float | None = None) -> list[str]:
        """What the watched dependencies say is wrong (empty: nothing)."""
        now = time.monotonic() if now is None else now
        found = [d.problem(now) for d in self.dependencies] + [g.problem(now) for g in self.groups]
        return [p for p in found if p is not None]

    def watch(self, name: str, check: Callable[[], bool], every_s: float = CHECK_EVERY_S,
              stale_s: float = STALE_S) -> Dependency:
        """Check a dependency every ``every_s`` in a daemon thread; 503 while it has not answered for ``stale_s``."""
        dep = Dependency(name, time.monotonic(), stale_s)
        self.dependencies.append(dep)

        def loop() -> None:
            while not self._closed.is_set():
                dep.observe(check(), time.monotonic())
                self._closed.wait(every_s)

        threading.Thread(target=loop, name=f"healthz-{name}", daemon=True).start()
        return dep

    def watch_kafka(self, bootstrap: str) -> Dependency:
        return self.watch("kafka", lambda: kafka_answers(bootstrap))

    def set_failing(self, reason: str | None) -> None:
        """Unhealthy (503 with ``reason``) while the part runs but fails every record; None: healthy again."""
        self.failing = reason

    def watch_store(self, engine, every_s: float = CHECK_EVERY_S, stale_s: float = STALE_S) -> Dependency:
        """503 ``store: no answer for N s`` while ``SELECT 1`` on ``engine`` has failed (or hung) for ``stale_s``."""
        from store.db import store_answers

        return self.watch("store", lambda: store_answers(engine), every_s=every_s, stale_s=stale_s)

    def watch_group(self, group: str, stale_s: float = STALE_S) -> GroupMembership:
        """A consumer group whose membership this part reports (its ``update`` is the part's rebalance hook)."""
        membership = GroupMembership(group, time.monotonic(), stale_s)
        self.groups.append(membership)
        return membership

    def set_draining(self) -> None:
        self.detail = "draining"
        self.ready.clear()

    def close(self) -> None:
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()


def start_health(part: str, port: int | None) -> HealthServer | None:
    """A health server on ``port``; None when the port is not set (a developer machine)."""
    if port is None:
        return None
    from .errors import CliError

    try:
        return HealthServer(part, port)
    except OSError as err:
        raise CliError(f"cannot serve /healthz on port {port}: {err.strerror or err}") from None


def add_health_argument(p) -> None:
    from .argtypes import port

    p.add_argument("--health-port", type=port, default=None,
                   help="serve GET /healthz (200 when ready, 503 while starting, draining, while Kafka (the "
                        "sink: or its store) does not answer or before its consumer group is joined) and GET /metrics (Prometheus) on this port (default: none)")
