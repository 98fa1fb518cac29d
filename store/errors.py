"""Errors of the store package; the CLI prints any :class:`StoreError` as one line (exit 2)."""

__layer__ = "core"


class StoreError(RuntimeError):
    """The store cannot be used as asked (missing schema, bad URL, bad label file...): one-line message."""


class UnsupportedDatabase(StoreError):
    """The database dialect has no upsert this module knows."""


class LabelError(StoreError, ValueError):
    """The label file is malformed; the message names the line and field."""
