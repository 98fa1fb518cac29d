"""Errors of the scoring package; the CLI prints any :class:`ScoringError` as one line (exit 2)."""

__layer__ = "core"


class ScoringError(Exception):
    """Base of every expected failure in ``scoring`` (model, engine, transcript, read-out)."""


class TranscriptError(ScoringError, ValueError):
    """The file is not a transcript; the message names the line."""


class ReadoutError(ScoringError, ValueError):
    """The engine's output cannot be read as an answer (e.g. all option log-probs -inf)."""


class EngineError(ScoringError, RuntimeError):
    """The engine could not be built or could not answer."""


class HeadError(ScoringError, ValueError):
    """The head artefact is missing, unreadable, or does not fit the loaded model."""


class ModelError(ScoringError, RuntimeError):
    """The model is missing or unusable; the message says what to run."""


class CorpusError(ScoringError, ValueError):
    """The corpus cannot be scored as asked (no such file, nothing readable): one line."""


class DetectorError(ScoringError, ValueError):
    """The turn detector given to the scorer cannot be served (another detector's stand-in, not a trained one)."""
