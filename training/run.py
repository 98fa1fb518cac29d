"""One training run, start to end: labelled sessions -> split -> method -> artefact + lineage + summary.

What ``alliance-monitor train`` calls and what tests and bench/validity_loop.py
call directly. Returns a :class:`TrainReport` (numbers, paths, identity) and
prints nothing itself; ``log`` receives progress lines.
"""

from __future__ import annotations

__layer__ = "shell"

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .dataset import LabelledSession, fingerprint
from .errors import TrainingError
from .split import Split, split_by_time

if TYPE_CHECKING:
    from validation.records import ValidationRecord


@dataclass
class TrainReport:
    method: str
    identity: str
    artefact: Path
    split: Split
    data_fingerprint: str
    seconds: float
    details: dict = field(default_factory=dict)
    held_out: ValidationRecord | None = None  # validation.records.ValidationRecord on the held-out split (head only)
    #: the comparison table on the held-out split (a head over feature blocks)
    table: str | None = None

    def summary(self) -> str:
        lines = [f"trained {self.method}: {self.identity}",
                 f"  artefact: {self.artefact}",
                 (f"  data: {len(self.split.train)} train sessions (fingerprint {self.data_fingerprint}); "
                  f"{self.split.summary()}"),
                 f"  time: {self.seconds:.1f} s"]
        lines += [f"  {k}: {v}" for k, v in self.details.items()]
        return "\n".join(lines)


def default_out(method: str, data_fp: str) -> Path:
    from .lineage import trained_root

    return trained_root() / f"{method}-{data_fp}"


#: What ``train --method head`` reads by default: every lexical and hidden view (one hidden pass serves them all).
DEFAULT_FEATURES = "every"


def train_head(sessions: Sequence[LabelledSession], *, base, features: str = DEFAULT_FEATURES,
               eval_share: float = 0.3, out: Path | None = None, data_source: str = "labels file",
               engine: str = "transformers", progress: bool = True, seed: int = 0, extractor=None,
               cache: Path | None = None, log: Callable[[str], None] = lambda m: None) -> TrainReport:
    """``base`` is a ``scoring.models.ModelRef``; ``extractor`` may be passed in to reuse a loaded one.

    ``features``: feature blocks (``lexical,lexical:client,hidden``, :mod:`scoring.feature_views`) for a
    head of the second format; ``probs`` / ``hidden+probs`` keep the first format (option probabilities
    from the scoring pass). ``cache``: where pooled hidden states are kept between runs.
    """
    from scoring.feature_views import LEGACY_KINDS

    if features not in LEGACY_KINDS:
        return _train_block_head(sessions, base=base, features=features, eval_share=eval_share, out=out,
                                 data_source=data_source, progress=progress, seed=seed, extractor=extractor,
                                 cache=cache, log=log)
    import numpy as np

    from scoring.features import FEATURE_KINDS, HiddenStateExtractor

    from . import lineage as lin
    from .head_training import complete, fit_head, held_out_record, hidden_features, scored_features

    if features not in FEATURE_KINDS:
        raise TrainingError(f"unknown feature kind {features!r} (expected one of {', '.join(FEATURE_KINDS)})")
    start = time.perf_counter()
    split = split_by_time(complete(sessions), eval_share)
    fp = fingerprint(split.train)
    out = out or default_out("head", fp)
    log(split.summary())
    scorer = None
    if "hidden" in features and extractor is None:
        extractor = HiddenStateExtractor(base)
    if "probs" in features:
        scorer = _scorer(base, engine)

    def feats(rows: Sequence[LabelledSession], what: str):
        parts = []
        if "hidden" in features:
            parts.append(hidden_features(extractor, rows, progress=progress, desc=f"hidden states ({what})"))
        if "probs" in features:
            parts.append(scored_features(scorer, rows, progress=progress, desc=f"scoring pass ({what})")[0])
        return np.concatenate(parts, axis=1)

    try:
        x_train = feats(split.train, "train")
        t_fit = time.perf_counter()
        lineage = {"method": "head", "features": features, "data_fingerprint": fp, "data_source": data_source,
                   "n_train": len(split.train), "n_eval": len(split.evaluation)}
        result = fit_head(x_train, split.train, features=features, base_name=base.name, base_revision=base.revision,
                          lineage=lineage, seed=seed)
        fit_s = time.perf_counter() - t_fit
        head = result.head
        head.save(out)
        held = None
        if split.evaluation:
            x_eval = feats(split.evaluation, "held out")
            preds = np.stack([[v for v in head.predict(row).values()] for row in x_eval])
            held = held_out_record(head.identity(), preds, split.evaluation)
    finally:
        if scorer is not None:
            _close(scorer)
    seconds = time.perf_counter() - start
    ident = head.identity()
    from validation.records import model_key

    lin.write(lin.Lineage(method="head", identity=model_key(ident), base_name=base.name, base_revision=base.revision,
                          data_fingerprint=fp, data_source=data_source, n_train=len(split.train),
                          n_eval=len(split.evaluation), shared_counselors=split.shared_counselors, path=str(out),
                          params={"features": features, "alphas": result.alphas}), out)
    alphas = sorted(result.alphas.values())
    return TrainReport("head", model_key(ident), out, split, fp, seconds, {
        "features": f"{features} ({head.mean.size} per session)",
        "ridge penalties (CV, per item)": f"{alphas[0]:g} .. {alphas[-1]:g}",
        "fit": f"{fit_s:.2f} s",
        "use it": f"alliance-monitor score --head {out}   (or score-file FILE --head {out})",
    }, held)


