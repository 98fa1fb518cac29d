"""HTTP on the gateway's port (websockets' ``process_request``): the pages, their static files, health, metrics.

``/healthz`` (counts only for observers: unauthenticated, they would tell
anyone how busy the organisation is), ``/metrics`` (Prometheus; observers only —
or scrape the ``--health-port``). An observer is a client in ``--observer``
(default loopback), judged by gateway/client_address.py: behind a reverse proxy
by the address a trusted proxy forwarded for, never by the proxy's own address. the pages ``/``, ``/board``,
``/counselor``, ``/session``, ``/survey``, ``/code`` and their static files under
``/static/`` (a fixed list: no path traversal). A websocket upgrade passes
through once its Origin is allowed.
"""

from __future__ import annotations

__layer__ = "shell"

import http
import mimetypes
import time
from collections.abc import Sized
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from .client_address import may_observe

if TYPE_CHECKING:
    from .server import Gateway

PAGES_DIR = Path(__file__).resolve().parent / "pages"
PAGE_ROUTES = {"/": "index.html", "/board": "board.html", "/counselor": "counselor.html", "/survey": "survey.html",
               "/session": "session.html", "/code": "code.html"}
CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def answer(gw: "Gateway", connection: ServerConnection, request: Request) -> Response | None:
    """The response to a plain HTTP request; None lets a websocket upgrade through."""
    path = request.path.split("?", 1)[0]
    if request.headers.get("Upgrade", "").lower() == "websocket":
        origin = request.headers.get("Origin")
        if origin is not None and not origin_ok(origin, request.headers.get("Host", ""), gw.config.origins):
            return response(http.HTTPStatus.FORBIDDEN, b"origin not allowed\n", "text/plain")
        return None
    if path in ("/healthz", "/metrics"):
        observer = may_observe(gw.client(connection, request.headers), gw.observers)
        if path == "/healthz":
            return health(gw, observer)
        if not observer:
            return response(http.HTTPStatus.FORBIDDEN, b"metrics are served to observers only (--observer)\n",
                            "text/plain")
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        return response(http.HTTPStatus.OK, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
    name = PAGE_ROUTES.get(path)
    if name is None and path.startswith("/static/"):
        name = path[len("/static/"):]
    return static_file(name)


def origin_ok(origin: str, host: str, origins: tuple[str, ...]) -> bool:
    if origin in origins:
        return True
    return origin in (f"http://{host}", f"https://{host}")


def health(gw: "Gateway", detailed: bool = True) -> Response:
    """Status for probes. Counts (connections, sessions, events) only for observers:
    unauthenticated, they would tell anyone how busy the whole organisation is."""
    ready = gw.ready.is_set()
    feed = gw.feed_state()
    feed_ok = feed in ("running", "none")
    audit_ok = not gw.audit_overdue()
    status = http.HTTPStatus.OK if ready and feed_ok and audit_ok else http.HTTPStatus.SERVICE_UNAVAILABLE
    word = ("ok" if ready else "starting") if feed_ok else (
        "kafka unreachable" if feed.startswith("stalled") else "feed stopped")
    if feed_ok and not audit_ok:
        word = "audit unavailable"
    if not detailed:
        return response(status, orjson.dumps({"status": word, "ready": ready}), "application/json")
    body = {
        "status": word,
        "ready": ready,
        "feed": feed,
        "connections": len(gw.hub.connections),
        "sessions": len(gw.hub.sessions),
        "history_events": len(gw.history) if isinstance(gw.history, Sized) else None,
        "kafka": gw.config.bootstrap is not None,
        "rejected_records": gw.feed.rejected if gw.feed else 0,
        "refused_session_records": gw.hub.stats["refused_sessions"],
        "survey": dict(gw.survey.stats, used_links=len(gw.survey.used)),
        "audit": dict(gw.audit.stats, pending=gw.audit.pending, overdue_s=round(gw.audit.overdue_s(), 1),
                      blocked=gw.audit_blocked),
        "socket_writes": dict(gw.writes.stats),
        "uptime_s": round(time.time() - gw.started_at, 1),
        "unauthenticated": sum(gw.waiting.by_address.values()),
        "refused_unauthenticated": gw.waiting.refused,
        **gw.hub.stats,
    }
    return response(status, orjson.dumps(body), "application/json")


def static_file(name: str | None) -> Response:
    allowed = {p.name for p in PAGES_DIR.iterdir() if p.is_file()} if PAGES_DIR.is_dir() else set()
    if not name or name not in allowed:  # a fixed list: no path traversal possible
        return response(http.HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype.endswith("javascript"):
        ctype += "; charset=utf-8"
    return response(http.HTTPStatus.OK, (PAGES_DIR / name).read_bytes(), ctype)


def response(status: http.HTTPStatus, body: bytes, ctype: str) -> Response:
    headers = Headers([
        ("Date", formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", ctype),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", CSP),
    ])
    return Response(status.value, status.phrase, headers, body)
