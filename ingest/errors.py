"""Errors of the ingest package; the CLI prints any :class:`IngestError` as one line (exit 2)."""

__layer__ = "core"


class IngestError(Exception):
    """Base of every expected failure in ``ingest`` (tokens, settings)."""
