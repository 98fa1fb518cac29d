"""``train --method head --features lexical,hidden:client,...``: extract, combine, compare, save.

The shell around :mod:`training.combine` and :mod:`training.comparison`:

* hidden states: one batched forward pass per session gives every view at every phase cut
  (:class:`scoring.features.PooledHidden`), cached on disk by the session's content hash and
  the model (:class:`FeatureCache`), so a second ``train`` with other blocks reads them back;
* lexical: vectorisers fitted on the training sessions' texts (milliseconds per session, not cached);
* every block enters as a kernel over the training sessions; the combination is chosen by CV
  on the training split; the held-out split only measures (the comparison table, per phase).
"""

from __future__ import annotations

__layer__ = "shell"

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from scoring.block_head import Block, BlockHead
from scoring.feature_views import PHASES, VIEWS, phase_cut, split_block, view_text
from scoring.lexical import LexicalVectoriser

from .combine import Combination, DualModel, combine, primal_coef
from .comparison import Row, evaluate_rows, format_table, paired_differences
from .dataset import LabelledSession
from .errors import TrainingError


class FeatureCache:
    """Pooled hidden states per session, one ``.npy`` per (model, content hash): (phases, views, dim), float32."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            return np.load(p).astype(float)
        except (OSError, ValueError):  # a torn write: extract again
            return None

    def put(self, key: str, value: np.ndarray) -> None:
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, value.astype(np.float32))
        tmp.replace(p)


def default_cache() -> Path:
    from .lineage import trained_root

    return trained_root() / "feature-cache"


@dataclass
class Extraction:
    """Hidden states of each session: (phases, views, dim) in PHASES × VIEWS order; and what it cost."""

    hidden: list[np.ndarray]
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def extract_hidden(pooler, sessions: Sequence[LabelledSession], cache: FeatureCache | None, *, progress: bool = True,
                   batch: int = 8, desc: str = "hidden states") -> Extraction:
    """Every session's pooled hidden states at the three offline phase cuts, from the cache or one pass each."""
    from tqdm import tqdm

    from scoring.feature_views import content_hash

    salt = pooler.salt()
    keys = [content_hash(s.turns, s.lang, salt) for s in sessions]
    out: list[np.ndarray | None] = [cache.get(k) if cache else None for k in keys]
    # longest first, similar lengths together: a batch pads to its longest, and the ETA starts pessimistic
    todo = sorted((i for i, v in enumerate(out) if v is None), key=lambda i: -sessions[i].chars)
    start = time.perf_counter()
    with tqdm(total=len(todo), desc=desc, unit="session", disable=not progress or not todo) as bar:
        for b in range(0, len(todo), batch):
            idx = todo[b:b + batch]
            rows = [sessions[i] for i in idx]
            cuts = [[phase_cut(len(s.turns), p) for p in PHASES] for s in rows]
            arrays = pooler.pool([(s.turns, s.lang) for s in rows], views=VIEWS, per_session_cuts=cuts)
            for i, arr in zip(idx, arrays, strict=True):
                out[i] = arr
                if cache:
                    cache.put(keys[i], arr)
            bar.update(len(idx))
    done = [v for v in out if v is not None]
    return Extraction(done, computed=len(todo), cached=len(sessions) - len(todo),
                      seconds=time.perf_counter() - start)


@dataclass
class BlockData:
    """One block's transform (fitted on training sessions) and its matrices per split and phase."""

    name: str
    lexical: LexicalVectoriser | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    train: Any = None
    evaluation: dict[str, Any] = field(default_factory=dict)


def _texts(sessions: Sequence[LabelledSession], view: str, phase: str) -> list[str]:
    return [view_text(s.turns, view, phase_cut(len(s.turns), phase)) for s in sessions]  # type: ignore[arg-type]


def build_blocks(blocks: Sequence[str], train: Sequence[LabelledSession], evaluation: Sequence[LabelledSession],
                 hidden_train: list[np.ndarray] | None, hidden_eval: list[np.ndarray] | None) -> list[BlockData]:
    late = PHASES.index("late")
    out = []
    for name in blocks:
        source, view = split_block(name)
        if source == "lexical":
            vec = LexicalVectoriser.fit(_texts(train, view, "late"))
            bd = BlockData(name, lexical=vec, train=vec.transform(_texts(train, view, "late")))
            bd.evaluation = {p: vec.transform(_texts(evaluation, view, p)) for p in PHASES} if evaluation else {}
        else:
            assert hidden_train is not None
            v = VIEWS.index(view)
            h = np.stack([a[late, v] for a in hidden_train])
            mean, scale = h.mean(axis=0), h.std(axis=0)
            scale[scale < 1e-8] = 1.0
            bd = BlockData(name, mean=mean, scale=scale, train=(h - mean) / scale)
            if evaluation and hidden_eval is not None:
                bd.evaluation = {p: (np.stack([a[i, v] for a in hidden_eval]) - mean) / scale
                                 for i, p in enumerate(PHASES)}
        out.append(bd)
    return out


def kernel(z: Any) -> np.ndarray:
    k = z @ z.T
    return np.asarray(k.toarray() if hasattr(k, "toarray") else k, dtype=float)


def _mean_rows(z: Any) -> np.ndarray:
    return np.asarray(z.mean(axis=0), dtype=float).ravel()


