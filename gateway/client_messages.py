"""What clients and the gateway say to each other: close codes, the hello, the requests the hub hands the shell.

Wire protocol (JSON text frames; docs/gateway.md has the full table):

client → server: ``hello`` (first message: token, optional resume cursor),
``subscribe``, ``timeline``, ``ack``, ``ping``.
server → client: ``welcome``, ``snapshot``, ``resumed``, ``gap``, ``event``,
``position``, ``timeline``, ``ack_sent``, ``error``, ``pong``.

Sans-I/O: :func:`parse_hello` checks a first message it is given; the hub
(gateway/hub.py) answers the later ones.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Any

import orjson

from .auth import KeyRing, Role, Viewer, verify_token
from .errors import ProtocolError, TokenError
from .history import Cursor, parse_cursor

# Close codes (4000-4999 are for applications, RFC 6455 §7.4.2).
CLOSE_PROTOCOL = 4000  #: first message not a hello / not JSON
CLOSE_UNAUTHORIZED = 4001  #: missing, bad or expired token
CLOSE_TOKEN_EXPIRED = 4002  #: the token expired while connected
CLOSE_TOO_SLOW = 4008  #: the send queue overflowed; reconnect and resume
CLOSE_RATE_LIMITED = 4029  #: too many messages, or too many connections for one token
CLOSE_GOING_AWAY = 1001
#: a socket refused because too many others wait to authenticate, or the gateway is still catching up
#: (RFC 6455 "try again later")
CLOSE_TRY_AGAIN = 1013


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode("utf-8")


@dataclass(frozen=True)
class Hello:
    viewer: Viewer
    resume: Cursor | None


@dataclass(frozen=True)
class AckRequest:
    """Ask the shell to publish an ack (to Kafka); it comes back as an ``ack`` event."""

    alert_id: str
    session_id: str
    by: str
    role: Role
    note: str | None


@dataclass(frozen=True)
class ArchiveRequest:
    """Ask the shell for a session the hub no longer holds (from the store); it answers with
    :meth:`Hub.archived_timeline`. Why a request: reading a database is I/O, the hub does none."""

    conn_id: int
    session_id: str


def parse_hello(raw: str | bytes, secret: "bytes | KeyRing", now: float) -> Hello:
    """Check the first message; raise ProtocolError with the close code and a clear reason."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(CLOSE_PROTOCOL, "first message must be JSON: {\"type\": \"hello\", \"token\": ...}") from None
    if not isinstance(msg, dict) or msg.get("type") != "hello":
        raise ProtocolError(CLOSE_PROTOCOL, "first message must be {\"type\": \"hello\", \"token\": ...}")
    try:
        viewer = verify_token(secret, msg.get("token"), now=now)
    except TokenError as err:
        raise ProtocolError(CLOSE_UNAUTHORIZED, str(err)) from None
    resume = msg.get("resume")
    if resume is not None:
        try:
            resume = parse_cursor(resume)
        except ValueError as err:
            raise ProtocolError(CLOSE_PROTOCOL, str(err)) from None
    return Hello(viewer, resume)
