"""Errors of the streams package; the CLI prints any :class:`StreamsError` as one line (exit 2).

Part of the contract layer: it imports nothing, so the codec may raise these.
"""

__layer__ = "contract"

class StreamsError(Exception):
    """Base of every expected failure in ``streams`` (broker, contracts, replay)."""
