"""``GET /healthz`` for the parts that serve no HTTP of their own (processor, scorer, sink).

Why: an orchestrator (compose healthcheck, Kubernetes probes) needs a yes/no
per part. The answer is 200 once the part is ready (the processor has
recovered its tables, the scorer has loaded its model, the sink is consuming)
and 503 before that and while it drains after SIGTERM, so traffic and restarts
follow the truth. A daemon thread, so it keeps answering while the part's own
event loop is busy; it never sees a record.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HealthServer:
    def __init__(self, part: str, port: int, host: str = "0.0.0.0"):
        self.part = part
        self.ready = threading.Event()
        self.detail = "starting"
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] not in ("/healthz", "/readyz"):
                    self.send_error(404)
                    return
                ok = health.ready.is_set()
                body = json.dumps({"part": health.part, "status": "ok" if ok else health.detail}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
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
                   help="serve GET /healthz on this port (200 when ready, 503 while starting or draining; "
                        "default: none)")
