"""Frozen features of the scoring model for a trained read-out head.

Two kinds, both from the scorer's *own* model (no second model):

* ``probs`` — the 12 items' five option probabilities from the normal scoring
  pass (60 numbers; no extra cost);
* ``hidden`` — the mean-pooled hidden state of the middle layer over the
  transcript as the scoring prompt shows it: one extra forward pass of the
  transcript alone through the lower half of the model (transformers), because
  the vLLM generate API does not return hidden states (measured cost:
  bench/validity_loop.py).

Only numbers leave this module; the text is never logged.
"""

from __future__ import annotations

__layer__ = "shell"

import threading
from typing import Sequence

import numpy as np

from streams.contracts import ITEM_IDS, Lang

from .models import ModelRef, offline_env
from .prompts import INTRO, TurnLike, transcript_text

FEATURE_KINDS = ("hidden", "probs", "hidden+probs")
#: Longest transcript (tokens) the hidden pass reads; longer ones keep their end (the latest turns).
MAX_HIDDEN_TOKENS = 2048


def prob_features(score) -> np.ndarray:
    """The 12×5 option probabilities of an ``AllianceScore`` (expected read-out), item order Q1..Q12."""
    by_id = {i.item_id: i for i in score.items}
    missing = [q for q in ITEM_IDS if q not in by_id]
    if missing:
        raise ValueError(f"the score lacks items {missing}; probability features need all 12")
    return np.asarray([p for q in ITEM_IDS for p in by_id[q].probs], dtype=float)


class HiddenStateExtractor:
    """Mean-pooled hidden states of a rendered transcript (transformers, CPU or GPU)."""

    def __init__(self, model: ModelRef, *, threads: int | None = None):
        offline_env()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .engines.hf_engine import cpu_threads

        self._torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(threads or cpu_threads())
        self.tokenizer = AutoTokenizer.from_pretrained(model.path)
        full = AutoModelForCausalLM.from_pretrained(model.path, dtype=torch.float32)
        n_layers = int(full.config.num_hidden_layers)
        #: the middle layer: on the synthetic corpus it carries more of the content than the last
        #: (bench/validity_loop.py), and stopping there halves the pass (no upper layers, no LM head)
        self.layer = n_layers // 2
        decoder = getattr(full, "model", None)
        if decoder is not None and hasattr(decoder, "layers"):
            decoder.layers = decoder.layers[:self.layer + 1]
            self.model = decoder
        else:  # an unusual architecture: run it whole
            self.model = full
        self.model.to(self.device).eval()
        self.hidden_size = int(full.config.hidden_size)
        self.model_name, self.revision = model.name, model.revision
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.hidden_size

    def text(self, turns: Sequence[TurnLike], lang: Lang) -> str:
        return f"{INTRO[lang]}\n{transcript_text(turns, lang)}"

    def features(self, turns: Sequence[TurnLike], lang: Lang) -> np.ndarray:
        torch = self._torch
        ids = self.tokenizer(self.text(turns, lang), add_special_tokens=False).input_ids[-MAX_HIDDEN_TOKENS:]
        x = torch.tensor([ids], device=self.device)
        with self._lock, torch.no_grad():  # one pass at a time: the model is shared across threads
            out = self.model(input_ids=x, output_hidden_states=True, use_cache=False)
        return out.hidden_states[self.layer][0].float().mean(dim=0).cpu().numpy().astype(float)
