"""Where the store lives and what it keeps, from the environment.

Why environment variables: the sink, the gateway and the CLI run as separate
processes (often in containers) and must agree on one database without sharing
a config file. Every setting has a safe default for a developer machine.

* ``ALLIANCE_DB_URL`` — SQLAlchemy URL; default a SQLite file in the user data
  dir (``$XDG_DATA_HOME/alliance-monitor/alliance.db``, i.e.
  ``~/.local/share/alliance-monitor/alliance.db``).
* ``ALLIANCE_STORE_TURNS`` — ``1`` to also keep chat turns (message text).
  Off by default: transcripts are clinical data.
* ``ALLIANCE_TURNS_RETENTION_DAYS`` — turns older than this are deleted by
  ``alliance-monitor db purge`` and periodically by the sink (default 30).
* ``ALLIANCE_AUDIT_RETENTION_DAYS`` — audit records (who viewed which session; no
  chat text) older than this are deleted by the same purges (default 365; 0/off
  keeps them forever).

``redact`` (PII replaced by typed tokens before anything is stored, on by default)
is the sink's ``--no-redact`` option (``ALLIANCE_SINK_NO_REDACT``), set by the CLI.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from pathlib import Path

from streams import environment

DEFAULT_RETENTION_DAYS = 30.0
#: The audit trail names who looked at which session, not what was said: kept a year by default.
DEFAULT_AUDIT_RETENTION_DAYS = 365.0


def data_dir() -> Path:
    """The per-user data directory (XDG), created on demand by callers."""
    base = environment.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "alliance-monitor"


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / 'alliance.db'}"


def _flag(name: str) -> bool:
    return (environment.get(name, "") or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class StoreSettings:
    db_url: str
    store_turns: bool = False
    turns_retention_days: float | None = DEFAULT_RETENTION_DAYS
    audit_retention_days: float | None = DEFAULT_AUDIT_RETENTION_DAYS
    #: replace names, phones, e-mails, addresses and ID numbers in every stored text (privacy/)
    redact: bool = True

    @classmethod
    def from_env(cls, db_url: str | None = None) -> "StoreSettings":
        return cls(
            db_url=db_url or environment.get("ALLIANCE_DB_URL") or default_db_url(),
            store_turns=_flag("ALLIANCE_STORE_TURNS"),
            turns_retention_days=_days("ALLIANCE_TURNS_RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
            audit_retention_days=_days("ALLIANCE_AUDIT_RETENTION_DAYS", DEFAULT_AUDIT_RETENTION_DAYS),
        )


def _days(name: str, default: float) -> float | None:
    """A retention in days from ``name``: unset → ``default``; 0/none/off/forever → None (keep)."""
    raw = (environment.get(name, "") or "").strip()
    if raw.lower() in ("", "default"):
        return default
    if raw.lower() in ("0", "none", "off", "forever"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of days, not {raw!r}") from None
    return value if value > 0 else None
