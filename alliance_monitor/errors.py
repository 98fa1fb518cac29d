"""The CLI's own error, and the package errors it prints as one line (exit 2)."""

from __future__ import annotations

__layer__ = "cli"


class CliError(Exception):
    """An expected failure: printed as ``alliance-monitor: <message>``, exit ``code`` (default 2)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def known_errors() -> tuple[type[BaseException], ...]:
    """Every error type printed as one line: the CLI's, each package's base error, missing files."""
    from gateway.errors import GatewayError
    from ingest.errors import IngestError
    from privacy.errors import PrivacyError
    from scoring.errors import ScoringError
    from store.errors import StoreError
    from streams.errors import StreamsError
    from training.errors import TrainingError
    from validation.errors import GateError

    return (CliError, StreamsError, ScoringError, GatewayError, StoreError, GateError, IngestError, TrainingError,
            PrivacyError, FileNotFoundError, PermissionError)
