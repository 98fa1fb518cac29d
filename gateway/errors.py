"""Errors of the gateway package; the CLI prints any :class:`GatewayError` as one line (exit 2)."""

__layer__ = "core"

class GatewayError(Exception):
    """Base of every expected failure in ``gateway`` (tokens, client protocol, history)."""
