"""The store: what lasts after a session (docs/store.md).

SQLAlchemy 2 models, Alembic migrations (``migrations/``), an idempotent sink
from Kafka, reads for reports and ``eval``, and the validation records
(:mod:`store.records` loads them at run time, :mod:`store.gate_eval` writes them).
Statistics come from :mod:`validation.stats`; everything here that touches a
database or a broker is a thin shell. The commands are in ``alliance_monitor/commands/``.
"""

__layer__ = "shell"
