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
from typing import Any, Sequence

import numpy as np

from streams.contracts import ITEM_IDS, Lang

from .models import ModelRef, offline_env
from .prompts import INTRO, TurnLike, transcript_text

FEATURE_KINDS = ("hidden", "probs", "hidden+probs")
#: Number formats of the hidden pass. float32 is the original (and the first head format's);
#: bfloat16 weights run the pass about twice as fast on a CPU with AVX-512 BF16 (or AMX) and
#: move the pooled states by ~0.3 % (correlation with float32 > 0.99999; bench/feature_extraction.py).
#: The format is part of the feature identity: the cache key and the head record it.
HIDDEN_DTYPES = ("float32", "bfloat16")
#: The format ``train --method head --features ...`` (feature blocks) extracts with.
BLOCK_DTYPE = "bfloat16"
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

    def __init__(self, model: ModelRef, *, threads: int | None = None, dtype: str = "float32"):
        offline_env()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .engines.hf_engine import cpu_threads

        if dtype not in HIDDEN_DTYPES:
            raise ValueError(f"unknown hidden-pass dtype {dtype!r} (expected one of {', '.join(HIDDEN_DTYPES)})")
        self._torch = torch
        self.dtype = dtype
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            torch.set_num_threads(threads or cpu_threads())
        self.tokenizer = AutoTokenizer.from_pretrained(model.path)
        full = AutoModelForCausalLM.from_pretrained(model.path, dtype=torch.float32)
        n_layers = int(full.config.num_hidden_layers)
        #: the middle layer: on the synthetic corpus it carries more of the content than the last
        #: (bench/validity_loop.py). ``hidden_states[layer]`` in the transformers convention:
        #: index 0 is the embeddings, index k the output of the k-th decoder layer.
        self.layer = n_layers // 2
        decoder = getattr(full, "model", None)
        self._truncated = hasattr(decoder, "layers") and hasattr(decoder, "norm")
        self.model: Any = full
        if decoder is not None and self._truncated:
            # that state needs the first ``layer`` decoder layers and nothing above (no upper layers,
            # no LM head); the final norm becomes the identity so the decoder's output is the state
            # itself, unnormalised, as ``hidden_states[layer]`` of the whole model
            # (tests/training/test_train_model.py compares the two)
            decoder.layers = decoder.layers[:self.layer]
            decoder.norm = torch.nn.Identity()
            self.model = decoder
        # else an unusual architecture: run it whole and pick the layer
        self.model.to(device=self.device, dtype=getattr(torch, dtype)).eval()
        self.hidden_size = int(full.config.hidden_size)
        self.model_name, self.revision = model.name, model.revision
        self._lock = threading.Lock()

    @property
    def identity(self) -> dict[str, int | str]:
        """What the numbers mean besides the model: the layer, the number format, the longest transcript."""
        return {"layer": self.layer, "dtype": self.dtype, "max_tokens": MAX_HIDDEN_TOKENS}

    def states(self, input_ids, attention_mask=None):
        """The ``layer``'s hidden states (batch, tokens, dim) as float32, one pass at a time."""
        torch = self._torch
        with self._lock, torch.inference_mode():  # the model is shared across threads
            if self._truncated:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
                h = out.last_hidden_state
            else:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                                 use_cache=False)
                h = out.hidden_states[self.layer]
            return h.float()

    @property
    def dim(self) -> int:
        return self.hidden_size

    def text(self, turns: Sequence[TurnLike], lang: Lang) -> str:
        return f"{INTRO[lang]}\n{transcript_text(turns, lang)}"

    def features(self, turns: Sequence[TurnLike], lang: Lang) -> np.ndarray:
        torch = self._torch
        ids = self.tokenizer(self.text(turns, lang), add_special_tokens=False).input_ids[-MAX_HIDDEN_TOKENS:]
        x = torch.tensor([ids], device=self.device)
        return self.states(x)[0].mean(dim=0).cpu().numpy().astype(float)


