"""The real demo model and engine loop for the ingestion test that scores what it ingested."""

from tests.scoring.conftest import demo_model, engine_loop  # noqa: F401  (real model, real engine loop)
