"""transformers engine: a plain forward pass for the option probabilities, generate() for text.

Smallest footprint (no engine process, no KV cache pool) and a second,
independent implementation to check vLLM against. No prefix cache: every prompt
is computed in full, so ``cached_tokens`` is always 0. Calls run one at a time
in a worker thread so the event loop (Kafka heartbeats) stays responsive.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from streams import environment

from ..errors import EngineError
from ..models import ModelRef, offline_env
from .base import Completion, EngineSettings, option_token_ids


def cpu_threads(*, batch_job: bool = False) -> int:
    """Intra-op threads for CPU inference: ``ALLIANCE_TORCH_THREADS``, else half the cores (every core for a batch job).

    Why not all cores for a live part: with every core busy elsewhere (a shared CI box, the
    broker, the stream processor), OpenMP threads spin-wait on each other and a
    forward pass got ~10x slower with 2 threads than with 1 on 2 cores
    (docs/findings.md). A batch job (``train``'s feature extraction) is the machine's main work.
    """
    env = environment.get("ALLIANCE_TORCH_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 2
    return cores if batch_job else max(1, cores // 2)


class TransformersEngine:
    kind = "transformers"

    def __init__(self, model: ModelRef, settings: EngineSettings | None = None):
        self.settings = settings or EngineSettings()
        offline_env()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        on_gpu = torch.cuda.is_available()
        dtype = self.settings.resolved_dtype(on_gpu)
        self.model_name, self.revision = model.name, model.revision
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model.path)
            self._model = AutoModelForCausalLM.from_pretrained(
                model.path, dtype="auto" if dtype == "auto" else getattr(torch, dtype))
        except Exception as err:
            raise EngineError(f"transformers could not load {model.path}: {type(err).__name__}: {err}") from err
        self._device = "cuda" if on_gpu else "cpu"
        if not on_gpu:
            torch.set_num_threads(cpu_threads())
        self._model.to(self._device).eval()
        self.option_ids = option_token_ids(self.tokenizer)
        self.max_model_len = self.settings.max_model_len
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-engine")
        pad = self.tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else self.tokenizer.eos_token_id

    def _complete_sync(self, prompt_ids: Sequence[int], max_tokens: int, n: int, temperature: float,
                       top_p: float, seed: int | None) -> Completion:
        torch = self._torch
        ids = torch.tensor([list(prompt_ids)], device=self._device)
        with torch.no_grad():
            if max_tokens <= 1:
                # only the answer position's logits: the full (prompt length x vocabulary) matrix was most of a
                # long prompt's time and memory on a small model (docs/findings.md), for the same numbers
                logits = self._model(ids, logits_to_keep=1).logits[0, -1].float()
                texts: tuple[str, ...] = ()
            else:
                if seed is not None:
                    torch.manual_seed(seed)
                sample = temperature > 0
                out = self._model.generate(
                    ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=sample,
                    temperature=temperature if sample else None, top_p=top_p if sample else None, top_k=None,
                    num_return_sequences=n, output_logits=True, return_dict_in_generate=True,
                    pad_token_id=self._pad_id,
                )
                logits = out.logits[0][0].float()  # raw logits at the answer position, first sequence
                gen = out.sequences[:, ids.shape[1]:]
                texts = tuple(self.tokenizer.decode(g, skip_special_tokens=True) for g in gen)
            logprobs = torch.log_softmax(logits, dim=-1)
        lps = tuple(float(logprobs[i]) for i in self.option_ids)
        return Completion(lps, texts, len(prompt_ids), 0)

    async def complete(self, prompt_ids: Sequence[int], *, max_tokens: int = 1, n: int = 1,
                       temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> Completion:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, self._complete_sync, prompt_ids, max_tokens, n, temperature, top_p, seed)
        except RuntimeError as err:
            raise EngineError(f"transformers failed: {err}") from err

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
