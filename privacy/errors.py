"""Errors of the privacy core."""

from __future__ import annotations

__layer__ = "core"


class PrivacyError(Exception):
    """Base class of the privacy package's errors."""


class UnknownKind(PrivacyError):
    """A kind of PII was asked for that the redactor does not know."""
