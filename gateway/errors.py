"""Errors of the gateway package; the CLI prints any :class:`GatewayError` as one line (exit 2)."""

from __future__ import annotations

__layer__ = "core"

from typing import Literal

#: Why a survey link is refused: what the survey page explains to the client.
Refusal = Literal["invalid", "expired", "used", "unavailable"]


class GatewayError(Exception):
    """Base of every expected failure in ``gateway`` (tokens, client protocol, history)."""


class ProtocolError(GatewayError, ValueError):
    """A client message the gateway refuses; carries the close code to use."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class TokenError(GatewayError, ValueError):
    """A token that must be refused; ``str()`` is the reason shown to the client."""


class LinkError(GatewayError, ValueError):
    """A link that must be refused; ``kind`` is what the page explains (``invalid`` | ``expired``)."""

    def __init__(self, kind: Refusal, message: str):
        super().__init__(message)
        self.kind = kind