def line_pieces(turns: Sequence[TurnLike], lang: Lang) -> list[str]:
    """The transcript as the hidden pass reads it, one piece per line: the intro, then one per turn."""
    lines = transcript_text(turns, lang).split("\n") if turns else []
    return [f"{INTRO[lang]}\n", *(f"{ln}\n" for ln in lines)]


class PooledHidden:
    """Mean-pooled middle-layer states over the tokens of every view and phase cut, from one forward pass.

    Why one pass serves them all: the model is causal, so the states of a phase's tokens are the
    same whether the pass stopped at the cut or read on; and the client's, the counselor's and the
    last turns' tokens are spans of the same pass. Pieces are tokenised one line at a time so a
    cut falls on a token boundary (training and live scoring use this same function).
    """

    def __init__(self, extractor: HiddenStateExtractor, *, batch_size: int = 8):
        self.extractor = extractor
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.extractor.dim

    def salt(self) -> str:
        """What the numbers depend on besides the text (the cache key's model part).

        float32, the original pass, keeps its original key (its numbers did not change); another
        number format is part of the key, so a cache never mixes the two.
        """
        ext = self.extractor
        fmt = "" if ext.dtype == "float32" else f"/{ext.dtype}"
        return f"{ext.model_name}@{ext.revision}/layer{ext.layer}/max{MAX_HIDDEN_TOKENS}{fmt}"

    def _ids(self, turns: Sequence[TurnLike], lang: Lang) -> tuple[list[int], list[tuple[int, int]]]:
        tok = self.extractor.tokenizer
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for piece in line_pieces(turns, lang):
            p = tok(piece, add_special_tokens=False).input_ids
            spans.append((len(ids), len(ids) + len(p)))
            ids.extend(p)
        drop = max(0, len(ids) - MAX_HIDDEN_TOKENS)  # keep the end (the latest turns)
        if drop:
            ids = ids[drop:]
            spans = [(max(0, a - drop), max(0, b - drop)) for a, b in spans]
        return ids, spans

    def pool(self, sessions: Sequence[tuple[Sequence[TurnLike], Lang]], cuts: Sequence[int] | None = None,
             views: Sequence[str] = ("all", "client", "counselor", "window"), *,
             per_session_cuts: Sequence[Sequence[int]] | None = None) -> list[np.ndarray]:
        """Per session an array (cuts, views, dim): the pooled states of each view's tokens before each cut.

        A cut is a count of leading turns (``per_session_cuts`` gives each session its own; default: all turns).
        A view with no token before a cut pools to zeros.
        """
        from .feature_views import view_indices

        torch = self.extractor._torch
        prepared = [self._ids(t, lang) for t, lang in sessions]
        order = sorted(range(len(sessions)), key=lambda i: len(prepared[i][0]))
        out: list[np.ndarray] = [np.zeros(0)] * len(sessions)
        pad = self.extractor.tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(1, max(len(prepared[i][0]) for i in batch))
            x = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, i in enumerate(batch):
                ids = prepared[i][0]
                x[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                mask[r, :len(ids)] = 1
            # right padding: real tokens never see the pads; a batch of one needs no mask
            states = self.extractor.states(x.to(self.extractor.device),
                                           mask.to(self.extractor.device) if len(batch) > 1 else None)
            states = states.cpu().numpy().astype(float)
            for r, i in enumerate(batch):
                turns = sessions[i][0]
                spans = prepared[i][1]
                speakers = [t.speaker for t in turns]
                cs = list(per_session_cuts[i]) if per_session_cuts is not None else list(cuts or [len(turns)])
                arr = np.zeros((len(cs), len(views), self.dim))
                for ci, cut in enumerate(cs):
                    for vi, view in enumerate(views):
                        # the intro line belongs to the whole-transcript view only; turn j is piece j + 1
                        pieces = ([0] if view == "all" else []) + [j + 1 for j in view_indices(speakers, view, cut)]
                        tok = [k for p in pieces for k in range(*spans[p])]
                        if tok:
                            arr[ci, vi] = states[r, tok].mean(axis=0)
                out[i] = arr
        return out
