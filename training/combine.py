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

Which one the head uses is chosen by k-fold CV on the training split (:func:`combine`): the
lowest mean squared error over the 12 items. The held-out split is never looked at here.
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
    #: k-fold CV mean squared error (mean over the items) per candidate, on the training split
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


def _stack_predict(oof: Mapping[str, np.ndarray], w: Mapping[str, np.ndarray], c: np.ndarray) -> np.ndarray:
    out: np.ndarray = c + sum((oof[b] * w[b][None, :] for b in oof), np.zeros_like(next(iter(oof.values()))))
    return out


def combine(kernels: Mapping[str, np.ndarray], y: np.ndarray, *, folds: int = 5, seed: int = 0) -> Combination:
    """Fit every candidate on all rows and choose the one with the lowest k-fold CV error on the same rows.

    The CV errors: a block's own out-of-fold predictions (its penalty chosen on the same folds);
    stacking's NNLS weights fitted on the other folds' out-of-fold predictions; the concatenation's
    out-of-fold predictions at its penalty. The penalties are chosen once on all training rows, not
    again inside each fold (a nested CV costs an eigendecomposition per fold, block and candidate:
    minutes at a thousand sessions) — a slight optimism shared by every candidate.
    """
    if not kernels:
        raise ValueError("no feature block to combine")
    names = list(kernels)
    n = y.shape[0]
    models: dict[str, DualModel] = {}
    alphas: dict[str, np.ndarray] = {}
    oof: dict[str, np.ndarray] = {}
    cv_mse: dict[str, float] = {}
    singles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for b in names:
        alphas[b], oof[b] = ridge_cv(kernels[b], y, folds=folds, seed=seed)
        singles[b] = fit_dual(kernels[b], y, alphas[b])
        models[f"single:{b}"] = DualModel({b: singles[b][0]}, singles[b][1])
        cv_mse[f"single:{b}"] = float(((oof[b] - y) ** 2).mean())
    stack_w: dict[str, float] = {}
    if len(names) > 1:
        # stacking: the blocks' full-data fits, weighted by NNLS on their out-of-fold predictions
        ids = fold_ids(n, min(folds, n), seed + 1)
        pred = np.zeros_like(y)
        for f in np.unique(ids):
            tr, te = ids != f, ids == f
            wf, cf = _nnls_weights({b: o[tr] for b, o in oof.items()}, y[tr])
            pred[te] = _stack_predict({b: o[te] for b, o in oof.items()}, wf, cf)
        cv_mse["stack"] = float(((pred - y) ** 2).mean())
        w, c = _nnls_weights(oof, y)
        intercept = c + sum((w[b] * singles[b][1] for b in names), np.zeros(y.shape[1]))
        models["stack"] = DualModel({b: singles[b][0] * w[b][None, :] for b in names}, intercept)
        stack_w = {b: float(w[b].mean()) for b in names}
        # one ridge over the concatenation: block b weighted 1/α_b (its own penalty), overall penalty CV'd
        scales = {b: _scale(centre(kernels[b])) for b in names}
        gains = {b: 1.0 / float(np.exp(np.log(alphas[b]).mean())) for b in names}
        total = sum((gains[b] / scales[b] * kernels[b] for b in names), np.zeros((n, n)))
        a_all, oof_all = ridge_cv(total, y, folds=folds, seed=seed)
        cv_mse["concat"] = float(((oof_all - y) ** 2).mean())
        dual, ym = fit_dual(total, y, a_all)
        # the same dual weights, expressed per block on its own (unscaled) kernel
        models["concat"] = DualModel({b: dual * (gains[b] / scales[b]) for b in names}, ym)
    chosen = min(cv_mse, key=lambda k: cv_mse[k])
    return Combination(chosen, models, cv_mse, alphas, stack_w)


def primal_coef(z: object, mean: np.ndarray, dual: np.ndarray) -> np.ndarray:
    """Feature-space weights ``(Z - mean)ᵀ A`` from dual weights (``z`` dense or scipy sparse)."""
    za: np.ndarray = np.asarray(z.T @ dual)  # type: ignore[attr-defined]  # ndarray or scipy sparse: both have .T
    out: np.ndarray = za - np.outer(mean, dual.sum(axis=0))
    return out
