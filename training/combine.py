"""Combining feature blocks into one read-out: per-block ridge, stacking, or one multi-penalty ridge (pure numpy).

Each block (``lexical``, ``hidden:client``, ...; :mod:`scoring.feature_views`) enters as its
linear kernel over the training sessions, ``K_b = Z_b Z_bᵀ``. Why kernels: a lexical block has
tens of thousands of columns and a few hundred rows, so the ridge is solved in the rows' space
(one eigendecomposition per fold serves every penalty and all 12 items), and the weights come
back to feature space as ``Z_bᵀ A_b`` (:func:`primal_coef`).

Candidates, all fitted on the training split only:

* ``single:<block>`` — one block, its penalty per item by k-fold CV;
* ``stack`` — every block's out-of-fold predictions, combined per item with non-negative
  weights (scipy's NNLS) — a block that does not help gets weight 0;
* ``concat`` — one ridge over all blocks, each block with its own penalty (the one its own
  CV chose, as a kernel weight ``1/α_b``), the overall penalty CV'd per item.

Which one the head uses is chosen by a nested k-fold CV on the training split (the outer
folds never see the inner fits): the lowest mean squared error over the 12 items. The
held-out split is never looked at here.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from validation.stats import fold_ids

#: Penalties tried, relative to the kernel's mean diagonal (after centring).
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))


@dataclass(frozen=True)
class DualModel:
    """``pred = Σ_b centre(k_b(x, train)) @ weights[b] + intercept`` (one column per item)."""

    weights: dict[str, np.ndarray]
    intercept: np.ndarray

    def predict(self, cross: Mapping[str, np.ndarray], train: Mapping[str, np.ndarray]) -> np.ndarray:
        """``cross[b]``: (m, n) kernel of new rows against the training rows; ``train[b]``: (n, n)."""
        out: np.ndarray = np.zeros((next(iter(cross.values())).shape[0], self.intercept.size)) + self.intercept
        for b, a in self.weights.items():
            if np.any(a):
                out += centre_cross(cross[b], train[b]) @ a
        return out


@dataclass(frozen=True)
class Combination:
    """The chosen model and what the choice saw."""

    chosen: str
    models: dict[str, DualModel]
    #: nested-CV mean squared error (mean over the items) per candidate, on the training split
    cv_mse: dict[str, float]
    #: per block, the penalty per item its own CV chose (relative)
    alphas: dict[str, np.ndarray] = field(default_factory=dict)
    #: stacking weights per block (mean over items)
    stack_weights: dict[str, float] = field(default_factory=dict)

    @property
    def model(self) -> DualModel:
        return self.models[self.chosen]


def centre(k: np.ndarray) -> np.ndarray:
    """The kernel of the column-centred features (double centring)."""
    row = k.mean(axis=0)
    out: np.ndarray = k - row[None, :] - row[:, None] + row.mean()
    return out


def centre_cross(k: np.ndarray, k_train: np.ndarray) -> np.ndarray:
    """New rows' kernel against the training rows, centred with the training means."""
    col = k_train.mean(axis=0)
    out: np.ndarray = k - col[None, :] - k.mean(axis=1)[:, None] + col.mean()
    return out


def _scale(kc: np.ndarray) -> float:
    s = float(np.trace(kc)) / max(1, kc.shape[0])
    return s if s > 1e-12 else 1.0


