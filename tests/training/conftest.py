"""Fixtures for training tests: the real demo model and a small labelled synthetic corpus on disk."""

from __future__ import annotations

import pytest

from tests.scoring.conftest import demo_model, engine_loop, vllm_engine  # noqa: F401  (real model, real engine)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """120 SYNTHETIC sessions (84 train / 36 held out by time), written as a site would export them."""
    from training.corpus_files import write_corpus
    from training.synthetic_corpus import CorpusSpec

    out = tmp_path_factory.mktemp("corpus")
    _, paths = write_corpus(CorpusSpec(sessions=120, seed=7), out)
    return paths


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory):
    return tmp_path_factory.mktemp("trained")
