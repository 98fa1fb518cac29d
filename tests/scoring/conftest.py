"""Fixtures for the scoring tests: the real demo model and both real engines, built once.

The demo model is converted once into the user cache (``ALLIANCE_MODEL_CACHE``
overrides; CI can point it at a cached directory) and reused by later runs.
Each engine is loaded ONCE per test session and lives on its own event-loop
thread (vLLM's AsyncLLM is bound to the loop it first runs on); tests hand it
coroutines through :meth:`LoopThread.run`.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine

import pytest

from scoring.engines.base import EngineSettings

#: Small contexts keep engine start-up and KV-cache memory modest in CI.
TEST_SETTINGS = EngineSettings(max_model_len=2048, cpu_kv_cache_gib=1)


class LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="engine-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="session")
def demo_model():
    """The converted demo model (converted at most once, then cached)."""
    from scoring.models import pull_demo

    return pull_demo(progress=False)


@pytest.fixture(scope="session")
def engine_loop():
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture(scope="session")
def hf_engine(demo_model, engine_loop):
    from scoring.engines import load_engine

    engine = load_engine("transformers", demo_model, TEST_SETTINGS)
    yield engine
    engine_loop.run(engine.aclose())


@pytest.fixture(scope="session")
def tiny_hf_engine(tiny_model, engine_loop):
    """The transformers engine on the tiny random-weight model (same tokenizer and chat template as the demo
    model): for tests of what the scorer sends, not of what the model answers."""
    from scoring.engines import load_engine

    engine = load_engine("transformers", tiny_model, TEST_SETTINGS)
    yield engine
    engine_loop.run(engine.aclose())


@pytest.fixture(scope="session")
def vllm_engine(demo_model, engine_loop):
    engine = engine_loop.run(_build_async("vllm", demo_model))
    yield engine
    engine_loop.run(engine.aclose())


async def _build_async(kind, model):
    from scoring.engines import load_engine

    return load_engine(kind, model, TEST_SETTINGS)


@pytest.fixture(scope="session")
def tokenizer(demo_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_model.path)
