"""The one small interface both engines implement, plus their shared settings.

Why so small: the scorer only ever needs "for these prompt tokens, the
log-probabilities of the five option tokens at the next position, and optionally
some generated text". Everything else (templates, read-out, aggregation) is
engine-independent, so vLLM and transformers give comparable numbers.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from streams import environment

from ..errors import EngineError
from ..instrument import OPTION_LABELS


@dataclass(frozen=True)
class EngineSettings:
    """Engine knobs; every one has an ``ALLIANCE_*`` environment override."""

    #: Longest prompt + answer the engine accepts (the scorer trims the oldest turns to fit).
    max_model_len: int = field(default_factory=lambda: int(environment.get("ALLIANCE_MAX_MODEL_LEN", "8192")))
    #: "auto" on a GPU; float32 on CPU keeps the two engines numerically comparable.
    dtype: str = field(default_factory=lambda: environment.get("ALLIANCE_DTYPE", ""))
    #: GiB of KV cache on CPU (VLLM_CPU_KVCACHE_SPACE); bounded so a laptop survives.
    cpu_kv_cache_gib: int = field(default_factory=lambda: int(environment.get("VLLM_CPU_KVCACHE_SPACE", "2")))
    gpu_memory_utilization: float = field(
        default_factory=lambda: float(environment.get("ALLIANCE_GPU_MEMORY_UTILIZATION", "0.85")))
    enable_prefix_caching: bool = True
    seed: int = 0

    def resolved_dtype(self, on_gpu: bool) -> str:
        return self.dtype or ("auto" if on_gpu else "float32")


@dataclass(frozen=True)
class Completion:
    """What an engine returns for one prompt."""

    #: log-probabilities of "1".."5" at the first generated position (the answer position).
    option_logprobs: tuple[float, ...]
    #: generated continuations (n of them; empty strings when max_tokens == 1 is not wanted).
    texts: tuple[str, ...]
    prompt_tokens: int
    #: prompt tokens served from the prefix cache (0 for engines without one).
    cached_tokens: int


class Engine(Protocol):
    """An async scoring engine. ``complete`` may be called concurrently."""

    kind: str
    model_name: str
    revision: str
    tokenizer: Any  # a Hugging Face tokenizer (transformers is not type-checked here)
    option_ids: tuple[int, ...]
    max_model_len: int

    async def complete(self, prompt_ids: Sequence[int], *, max_tokens: int = 1, n: int = 1,
                       temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> Completion: ...

    async def aclose(self) -> None: ...


def option_token_ids(tokenizer) -> tuple[int, ...]:
    """Token ids of the option labels "1".."5"; each must be exactly one token."""
    ids: list[int] = []
    for label in OPTION_LABELS:
        enc = tokenizer.encode(label, add_special_tokens=False)
        if len(enc) != 1:
            direct = tokenizer.convert_tokens_to_ids(label)
            if direct is None or direct == getattr(tokenizer, "unk_token_id", None):
                raise EngineError(f"the model's tokenizer splits option label {label!r} into {len(enc)} tokens; "
                                  f"the expected-score read-out needs single-token labels")
            enc = [direct]
        ids.append(int(enc[0]))
    if len(set(ids)) != len(ids):
        raise EngineError(f"option labels map to duplicate token ids {ids}")
    return tuple(ids)
