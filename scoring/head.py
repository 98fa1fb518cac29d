"""A trained read-out head: its artefact, and the scorer that applies it live.

What a head is: ridge regressions (one per WAI-SR item) from frozen features of
the scoring model (see :mod:`scoring.features`) to the client's 1-5 answer,
trained on a site's rated sessions by ``alliance-monitor train --method head``.
The base model is unchanged; the head replaces the zero-shot read-out of the
option probabilities.

Identity: a head is a new model identity — the base model's name, the base
revision plus a hash of the head's weights and of its training data, and the
read-out ``head`` — so it starts unvalidated until ``eval`` passes for it.

Artefact: a directory with ``head.json`` (kind, base identity, lineage) and
``head.npz`` (the numbers). :class:`HeadScorer` wraps the normal
:class:`~scoring.scorer.Scorer` (same engine pass; a ``hidden`` head adds one
transformers forward pass of the transcript) and has the same interface, so
the scoring worker and ``score-file`` use it unchanged.
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
import hashlib
import io
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from streams.contracts import ITEM_IDS, AllianceScore, ItemScore, Lang, ModelIdentity

from . import readout
from .block_head import FORMAT as BLOCK_FORMAT
from .block_head import BlockHead
from .errors import HeadError
from .features import FEATURE_KINDS, prob_features
from .prompts import PROMPT_VERSION, TurnLike

HEAD_JSON = "head.json"
HEAD_NPZ = "head.npz"
FORMAT = "alliance-monitor-head/1"


@dataclass(frozen=True)
class ReadoutHead:
    """``answers = ((features - mean) / scale) @ coef + intercept``, clipped to 1..5, items Q1..Q12."""

    features: str
    base_name: str
    base_revision: str
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    lineage: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.features not in FEATURE_KINDS:
            raise HeadError(f"unknown head feature kind {self.features!r} (expected one of {FEATURE_KINDS})")
        if self.coef.shape != (self.mean.size, len(ITEM_IDS)) or self.intercept.shape != (len(ITEM_IDS),):
            raise HeadError(f"head weights have shape {self.coef.shape}, expected ({self.mean.size}, 12)")

    @property
    def revision(self) -> str:
        """The base revision plus a hash of the weights and of the training data fingerprint."""
        h = hashlib.sha256(self._npz_bytes())
        h.update(str(self.lineage.get("data_fingerprint", "")).encode())
        h.update(self.features.encode())
        return f"{self.base_revision}+head-{h.hexdigest()[:12]}"

    def identity(self, prompt_version: str = PROMPT_VERSION) -> ModelIdentity:
        return ModelIdentity(name=self.base_name, revision=self.revision, prompt_version=prompt_version,
                             readout="head")

    def predict(self, features: np.ndarray) -> dict[str, float]:
        x = np.asarray(features, dtype=float)
        if x.shape != self.mean.shape:
            raise HeadError(f"head expects {self.mean.size} features, got {x.size}")
        y = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return {q: float(min(5.0, max(1.0, v))) for q, v in zip(ITEM_IDS, y, strict=True)}

    # ------------------------------------------------------------------ artefact
    def _npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept)
        return buf.getvalue()

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / HEAD_NPZ).write_bytes(self._npz_bytes())
        meta = {"format": FORMAT, "features": self.features, "base": {"name": self.base_name,
                                                                      "revision": self.base_revision},
                "revision": self.revision, "n_features": int(self.mean.size), "lineage": self.lineage}
        (d / HEAD_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "ReadoutHead":
        d = Path(directory)
        if not (d / HEAD_JSON).is_file() or not (d / HEAD_NPZ).is_file():
            raise HeadError(f"{d}: not a head artefact (needs {HEAD_JSON} and {HEAD_NPZ}; "
                            f"make one with `alliance-monitor train --method head`)")
        try:
            meta = json.loads((d / HEAD_JSON).read_text())
            if meta.get("format") != FORMAT:
                raise HeadError(f"{d}: unknown head format {meta.get('format')!r}")
            with np.load(d / HEAD_NPZ) as z:
                arrays = {k: np.asarray(z[k], dtype=float) for k in ("mean", "scale", "coef", "intercept")}
            head = cls(features=meta["features"], base_name=meta["base"]["name"],
                       base_revision=meta["base"]["revision"], lineage=meta.get("lineage") or {}, **arrays)
        except HeadError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise HeadError(f"{d}: unreadable head artefact ({type(err).__name__}: {err})") from None
        if meta.get("revision") and meta["revision"] != head.revision:
            raise HeadError(f"{d}: head weights do not match their recorded revision (edited or damaged artefact)")
        return head


def head_item(item: ItemScore, value: float) -> ItemScore:
    """The item with the head's answer: a two-point option distribution around it (so
    ``expected`` is still the distribution's mean); the base model's rationale is kept."""
    v = readout.clamp_score(value)
    lo = int(math.floor(v))
    probs = [0.0] * 5
    if lo >= 5:
        probs[4] = 1.0
    else:
        frac = v - lo
        probs[lo - 1] = 1.0 - frac
        probs[lo] = frac
    return item.model_copy(update={"expected": v, "probs": probs})


class HeadScorer:
    """A :class:`~scoring.scorer.Scorer` whose item answers come from a trained head."""

    def __init__(self, scorer, head: "ReadoutHead | BlockHead", extractor=None):
        engine = scorer.engine
        if (head.base_name, head.base_revision) != (engine.model_name, engine.revision):
            raise HeadError(f"the head was trained on {head.base_name}@{head.base_revision}, but the engine runs "
                            f"{engine.model_name}@{engine.revision}")
        if scorer.config.readout != "expected":
            raise HeadError("a head reads the expected read-out's option probabilities; use --readout expected")
        if _needs_hidden(head) and extractor is None:
            raise HeadError("this head needs hidden-state features: pass a HiddenStateExtractor")
        if isinstance(head, BlockHead) and head.needs_hidden:
            head.check_hidden(extractor.identity)
        elif _needs_hidden(head) and extractor.dtype != "float32":
            raise HeadError("a head of the first format reads float32 hidden states; this pass gives "
                            f"{extractor.dtype}")
        self.scorer = scorer
        self.head = head
        self.extractor = extractor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="head-features")
        #: seconds spent on the head (features + read-out) per scored request, for benchmarks
        self.head_seconds: list[float] = []

    @property
    def engine(self):
        return self.scorer.engine

    @property
    def config(self):
        return self.scorer.config

    @property
    def identity(self) -> ModelIdentity:
        return self.head.identity(self.scorer.identity.prompt_version)

    async def score(self, *, session_id: str, phase: str, turns: Sequence[TurnLike], lang: Lang = "en",
                    upto_turn_id: int | None = None, counselor_id: str | None = None,
                    watched: Sequence[str] | None = None, trimmed_turns: int = 0) -> AllianceScore:
        return (await self.score_with_base(session_id=session_id, phase=phase, turns=turns, lang=lang,
                                           upto_turn_id=upto_turn_id, counselor_id=counselor_id, watched=watched,
                                           trimmed_turns=trimmed_turns))[1]

    async def score_with_base(self, *, session_id: str, phase: str, turns: Sequence[TurnLike], lang: Lang = "en",
                              upto_turn_id: int | None = None, counselor_id: str | None = None,
                              watched: Sequence[str] | None = None,
                              trimmed_turns: int = 0) -> tuple[AllianceScore, AllianceScore]:
        """(the base model's zero-shot score, the head's score) from one engine pass."""
        start = time.perf_counter()
        hidden = None
        if isinstance(self.head, BlockHead):
            if self.head.needs_hidden:  # one pass for every hidden view, beside the engine's pass
                from .features import PooledHidden

                pooler = PooledHidden(self.extractor, batch_size=1)
                hidden = asyncio.get_running_loop().run_in_executor(
                    self._pool, lambda: pooler.pool([(list(turns), lang)])[0][0])
        elif "hidden" in self.head.features:  # runs beside the engine's pass, in its own thread
            hidden = asyncio.get_running_loop().run_in_executor(self._pool, self.extractor.features, list(turns), lang)
        base = await self.scorer.score(session_id=session_id, phase=phase, turns=turns, lang=lang,
                                       upto_turn_id=upto_turn_id, counselor_id=counselor_id, watched=watched,
                                       trimmed_turns=trimmed_turns)
        t_head = time.perf_counter()
        if isinstance(self.head, BlockHead):
            pooled = (await hidden) if hidden is not None else None
            answers = self.head.predict(list(turns), lang, pooled)
        else:
            parts = [await hidden] if hidden is not None else []
            if "probs" in self.head.features:
                parts.append(prob_features(base))
            answers = self.head.predict(np.concatenate(parts))
        items = [head_item(i, answers[i.item_id]) for i in base.items]
        self.head_seconds.append(time.perf_counter() - t_head)
        return base, base.model_copy(update={
            "items": items, "dimensions": readout.dimension_scores(items), "model": self.identity,
            "latency_ms": (time.perf_counter() - start) * 1000,
        })

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _needs_hidden(head: "ReadoutHead | BlockHead") -> bool:
    return head.needs_hidden if isinstance(head, BlockHead) else "hidden" in head.features


def load_head(directory: str | Path) -> "ReadoutHead | BlockHead":
    """Either head format, by what its ``head.json`` says."""
    d = Path(directory)
    if not (d / HEAD_JSON).is_file() or not (d / HEAD_NPZ).is_file():
        raise HeadError(f"{d}: not a head artefact (needs {HEAD_JSON} and {HEAD_NPZ}; "
                        f"make one with `alliance-monitor train --method head`)")
    try:
        fmt = json.loads((d / HEAD_JSON).read_text()).get("format")
    except (OSError, ValueError, AttributeError) as err:
        raise HeadError(f"{d}: unreadable head artefact ({type(err).__name__}: {err})") from None
    return BlockHead.load(d) if fmt == BLOCK_FORMAT else ReadoutHead.load(d)


def with_head(scorer, head: "ReadoutHead | BlockHead | str | Path", model) -> HeadScorer:
    """Wrap ``scorer`` with a head (or the head in a directory); loads the hidden-state pass when needed.

    ``model`` is the engine's :class:`~scoring.models.ModelRef` (the extra pass uses the same weights).
    """
    if not isinstance(head, (ReadoutHead, BlockHead)):
        head = load_head(head)
    extractor = None
    if _needs_hidden(head):
        from .features import HiddenStateExtractor

        if (head.base_name, head.base_revision) != (model.name, model.revision):
            raise HeadError(f"the head was trained on {head.base_name}@{head.base_revision}, but the engine runs "
                            f"{model.name}@{model.revision}")
        # the same pass as at training: the head records its number format (float32 before it did)
        extractor = HiddenStateExtractor(model, dtype=head.hidden_dtype if isinstance(head, BlockHead) else "float32")
    return HeadScorer(scorer, head, extractor)
