"""Errors of the validation package; the CLI prints any :class:`GateError` as one line (exit 2)."""

__layer__ = "core"


class GateError(ValueError):
    """Base of every expected failure in ``validation`` (bad gate or calibration settings)."""
