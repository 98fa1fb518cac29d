"""``GET /healthz`` and ``GET /metrics`` for the parts that serve no HTTP of their own.

Why: an orchestrator (compose healthcheck, Kubernetes probes) needs a yes/no
per part. The answer is 200 once the part is ready (the processor has
recovered its tables, the scorer has loaded its model, the sink is consuming)
and 503 before that and while it drains after SIGTERM, so traffic and restarts
follow the truth. A daemon thread, so it keeps answering while the part's own
event loop is busy; it never sees a record.

``/metrics`` is the part's Prometheus registry (docs/metrics.md): counters and
histograms the part's shell keeps, read here from another thread (the client
library locks its values). Served on the same internal port as the probe, which
compose and Kubernetes never publish: the figures say how busy the service is.
"""

from __future__ import annotations

__layer__ = "cli"

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def metrics_body() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class HealthServer:
    def __init__(self, part: str, port: int, host: str = "0.0.0.0"):
        self.part = part
        self.ready = threading.Event()
        self.detail = "starting"
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
                ok = health.ready.is_set() and health.failing is None
                status = "ok" if ok else health.failing or health.detail
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

    def set_failing(self, reason: str | None) -> None:
        """Unhealthy (503 with ``reason``) while the part runs but fails every record; None: healthy again."""
        self.failing = reason

    def set_draining(self) -> None:
        self.detail = "draining"
        self.ready.clear()

    def close(self) -> None:
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
                   help="serve GET /healthz (200 when ready, 503 while starting or draining) and GET /metrics "
                        "(Prometheus) on this port (default: none)")
