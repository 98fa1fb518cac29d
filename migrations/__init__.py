"""Alembic migrations of the store (a package only so a wheel can ship them)."""

__layer__ = "shell"