def _train_block_head(sessions: Sequence[LabelledSession], *, base, features: str, eval_share: float,
                      out: Path | None, data_source: str, progress: bool, seed: int, extractor, cache: Path | None,
                      log: Callable[[str], None]) -> TrainReport:
    from scoring.errors import HeadError
    from scoring.feature_views import parse_blocks, sources_of

    from . import lineage as lin
    from .block_training import FeatureCache, apply_cost, default_cache, train_blocks
    from .head_training import MIN_TRAIN, answers_matrix, complete, held_out_record

    try:
        blocks = parse_blocks(features)
    except HeadError as err:
        raise TrainingError(str(err)) from None
    start = time.perf_counter()
    split = split_by_time(complete(sessions), eval_share)
    if len(split.train) < MIN_TRAIN:
        raise TrainingError(f"only {len(split.train)} training sessions with all 12 answers; a head needs at least "
                            f"{MIN_TRAIN}")
    fp = fingerprint(split.train)
    out = out or default_out("head", fp)
    log(split.summary())
    pooler = None
    if "hidden" in sources_of(blocks):
        from scoring.engines.hf_engine import cpu_threads
        from scoring.features import BLOCK_DTYPE, HiddenStateExtractor, PooledHidden

        pooler = PooledHidden(extractor or HiddenStateExtractor(base, dtype=BLOCK_DTYPE,
                                                                threads=cpu_threads(batch_job=True)))
    lineage = {"method": "head", "features": ",".join(blocks), "data_fingerprint": fp, "data_source": data_source,
               "n_train": len(split.train), "n_eval": len(split.evaluation)}
    y_eval = answers_matrix(split.evaluation) if split.evaluation else None
    res = train_blocks(split.train, split.evaluation, answers_matrix(split.train), y_eval, blocks, base=base,
                       pooler=pooler, cache=FeatureCache(cache or default_cache()), lineage=lineage,
                       progress=progress, seed=seed, log=log)
    head = res.head
    head.save(out)
    ident = head.identity()
    held = None
    if res.chosen_eval is not None:
        held = held_out_record(ident, res.chosen_eval, split.evaluation)
    cost = apply_cost(head, pooler, split.evaluation or split.train)
    seconds = time.perf_counter() - start
    from validation.records import model_key

    comb = res.combination
    lin.write(lin.Lineage(method="head", identity=model_key(ident), base_name=base.name, base_revision=base.revision,
                          data_fingerprint=fp, data_source=data_source, n_train=len(split.train),
                          n_eval=len(split.evaluation), shared_counselors=split.shared_counselors, path=str(out),
                          params={"features": head.features, "combination": comb.chosen,
                                  "candidates": ",".join(blocks)}), out)
    details = {
        "features": f"{', '.join(blocks)} -> {head.features} in the head",
        "combination (CV on the training split)": comb.chosen + "  (CV mse: " + ", ".join(
            f"{k} {v:.3f}" for k, v in sorted(comb.cv_mse.items(), key=lambda kv: kv[1])) + ")",
    }
    ext = res.extraction
    if ext is not None:
        details["hidden-state extraction"] = (f"{ext.computed} session(s) in {ext.seconds:.1f} s "
                                              f"({ext.rate:.2f} sessions/s; {ext.cached} from the cache)")
    details.update({k: f"{v:.2f}" for k, v in res.timings.items()})
    details["apply cost per request (median ms)"] = ", ".join(f"{p} {ms:.0f}" for p, ms in cost.items())
    details["use it"] = f"alliance-monitor score --head {out}   (or score-file FILE --head {out})"
    return TrainReport("head", model_key(ident), out, split, fp, seconds, details, held, res.table)


def train_lora(sessions: Sequence[LabelledSession], *, base, settings, eval_share: float = 0.3,
               out: Path | None = None, data_source: str = "labels file", resume: bool = False,
               progress: bool = True, log: Callable[[str], None] = lambda m: None) -> TrainReport:
    from . import lineage as lin
    from .lora import train_lora as _train

    start = time.perf_counter()
    split = split_by_time(sessions, eval_share)
    if not split.train:
        raise TrainingError("no training sessions after the split")
    fp = fingerprint(split.train)
    out = out or default_out("lora", fp)
    log(split.summary())
    res = _train(base.path, base.name, base.revision, split.train, out, settings, data_fingerprint=fp, resume=resume,
                 progress=progress, log=log)
    from scoring.prompts import PROMPT_VERSION

    key = f"{res.name}@{res.revision}:{PROMPT_VERSION}/expected"
    lin.write(lin.Lineage(method="lora", identity=key, base_name=base.name, base_revision=base.revision,
                          data_fingerprint=fp, data_source=data_source, n_train=len(split.train),
                          n_eval=len(split.evaluation), shared_counselors=split.shared_counselors,
                          path=str(res.model_dir),
                          params={"max_steps": settings.max_steps, "batch_size": settings.batch_size,
                                  "learning_rate": settings.learning_rate, "rank": settings.rank,
                                  "device": res.device}), res.model_dir)
    return TrainReport("lora", key, res.model_dir, split, fp, time.perf_counter() - start, {
        "steps": f"{res.steps} (resumed from {res.resumed_from})" if res.resumed_from else str(res.steps),
        "examples (session x item)": str(res.examples),
        "final loss": "n/a" if res.final_loss is None else f"{res.final_loss:.3f}",
        "device": res.device,
        "adapter": str(res.adapter_dir),
        "use it": f"alliance-monitor score --model {res.model_dir}",
    })


def _scorer(base, engine: str):
    from scoring.engines import load_engine
    from scoring.scorer import Scorer

    return Scorer(load_engine(engine, base))


def _close(scorer) -> None:
    import asyncio

    asyncio.run(scorer.engine.aclose())
