"""A trained turn detector served live: its answers stand in for the word rules' in feedback cards.

Why: a site that trained a detector on its own codes (``train-turns``) and validated it
(``eval-turns --detector trained.… --record``) wants the cards its counselors read to rest
on it, not on the rules it beat. The scorer loads it once (``score --turn-detector``); for
each rated counselor turn it answers the codes it was trained for, the word rules answer
the rest, and the record names which detector answered each code
(``CounselorFeedback.feature_detectors``), so the feedback gate judges every code on the
record of the detector that produced it (:func:`validation.gate.feedback_validated`).

A detector that reads the scoring model's hidden states (``train-turns --features hidden|both``)
gets them from the same extractor training used (``training.turn_hidden``: transformers, beside
whatever engine the scorer runs, as a hidden-state head does), loaded once at start and checked to
be the model it was trained on; the pass runs in the thread that already keeps the detector off
the event loop.
"""

from __future__ import annotations

__layer__ = "shell"

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from training.turn_detector import hidden_model, predict
from validation.detectors import COUNSELOR_WORDS, Detector

from .errors import DetectorError
from .turn_features import TurnFeatures, features


@dataclass(frozen=True)
class LiveDetector:
    """A trained stand-in for the counselor word rules and its fitted models (one per code)."""

    detector: Detector
    models: Mapping[str, Any]
    #: (text, previous, speaker) -> the turn's pooled hidden states, for a detector that reads them
    states: Callable[[str, str, str], np.ndarray] | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c for c in COUNSELOR_WORDS.codes if c in self.models)


def serve(detector: Detector, models: Mapping[str, Any],
          states: Callable[[str, str, str], np.ndarray] | None = None) -> LiveDetector:
    """The detector as the scorer serves it; DetectorError unless it is a trained stand-in for the counselor
    word rules with a model for at least one of their codes (the cards rest on counselor turns only)."""
    if detector.kind != "trained" or detector.name != COUNSELOR_WORDS.name:
        raise DetectorError(f"{detector.key} cannot be served in feedback cards: only a detector trained for "
                            f"{COUNSELOR_WORDS.name} (train-turns --detector {COUNSELOR_WORDS.name}) can")
    if not any(c in COUNSELOR_WORDS.codes for c in models):
        raise DetectorError(f"{detector.key} answers none of {', '.join(COUNSELOR_WORDS.codes)}")
    if hidden_model(models) is not None and states is None:
        raise DetectorError(f"{detector.key} reads the scoring model's hidden states: serve it with the extractor")
    return LiveDetector(detector, models, states)


def word_codes(text: str, previous: str, live: LiveDetector | None = None) -> tuple[TurnFeatures, dict[str, str]]:
    """The word-level codes of one counselor turn and which detector answered each (code -> detector key):
    the served detector for its codes (reading ``previous``, the turn before, as its context), the word rules
    for the others."""
    rules = features(text)
    answers = rules.as_dict()
    sources = dict.fromkeys(answers, COUNSELOR_WORDS.key)
    if live is not None:
        hidden = live.states(text, previous, "counselor") if live.states is not None else None
        for code, yes in predict(live.models, text, previous, "counselor", hidden).items():
            if code in answers:
                answers[code], sources[code] = yes, live.detector.key
    return TurnFeatures(**answers, length=rules.length), sources
