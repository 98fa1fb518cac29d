"""Seeded synthetic label sets that exercise the gate (tests and ``demo_numbers``).

Not clinical data and not a model: numbers built so that the right answer is
known. Every set has 242 sessions (the size of the published held-out set) and
client labels on the WAI-SR scale (dimension = mean of four 1–5 items) that
correlate moderately with transcript length, as real ratings tend to (longer,
more engaged chats are rated higher). That is exactly what lets a
length-tracking model look good on raw r.

* :func:`length_only` — predictions follow transcript length and nothing else.
* :func:`signal_in` — like ``length_only``, but one dimension's predictions also
  carry the client's actual rating beyond length.
* :func:`misscaled` — predictions that rank sessions sensibly but are squeezed
  into 2.9–3.3 around the wrong centre (a small model's compressed scale).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass

import numpy as np

from streams.contracts import DIMENSIONS

N_SESSIONS = 242
#: How strongly the synthetic client ratings follow transcript length (latent scale).
LABEL_LENGTH_LOADING = 0.45


@dataclass(frozen=True)
class LabelledSet:
    """Predictions, labels and length covariates for the same sessions, row by row."""

    name: str
    session_ids: tuple[str, ...]
    covariates: np.ndarray  # (n, 2): transcript characters, client turns
    labels: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]

    @property
    def n(self) -> int:
        return len(self.session_ids)


def _z(v: np.ndarray) -> np.ndarray:
    z: np.ndarray = (v - v.mean()) / v.std()
    return z


def _base(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sessions' length covariates, a length factor, labels, and each label's non-length part."""
    rng = np.random.default_rng(seed)
    client_turns = rng.integers(8, 61, size=n).astype(float)
    counselor_chars = rng.normal(2400, 600, size=n).clip(600)
    chars = client_turns * rng.normal(55, 12, size=n).clip(15) + counselor_chars
    # Length factor: a fixed linear combination of the two covariates, so that
    # controlling for them removes it completely.
    length = _z(0.6 * _z(chars) + 0.4 * _z(client_turns))
    labels: dict[str, np.ndarray] = {}
    beyond: dict[str, np.ndarray] = {}
    a = LABEL_LENGTH_LOADING
    for dim in DIMENSIONS:
        own = rng.normal(size=n)
        latent = a * length + np.sqrt(1 - a * a) * own
        items = np.clip(np.rint(3.6 + 0.8 * latent[:, None] + rng.normal(0, 0.6, size=(n, 4))), 1, 5)
        labels[dim] = items.mean(axis=1)
        beyond[dim] = own
    return np.column_stack([chars, client_turns]), length, labels, beyond


def _ids(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-{i:03d}" for i in range(n))


def length_only(seed: int = 11, n: int = N_SESSIONS) -> LabelledSet:
    """Predictions = f(length) + small noise, for every dimension: should never pass."""
    cov, length, labels, _ = _base(seed, n)
    rng = np.random.default_rng(seed + 1000)
    preds: dict[str, np.ndarray] = {d: np.clip(3.2 + 0.35 * length + rng.normal(0, 0.08, size=n), 1, 5)
                                    for d in DIMENSIONS}
    return LabelledSet("length_only", _ids("len", n), cov, labels, preds)


def signal_in(dimension: str = "bond", seed: int = 12, n: int = N_SESSIONS) -> LabelledSet:
    """Length-tracking predictions, plus the rating's non-length part for ``dimension`` only."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    cov, length, labels, beyond = _base(seed, n)
    rng = np.random.default_rng(seed + 1000)
    preds: dict[str, np.ndarray] = {}
    for d in DIMENSIONS:
        p = 3.2 + 0.35 * length + rng.normal(0, 0.08, size=n)
        if d == dimension:
            p = p + 0.2 * beyond[d] + rng.normal(0, 0.25, size=n)
        preds[d] = np.clip(p, 1, 5)
    return LabelledSet(f"signal_in_{dimension}", _ids("sig", n), cov, labels, preds)


def misscaled(seed: int = 13, n: int = N_SESSIONS) -> LabelledSet:
    """Predictions that track the labels but live in 2.9–3.3 (offset and compressed)."""
    cov, _, labels, _ = _base(seed, n)
    rng = np.random.default_rng(seed + 1000)
    preds: dict[str, np.ndarray] = {}
    for d in DIMENSIONS:
        informative = _z(labels[d]) + rng.normal(0, 1.6, size=n)
        preds[d] = np.clip(3.1 + 0.1 * _z(informative), 2.9, 3.3)
    return LabelledSet("misscaled", _ids("mis", n), cov, labels, preds)
