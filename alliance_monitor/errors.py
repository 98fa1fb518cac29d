"""The CLI's own error, and the package errors it prints as one line (exit 2)."""

from __future__ import annotations

__layer__ = "cli"

import importlib


class CliError(Exception):
    """An expected failure: printed as ``alliance-monitor: <message>``, exit ``code`` (default 2)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


#: (module, class) of each package's base error. Looked up one by one: an image that lacks a
#: package (or one of its dependencies) must still print a misconfiguration as one line, so a
#: package that cannot be imported only drops its own error from the list, never the list.
PACKAGE_ERRORS = (
    ("streams.errors", "StreamsError"), ("scoring.errors", "ScoringError"), ("gateway.errors", "GatewayError"),
    ("store.errors", "StoreError"), ("validation.errors", "GateError"), ("ingest.errors", "IngestError"),
    ("training.errors", "TrainingError"), ("privacy.errors", "PrivacyError"),
)


def known_errors() -> tuple[type[BaseException], ...]:
    """Every error type printed as one line: the CLI's, each importable package's base error, missing files."""
    found: list[type[BaseException]] = [CliError]
    for module, name in PACKAGE_ERRORS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue  # that package is not in this image: none of its errors can be raised either
    return (*found, FileNotFoundError, PermissionError)