def _solve(kc: np.ndarray, yc: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Dual weights for every penalty: (len(alphas), n, targets); ``kc`` centred, ``yc`` centred."""
    s, v = np.linalg.eigh(kc)
    s = np.clip(s, 0.0, None)
    vty = v.T @ yc
    lam = alphas * _scale(kc)
    return np.stack([v @ (vty / (s + a)[:, None]) for a in lam])


def ridge_cv(k: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0,
             alphas: tuple[float, ...] = ALPHAS) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the penalty with the lowest k-fold CV error; and the out-of-fold predictions at it."""
    n = k.shape[0]
    al = np.asarray(alphas, dtype=float)
    ids = fold_ids(n, min(folds, n), seed)
    preds = np.zeros((al.size, n, y.shape[1]))
    for f in np.unique(ids):
        tr, te = ids != f, ids == f
        ktr = k[np.ix_(tr, tr)]
        ym = y[tr].mean(axis=0)
        dual = _solve(centre(ktr), y[tr] - ym, al)
        kte = centre_cross(k[np.ix_(te, tr)], ktr)
        for j in range(al.size):
            preds[j][te] = kte @ dual[j] + ym
    mse = ((preds - y[None]) ** 2).mean(axis=1)
    best = mse.argmin(axis=0)
    oof = np.stack([preds[best[t], :, t] for t in range(y.shape[1])], axis=1)
    return al[best], oof


def fit_dual(k: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dual weights (n, targets) at each target's penalty, and the intercept (the mean answer)."""
    ym = y.mean(axis=0)
    kc = centre(k)
    uniq = np.unique(alphas)
    dual = _solve(kc, y - ym, uniq)
    a = np.zeros((k.shape[0], y.shape[1]))
    for t in range(y.shape[1]):
        a[:, t] = dual[int(np.searchsorted(uniq, alphas[t])), :, t]
    return a, ym


def _nnls_weights(oof: Mapping[str, np.ndarray], y: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per target, non-negative weights of the blocks' out-of-fold predictions, plus an intercept."""
    from scipy.optimize import nnls

    names = list(oof)
    w = {b: np.zeros(y.shape[1]) for b in names}
    c = np.zeros(y.shape[1])
    for t in range(y.shape[1]):
        x = np.column_stack([oof[b][:, t] for b in names])
        xm, ym = x.mean(axis=0), y[:, t].mean()
        coef, _ = nnls(x - xm, y[:, t] - ym)
        for b, v in zip(names, coef, strict=True):
            w[b][t] = float(v)
        c[t] = ym - float(xm @ coef)
    return w, c


def fit_candidates(kernels: Mapping[str, np.ndarray], y: np.ndarray, *, folds: int = 5,
                   seed: int = 0) -> tuple[dict[str, DualModel], dict[str, np.ndarray], dict[str, float]]:
    """Every candidate fitted on these rows: (models, each block's penalties, stacking weights)."""
    names = list(kernels)
    models: dict[str, DualModel] = {}
    alphas: dict[str, np.ndarray] = {}
    oof: dict[str, np.ndarray] = {}
    singles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for b in names:
        alphas[b], oof[b] = ridge_cv(kernels[b], y, folds=folds, seed=seed)
        singles[b] = fit_dual(kernels[b], y, alphas[b])
        models[f"single:{b}"] = DualModel({b: singles[b][0]}, singles[b][1])
    if len(names) < 2:
        return models, alphas, {}
    # stacking: blocks' full-data fits, weighted by NNLS on their out-of-fold predictions
    w, c = _nnls_weights(oof, y)
    intercept = c + sum((w[b] * singles[b][1] for b in names), np.zeros(y.shape[1]))
    models["stack"] = DualModel({b: singles[b][0] * w[b][None, :] for b in names}, intercept)
    # one ridge over the concatenation: block b weighted 1/α_b (its own penalty), overall penalty CV'd
    scaled = {b: kernels[b] / _scale(centre(kernels[b])) for b in names}
    gains = {b: 1.0 / float(np.exp(np.log(alphas[b]).mean())) for b in names}
    total = sum((gains[b] * scaled[b] for b in names), np.zeros_like(next(iter(scaled.values()))))
    a_all, _ = ridge_cv(total, y, folds=folds, seed=seed)
    dual, ym = fit_dual(total, y, a_all)
    # the same dual weights, expressed per block on its own (unscaled) kernel
    models["concat"] = DualModel({b: dual * (gains[b] / _scale(centre(kernels[b]))) for b in names}, ym)
    return models, alphas, {b: float(w[b].mean()) for b in names}


def combine(kernels: Mapping[str, np.ndarray], y: np.ndarray, *, folds: int = 5, seed: int = 0) -> Combination:
    """Fit every candidate on all rows and choose one by nested k-fold CV on the same rows."""
    if not kernels:
        raise ValueError("no feature block to combine")
    n = y.shape[0]
    ids = fold_ids(n, min(folds, n), seed + 1)
    sq: dict[str, float] = {}
    for f in np.unique(ids):
        tr, te = ids != f, ids == f
        ktr = {b: k[np.ix_(tr, tr)] for b, k in kernels.items()}
        kte = {b: k[np.ix_(te, tr)] for b, k in kernels.items()}
        inner, _, _ = fit_candidates(ktr, y[tr], folds=folds, seed=seed)
        for name, m in inner.items():
            sq[name] = sq.get(name, 0.0) + float(((m.predict(kte, ktr) - y[te]) ** 2).sum())
    cv_mse = {name: v / (n * y.shape[1]) for name, v in sq.items()}
    models, alphas, stack_w = fit_candidates(kernels, y, folds=folds, seed=seed)
    chosen = min(cv_mse, key=lambda c: cv_mse[c])
    return Combination(chosen, models, cv_mse, alphas, stack_w)


def primal_coef(z: object, mean: np.ndarray, dual: np.ndarray) -> np.ndarray:
    """Feature-space weights ``(Z - mean)ᵀ A`` from dual weights (``z`` dense or scipy sparse)."""
    za: np.ndarray = np.asarray(z.T @ dual)  # type: ignore[attr-defined]  # ndarray or scipy sparse: both have .T
    out: np.ndarray = za - np.outer(mean, dual.sum(axis=0))
    return out
