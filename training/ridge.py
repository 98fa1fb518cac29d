"""Closed-form ridge regression with cross-validated regularisation, one penalty per target (pure numpy).

Why ridge: the head maps a few hundred to a thousand frozen features to 12 item
answers from a few hundred rated sessions; an unpenalised fit would memorise
them. Why closed form and not scikit-learn's ``RidgeCV``: RidgeCV picks one penalty per
target only with its leave-one-out CV (``alpha_per_target`` needs ``cv=None``), not
k-fold; its penalty is absolute where ours scales with the training rows; and its
``KFold`` would split other folds than ``validation.stats.fold_ids`` (the project's
one home for them) — the fits would change. With an SVD of the standardised features
every penalty on the grid costs one matrix product (numpy's SVD is the library here).
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from validation.stats import fold_ids

#: Penalties tried, relative to the number of training rows.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))


@dataclass(frozen=True)
class RidgeFit:
    """``y ≈ ((x - mean) / scale) @ coef + intercept``; one column per target."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    alphas: np.ndarray
    cv_mse: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(np.asarray(x, dtype=float)) - self.mean) / self.scale
        y: np.ndarray = z @ self.coef + self.intercept
        return y


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    return (x - mean) / scale, mean, scale


def _solve(z: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Coefficients for every alpha: shape (len(alphas), features, targets). ``z``, ``y`` centred."""
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    uty = u.T @ y
    n = z.shape[0]
    out = []
    for a in alphas:
        d = s / (s ** 2 + a * n)
        out.append(vt.T @ (d[:, None] * uty))
    return np.stack(out)


def fit_ridge(x: ArrayLike, y: ArrayLike, *, alphas: Sequence[float] = DEFAULT_ALPHAS, folds: int = 5,
              seed: int = 0) -> RidgeFit:
    """Pick each target's penalty by k-fold CV (mean squared error), then refit on all rows."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if ya.ndim == 1:
        ya = ya[:, None]
    if xa.ndim != 2 or xa.shape[0] != ya.shape[0]:
        raise ValueError(f"features {xa.shape} and targets {ya.shape} do not match")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("features or targets contain NaN or infinite values")
    al = np.asarray(alphas, dtype=float)
    n = xa.shape[0]
    ids = fold_ids(n, min(folds, n), seed)
    mse = np.zeros((al.size, ya.shape[1]))
    for f in np.unique(ids):
        tr, te = ids != f, ids == f
        z, m, sc = _standardise(xa[tr])
        ym = ya[tr].mean(axis=0)
        coefs = _solve(z, ya[tr] - ym, al)
        zte = (xa[te] - m) / sc
        for k in range(al.size):
            mse[k] += ((zte @ coefs[k] + ym - ya[te]) ** 2).sum(axis=0)
    mse /= n
    best = mse.argmin(axis=0)
    z, m, sc = _standardise(xa)
    ym = ya.mean(axis=0)
    coefs = _solve(z, ya - ym, al)
    coef = np.stack([coefs[best[j], :, j] for j in range(ya.shape[1])], axis=1)
    return RidgeFit(m, sc, coef, ym, al[best], mse[best, np.arange(ya.shape[1])])
