"""The store: what lasts after a session (docs/store.md).

SQLAlchemy 2 models, Alembic migrations (``migrations/``), an idempotent sink
from Kafka, history reads for the gateway, and the research CLI (``report``,
``eval``). Metrics and analytics are pure functions (:mod:`store.metrics`,
:mod:`store.analytics`); everything that touches a database or a broker is a
thin shell around them.
"""
