"""A head over feature blocks (``train --features lexical,lexical:client,hidden,...``): artefact and read-out.

The second head format (``alliance-monitor-head/2``). Per block (:mod:`scoring.feature_views`)
the artefact keeps what turns a session into that block's numbers — the lexical vocabulary and
IDF weights fitted on the training sessions, or the standardisation of the pooled hidden
states — and the block's weights per item; the answers are ``Σ_b z_b @ coef_b + intercept``,
clipped to 1..5. How the blocks were combined (stacking, one ridge over all, or one block) is
decided at training time (:mod:`training.combine`) and folded into these weights.

The same features are read at every phase: the live request's transcript is the cut, and the
``window`` view is its last turns. Identity as for the first format (:class:`scoring.head.ReadoutHead`).
"""

from __future__ import annotations

__layer__ = "shell"

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from streams.contracts import ITEM_IDS, Lang, ModelIdentity

from .errors import HeadError
from .feature_views import VIEWS, split_block, view_text
from .lexical import LexicalVectoriser
from .prompts import PROMPT_VERSION, TurnLike

FORMAT = "alliance-monitor-head/2"
HEAD_JSON = "head.json"
HEAD_NPZ = "head.npz"


@dataclass
class Block:
    """One block's transform and weights (``coef``: features × 12)."""

    name: str
    coef: np.ndarray
    lexical: LexicalVectoriser | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    @property
    def source(self) -> str:
        return split_block(self.name)[0]

    @property
    def view(self) -> str:
        return split_block(self.name)[1]


@dataclass
class BlockHead:
    """A trained read-out over feature blocks; predicts the 12 item answers."""

    blocks: list[Block]
    intercept: np.ndarray
    base_name: str
    base_revision: str
    lineage: dict[str, Any] = field(default_factory=dict)
    #: the hidden pass the head was trained on (:attr:`scoring.features.HiddenStateExtractor.identity`:
    #: layer, number format, longest transcript); the live pass must be the same. ``None``: a head
    #: from before it was recorded, or without a hidden block (then float32, the only pass there was)
    hidden: dict[str, Any] | None = None

    @property
    def features(self) -> str:
        return ",".join(b.name for b in self.blocks)

    @property
    def needs_hidden(self) -> bool:
        return any(b.source == "hidden" for b in self.blocks)

    @property
    def hidden_dtype(self) -> str:
        """The number format of the hidden pass this head reads (float32 for heads that predate the record)."""
        return str((self.hidden or {}).get("dtype", "float32"))

    def check_hidden(self, identity: dict[str, Any]) -> None:
        """Refuse a live hidden pass that differs from the one the head was trained on."""
        want = self.hidden or {"dtype": "float32"}
        diff = {k: (v, identity.get(k)) for k, v in want.items() if identity.get(k) != v}
        if diff:
            raise HeadError("the head was trained on other hidden-state features than this pass gives: " + ", ".join(
                f"{k} {a} (head) vs {b} (pass)" for k, (a, b) in sorted(diff.items())))

    def _npz_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"intercept": self.intercept}
        for b in self.blocks:
            arrays[f"{b.name}/coef"] = b.coef
            if b.lexical is not None:
                for k, v in b.lexical.state()[1].items():
                    arrays[f"{b.name}/idf/{k}"] = v
            if b.mean is not None and b.scale is not None:
                arrays[f"{b.name}/mean"], arrays[f"{b.name}/scale"] = b.mean, b.scale
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its bool flag
        return buf.getvalue()

    @property
    def revision(self) -> str:
        h = hashlib.sha256(self._npz_bytes())
        h.update(str(self.lineage.get("data_fingerprint", "")).encode())
        h.update(self.features.encode())
        if self.hidden is not None:  # absent in heads from before it was recorded: their revision stays
            h.update(json.dumps(self.hidden, sort_keys=True).encode())
        for b in self.blocks:
            if b.lexical is not None:
                h.update(json.dumps(b.lexical.state()[0], sort_keys=True).encode())
        return f"{self.base_revision}+head-{h.hexdigest()[:12]}"

    def identity(self, prompt_version: str = PROMPT_VERSION) -> ModelIdentity:
        return ModelIdentity(name=self.base_name, revision=self.revision, prompt_version=prompt_version,
                             readout="head")

    # ------------------------------------------------------------------ read-out
    def block_inputs(self, turns: Sequence[TurnLike], lang: Lang, pooled: np.ndarray | None) -> dict[str, Any]:
        """Each block's transformed features for one transcript; ``pooled``: (views, dim) hidden states."""
        out: dict[str, Any] = {}
        for b in self.blocks:
            if b.lexical is not None:
                out[b.name] = b.lexical.transform([view_text(turns, b.view)])
            else:
                if pooled is None:
                    raise HeadError("this head needs hidden-state features: pass the pooled hidden states")
                out[b.name] = ((pooled[VIEWS.index(b.view)] - b.mean) / b.scale)[None, :]
        return out

    def predict_inputs(self, inputs: dict[str, Any]) -> np.ndarray:
        """Raw item answers (rows × 12) from :meth:`block_inputs`-shaped matrices (not clipped)."""
        y: np.ndarray | None = None
        for b in self.blocks:
            part = np.asarray(inputs[b.name] @ b.coef)
            y = part if y is None else y + part
        assert y is not None  # a head has at least one block (checked on load and on training)
        return y + self.intercept

    def predict(self, turns: Sequence[TurnLike], lang: Lang, pooled: np.ndarray | None = None) -> dict[str, float]:
        y = self.predict_inputs(self.block_inputs(turns, lang, pooled))[0]
        return {q: float(min(5.0, max(1.0, v))) for q, v in zip(ITEM_IDS, y, strict=True)}

    # ------------------------------------------------------------------ artefact
    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / HEAD_NPZ).write_bytes(self._npz_bytes())
        vocab = {b.name: b.lexical.state()[0] for b in self.blocks if b.lexical is not None}
        meta = {"format": FORMAT, "features": self.features, "base": {"name": self.base_name,
                                                                      "revision": self.base_revision},
                "revision": self.revision, "blocks": [b.name for b in self.blocks],
                "n_features": {b.name: int(b.coef.shape[0]) for b in self.blocks}, "lexical_vocabulary": vocab,
                "lineage": self.lineage}
        if self.hidden is not None:
            meta["hidden"] = self.hidden
        (d / HEAD_JSON).write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=False))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> BlockHead:
        d = Path(directory)
        try:
            meta = json.loads((d / HEAD_JSON).read_text())
            with np.load(d / HEAD_NPZ) as z:
                arrays = {k: np.asarray(z[k], dtype=float) for k in z.files}
            blocks = []
            for name in meta["blocks"]:
                source, _ = split_block(name)
                lex = None
                if source == "lexical":
                    vocab = meta["lexical_vocabulary"][name]
                    lex = LexicalVectoriser.from_state(vocab, {k: arrays[f"{name}/idf/{k}"] for k in vocab})
                blocks.append(Block(name, arrays[f"{name}/coef"], lex, arrays.get(f"{name}/mean"),
                                    arrays.get(f"{name}/scale")))
            head = cls(blocks, arrays["intercept"], meta["base"]["name"], meta["base"]["revision"],
                       meta.get("lineage") or {}, meta.get("hidden"))
        except HeadError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise HeadError(f"{d}: unreadable head artefact ({type(err).__name__}: {err})") from None
        if not head.blocks:
            raise HeadError(f"{d}: the head has no feature block")
        if meta.get("revision") and meta["revision"] != head.revision:
            raise HeadError(f"{d}: head weights do not match their recorded revision (edited or damaged artefact)")
        return head
