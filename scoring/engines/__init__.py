"""Scoring engines behind one interface (:class:`~scoring.engines.base.Engine`).

Heavy imports (torch, vLLM) happen only inside :func:`load_engine`.
"""

from __future__ import annotations

__layer__ = "shell"

from ..errors import EngineError
from ..models import ModelRef
from .base import Completion, Engine, EngineSettings

ENGINE_KINDS = ("vllm", "transformers")


def load_engine(kind: str, model: ModelRef, settings: EngineSettings | None = None) -> Engine:
    """Build an engine; ``kind`` is "vllm" or "transformers"."""
    if kind == "vllm":
        from .vllm_engine import VllmEngine

        return VllmEngine(model, settings)
    if kind == "transformers":
        from .hf_engine import TransformersEngine

        return TransformersEngine(model, settings)
    raise EngineError(f"unknown engine {kind!r}; choose one of {', '.join(ENGINE_KINDS)}")


__all__ = ["Completion", "Engine", "EngineError", "EngineSettings", "ENGINE_KINDS", "load_engine"]
