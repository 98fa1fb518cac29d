"""The scoring model's hidden states of single turns in their context, for a turn detector (``--features hidden``).

Why this shape: a turn's code depends on the turn and on what it answers, so each turn is read as a
two-line transcript (its previous turn, then the turn) by the same extractor and pooling the session
head uses (:class:`scoring.features.PooledHidden`: the middle layer, one padded pass per batch), and the
states are averaged over the turn's own tokens only (the view of its speaker; the previous turn is
rendered as the other speaker's). Training, ``eval-turns --detector`` and the scorer all call
:func:`turn_states`, so a detector reads the same numbers wherever it runs. Never logs turn text.
"""

from __future__ import annotations

__layer__ = "shell"

import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from scoring.prompts import Line
from scoring.transcripts import guess_lang

from .errors import TrainingError
from .turn_detector import HiddenModel

#: Turns per forward pass (padded to the longest in the batch).
BATCH = 16


@dataclass(frozen=True)
class TurnStates:
    """Pooled states per turn (rows in input order) and what the extraction cost."""

    hidden: np.ndarray
    seconds: float

    @property
    def rate(self) -> float:
        return len(self.hidden) / self.seconds if self.seconds > 0 else float("nan")


def pooler_for(model: Any) -> Any:
    """The head's pooled extractor on ``model`` (a ``scoring.models.ModelRef``; transformers, CPU or GPU)."""
    from scoring.features import HiddenStateExtractor, PooledHidden

    return PooledHidden(HiddenStateExtractor(model), batch_size=BATCH)


def identity_of(pooler: Any) -> HiddenModel:
    """The model identity a detector trained on ``pooler``'s states carries."""
    ext = pooler.extractor
    return HiddenModel(ext.model_name, ext.revision, pooler.salt())


def _refuse(wanted: HiddenModel, have: str) -> TrainingError:
    return TrainingError(f"the detector reads the hidden states of {wanted.key} ({wanted.salt}), but the model here "
                         f"is {have}: give --model (or ALLIANCE_MODEL) the model it was trained on, or retrain with "
                         "train-turns")


def checked_pooler(wanted: HiddenModel, model: Any) -> Any:
    """The pooled extractor on ``model`` (a ``ModelRef``) if it reads the states the detector was trained on, else
    TrainingError (one line; the name and revision are checked before the weights are loaded)."""
    if (model.name, model.revision) != (wanted.name, wanted.revision):
        raise _refuse(wanted, f"{model.name}@{model.revision}")
    pooler = pooler_for(model)
    have = identity_of(pooler)
    if have != wanted:
        raise _refuse(wanted, f"{have.key} ({have.salt})")
    return pooler


def in_context(text: str, previous: str, speaker: str) -> list[Line]:
    """The two-line transcript the states are read from: the previous turn (if any), then the turn."""
    other = "client" if speaker == "counselor" else "counselor"
    return ([Line(other, previous)] if previous else []) + [Line(speaker, text)]  # type: ignore[arg-type]


def turn_states(pooler: Any, turns: Sequence[tuple[str, str, str]], *, progress: bool = False,
                desc: str = "hidden states") -> TurnStates:
    """Each (text, previous, speaker)'s states pooled over the turn's own tokens: an array (turns, dim)."""
    from tqdm import tqdm

    out = np.zeros((len(turns), pooler.dim))
    start = time.perf_counter()
    views = ("client", "counselor")
    with tqdm(total=len(turns), desc=desc, unit="turn", disable=not progress or not turns) as bar:
        for b in range(0, len(turns), BATCH):
            chunk = turns[b:b + BATCH]
            sessions = [(in_context(text, prev, speaker), guess_lang([text, prev])) for text, prev, speaker in chunk]
            for r, (arr, (_t, _p, speaker)) in enumerate(zip(pooler.pool(sessions, views=views), chunk, strict=True)):
                out[b + r] = arr[0, views.index(speaker)]
            bar.update(len(chunk))
    return TurnStates(out, time.perf_counter() - start)