def to_primal(model: DualModel, data: dict[str, BlockData]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per block feature-space weights and the intercept, for rows transformed as the block's training rows."""
    coefs: dict[str, np.ndarray] = {}
    intercept = model.intercept.astype(float).copy()
    for b, a in model.weights.items():
        if not np.any(a):
            continue
        mu = _mean_rows(data[b].train)
        coefs[b] = primal_coef(data[b].train, mu, a)
        intercept -= mu @ coefs[b]
    return coefs, intercept


def predict_primal(coefs: dict[str, np.ndarray], intercept: np.ndarray, data: dict[str, BlockData],
                   phase: str) -> np.ndarray:
    y = np.zeros((0,))
    for b, c in coefs.items():
        part = np.asarray(data[b].evaluation[phase] @ c)
        y = part if y.size == 0 else y + part
    return y + intercept


@dataclass
class BlockTraining:
    head: BlockHead
    combination: Combination
    rows: list[Row]
    table: str
    chosen_eval: np.ndarray | None  # (sessions, 12) item predictions of the chosen read-out, late phase
    extraction: Extraction | None
    timings: dict[str, float]


def train_blocks(train: Sequence[LabelledSession], evaluation: Sequence[LabelledSession], y: np.ndarray,
                 y_eval: np.ndarray | None, blocks: Sequence[str], *, base, pooler=None, cache: FeatureCache | None,
                 lineage: dict, progress: bool = True, seed: int = 0,
                 log: Callable[[str], None] = lambda m: None) -> BlockTraining:
    """Extract, fit every candidate, choose by CV on ``train``, compare on ``evaluation``."""
    timings: dict[str, float] = {}
    ext = None
    hidden_train = hidden_eval = None
    if any(split_block(b)[0] == "hidden" for b in blocks):
        if pooler is None:
            raise TrainingError("hidden blocks need the model's hidden states (no extractor given)")
        ext = extract_hidden(pooler, [*train, *evaluation], cache, progress=progress)
        hidden_train, hidden_eval = ext.hidden[:len(train)], ext.hidden[len(train):]
        log(f"hidden states: {ext.computed} session(s) extracted in {ext.seconds:.1f} s "
            f"({ext.rate:.2f} sessions/s), {ext.cached} read from the cache")
    t = time.perf_counter()
    data = {bd.name: bd for bd in build_blocks(blocks, train, evaluation, hidden_train, hidden_eval)}
    kernels = {b: kernel(d.train) for b, d in data.items()}
    timings["lexical + kernels s"] = time.perf_counter() - t
    t = time.perf_counter()
    comb = combine(kernels, y, seed=seed)
    timings["combination (CV) s"] = time.perf_counter() - t
    coefs, intercept = to_primal(comb.model, data)
    head = BlockHead([Block(b, coefs[b], data[b].lexical, data[b].mean, data[b].scale) for b in blocks if b in coefs],
                     intercept, base.name, base.revision,
                     {**lineage, "combination": comb.chosen_by_dimension, "cv_mse": comb.cv_mse_by_dimension,
                      "stack_weights": comb.stack_weights_by_dimension})
    if head.needs_hidden and pooler is not None:
        head.hidden = dict(pooler.extractor.identity)
    rows: list[Row] = []
    chosen_eval = None
    table = "(no held-out sessions: --eval-share 0)"
    if evaluation and y_eval is not None:
        preds: dict[tuple[str, str], np.ndarray] = {}
        for b in blocks:
            c, i = to_primal(comb.models[f"single:{b}"], data)
            preds[(b, "late")] = predict_primal(c, i, data, "late")
        label = _chosen_label(comb)
        for p in PHASES:
            preds[(label, p)] = predict_primal(coefs, intercept, data, p)
        chosen_eval = preds[(label, "late")]
        cov = np.asarray([[float(s.chars), float(s.client_turns)] for s in evaluation])
        rows = evaluate_rows(preds, y_eval, cov)
        diffs = paired_differences(preds, y_eval, cov, against=label, others=list(blocks), seed=seed)
        table = format_table(rows, chosen=label, differences=diffs, choice=comb.chosen_by_dimension)
    return BlockTraining(head, comb, rows, table, chosen_eval, ext, timings)


def _chosen_label(comb: Combination) -> str:
    """The chosen read-out's row name: the block's when one block serves every dimension, else ``combined``."""
    if comb.chosen.startswith("single:"):
        return comb.chosen[len("single:"):]
    return "combined"


def apply_cost(head: BlockHead, pooler, sessions: Sequence[LabelledSession], limit: int = 8) -> dict[str, float]:
    """Median milliseconds to apply the head to one request, per phase (hidden pass + lexical + read-out)."""
    import statistics

    out: dict[str, float] = {}
    for phase in PHASES:
        times = []
        for s in list(sessions)[:limit]:
            turns = s.turns[:phase_cut(len(s.turns), phase)]
            t = time.perf_counter()
            pooled = pooler.pool([(turns, s.lang)])[0][0] if head.needs_hidden and pooler is not None else None
            head.predict(turns, s.lang, pooled)
            times.append(time.perf_counter() - t)
        if times:
            out[phase] = statistics.median(times) * 1000
    return out
