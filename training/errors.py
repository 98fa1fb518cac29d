"""The one error type of the training package (the CLI maps it to a one-line exit 2)."""

__layer__ = "core"


class TrainingError(Exception):
    """An expected failure in training: bad input, too few sessions, a missing artefact."""
