"""Errors of the scoring package; the CLI prints any :class:`ScoringError` as one line (exit 2)."""

__layer__ = "core"

class ScoringError(Exception):
    """Base of every expected failure in ``scoring`` (model, engine, transcript, read-out)."""
