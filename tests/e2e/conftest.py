"""End-to-end tests need the demo model converted (once per machine, ~40 s)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def demo_model():
    from scoring.models import pull_demo

    return pull_demo(progress=False)
