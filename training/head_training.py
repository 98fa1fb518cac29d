"""``train --method head``: frozen features of the scoring model -> ridge per item -> a head artefact.

The shell around :mod:`training.ridge`: extract features with a progress bar,
fit, save the artefact with its lineage, and check it on the held-out split
with the validation gate's own evaluation (``validation.verdict.evaluate``).
"""

from __future__ import annotations

__layer__ = "shell"

import asyncio
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from scoring.head import ReadoutHead
from streams.contracts import DIMENSION_ITEMS, ITEM_IDS

from .dataset import LabelledSession
from .errors import TrainingError
from .ridge import fit_ridge

#: Fewest complete training sessions for a head (5-fold CV of the penalty needs some per fold).
MIN_TRAIN = 20

FeatureFn = Callable[[Sequence[LabelledSession]], np.ndarray]


def complete(sessions: Sequence[LabelledSession]) -> list[LabelledSession]:
    """Sessions with all 12 answers (a head predicts every item)."""
    return [s for s in sessions if all(q in s.answers for q in ITEM_IDS)]


def answers_matrix(sessions: Sequence[LabelledSession]) -> np.ndarray:
    return np.asarray([[s.answers[q] for q in ITEM_IDS] for s in sessions], dtype=float)


def hidden_features(extractor, sessions: Sequence[LabelledSession], *, progress: bool = True,
                    desc: str = "hidden-state features") -> np.ndarray:
    from tqdm import tqdm

    return np.stack([extractor.features(s.turns, s.lang)
                     for s in tqdm(sessions, desc=desc, unit="session", disable=not progress)])


def scored_features(scorer, sessions: Sequence[LabelledSession], *, progress: bool = True,
                    desc: str = "scoring pass") -> tuple[np.ndarray, list]:
    """Option-probability features from the real scoring pass (and the zero-shot scores themselves)."""
    from tqdm import tqdm

    from scoring.features import prob_features

    async def run() -> list:
        out = []
        bar = tqdm(total=len(sessions), desc=desc, unit="session", disable=not progress)
        for s in sessions:
            out.append(await scorer.score(session_id=s.session_id, phase="late", turns=s.turns, lang=s.lang,
                                          counselor_id=s.counselor_id))
            bar.update()
        bar.close()
        return out

    scores = asyncio.run(run())  # call outside a running event loop (CLI, tests, bench)
    return np.stack([prob_features(sc) for sc in scores]), scores


@dataclass(frozen=True)
class HeadResult:
    head: ReadoutHead
    n_train: int
    alphas: dict[str, float]


def fit_head(x: np.ndarray, sessions: Sequence[LabelledSession], *, features: str, base_name: str,
             base_revision: str, lineage: dict, seed: int = 0) -> HeadResult:
    """Ridge per item with CV'd penalties on ``x`` (one row per session)."""
    if len(sessions) < MIN_TRAIN:
        raise TrainingError(f"only {len(sessions)} training sessions with all 12 answers; a head needs at least "
                            f"{MIN_TRAIN}")
    y = answers_matrix(sessions)
    fit = fit_ridge(x, y, seed=seed)
    head = ReadoutHead(features=features, base_name=base_name, base_revision=base_revision, mean=fit.mean,
                       scale=fit.scale, coef=fit.coef, intercept=fit.intercept, lineage=lineage)
    return HeadResult(head, len(sessions), {q: float(a) for q, a in zip(ITEM_IDS, fit.alphas, strict=True)})


def dimension_means(item_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per dimension, the mean of its item columns (columns in ITEM_IDS order)."""
    col = {q: i for i, q in enumerate(ITEM_IDS)}
    return {d: item_rows[:, [col[q] for q in items]].mean(axis=1) for d, items in DIMENSION_ITEMS.items()}


def held_out_record(model, predicted_items: np.ndarray, sessions: Sequence[LabelledSession], settings=None,
                    source: str = "held-out split"):
    """The validation gate's evaluation of item predictions on labelled sessions."""
    from validation.verdict import evaluate

    preds = dimension_means(predicted_items)
    labels = dimension_means(answers_matrix(sessions))
    cov = [[float(s.chars), float(s.client_turns)] for s in sessions]
    return evaluate(model, {d: list(v) for d, v in preds.items()}, {d: list(v) for d, v in labels.items()}, cov,
                    settings, labels_source=source)
