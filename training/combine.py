"""Combining feature blocks into one read-out, chosen per dimension: one block, stacking, or a multi-penalty ridge.

Each block (``lexical``, ``hidden:client``, ...; :mod:`scoring.feature_views`) enters as its
linear kernel over the training sessions, ``K_b = Z_b Z_bᵀ``. Why kernels: a lexical block has
tens of thousands of columns and a few hundred rows, so the ridge is solved in the rows' space
(one eigendecomposition per fold serves every penalty and all 12 items), and the weights come
back to feature space as ``Z_bᵀ A_b`` (:func:`primal_coef`).

Why per dimension: the gate judges a dimension's mean of its four items, and the blocks that
carry one dimension need not carry another (on rated chats the client's words carried the
"felt understood" rating, the counselor's the "relevant" one). So every choice below — a
block's penalty, the stacking weights, the candidate the head uses — is made per dimension,
on the error of the dimension's mean (less noisy than one item's answer, and what is judged).

Candidates, all fitted on the training split only:

* ``single:<block>`` — one block, its penalty per dimension by k-fold CV;
* ``stack`` — the blocks' out-of-fold predictions of the dimension, combined with non-negative
  weights (scikit-learn's ``LinearRegression(positive=True)``) — a block that does not help gets
  weight 0, and the best block alone is one of the weightings it can reach;
* ``concat`` — one ridge over all blocks, block ``b`` weighted ``1/α_b`` (the penalty its own CV
  chose for the dimension), the overall penalty CV'd per dimension.

Which one serves a dimension is chosen by k-fold CV on the training split (:func:`combine`): the
lowest mean squared error of the dimension's mean. Stacking's error is a nested one (weights fitted
on the other folds' out-of-fold predictions), so it wins only when it beats the best block by more
than its own fitting noise. The held-out split is never looked at here.
"""

from __future__ import annotations

__layer__ = "core"

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from streams.contracts import DIMENSION_ITEMS, ITEM_IDS
from validation.stats import fold_ids

#: Penalties tried, relative to the kernel's mean diagonal (after centring).
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 3, 13))

#: The CV entry of "the best single block", picked inside each fold (what stacking is compared with).
BEST_SINGLE = "best single"

#: The item columns (ITEM_IDS order) of each dimension: the groups every choice is made for.
DIMENSION_COLUMNS: dict[str, tuple[int, ...]] = {
    d: tuple(ITEM_IDS.index(q) for q in items) for d, items in DIMENSION_ITEMS.items()}


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
    """The read-out chosen per dimension, every candidate, and what the choice saw."""

    #: per dimension, the candidate that serves it (``single:<block>``, ``stack`` or ``concat``)
    chosen_by_dimension: dict[str, str]
    #: the read-out the head uses: each dimension's item columns from its chosen candidate
    model: DualModel
    #: every candidate over all 12 items
    models: dict[str, DualModel]
    #: per dimension, k-fold CV mean squared error of the dimension's mean per candidate (training split)
    cv_mse_by_dimension: dict[str, dict[str, float]]
    #: per block, the penalty per item its own CV chose (relative; one per dimension)
    alphas: dict[str, np.ndarray] = field(default_factory=dict)
    #: per dimension, stacking's weight per block
    stack_weights_by_dimension: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def chosen(self) -> str:
        """One name when every dimension chose the same candidate, else ``goal=…, approach=…, bond=…``."""
        names = set(self.chosen_by_dimension.values())
        if len(names) == 1:
            return names.pop()
        return ", ".join(f"{d}={c}" for d, c in self.chosen_by_dimension.items())

    @property
    def cv_mse(self) -> dict[str, float]:
        """Per candidate, the CV error averaged over the dimensions."""
        per = list(self.cv_mse_by_dimension.values())
        return {k: float(np.mean([m[k] for m in per])) for k in per[0]} if per else {}

    @property
    def stack_weights(self) -> dict[str, float]:
        """Per block, stacking's weight averaged over the dimensions."""
        per = list(self.stack_weights_by_dimension.values())
        return {b: float(np.mean([w[b] for w in per])) for b in per[0]} if per else {}

    @property
    def blocks_used(self) -> list[str]:
        return [b for b, a in self.model.weights.items() if np.any(a)]


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


def group_means(items: np.ndarray, groups: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Per group (dimension), the mean of its item columns; ``items`` (..., n, 12)."""
    return {g: items[..., list(cols)].mean(axis=-1) for g, cols in groups.items()}


def ridge_cv(k: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0, alphas: tuple[float, ...] = ALPHAS,
             groups: Mapping[str, tuple[int, ...]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the penalty with the lowest k-fold CV error of its group's mean; the out-of-fold predictions at it.

    ``groups`` (default: one group per item) ties the items of a dimension to one penalty, chosen on
    the dimension's mean: the figure the gate judges, and less noisy than one item's answer.
    """
    n = k.shape[0]
    al = np.asarray(alphas, dtype=float)
    groups = groups if groups is not None else {str(t): (t,) for t in range(y.shape[1])}
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
    best = np.zeros(y.shape[1], dtype=int)
    truth = group_means(y, groups)
    for g, p in group_means(preds, groups).items():
        best[list(groups[g])] = int(((p - truth[g][None]) ** 2).mean(axis=1).argmin())
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


def stack_weights(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Non-negative weights of the columns of ``x`` (blocks' predictions) and an intercept, least squares."""
    from sklearn.linear_model import LinearRegression

    fit = LinearRegression(positive=True).fit(x, y)
    return np.asarray(fit.coef_, dtype=float), float(fit.intercept_)


def _stack_cv(x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Out-of-fold stacked predictions: the weights of each fold fitted on the other folds' rows."""
    out = np.zeros_like(y)
    for f in np.unique(ids):
        tr, te = ids != f, ids == f
        w, c = stack_weights(x[tr], y[tr])
        out[te] = x[te] @ w + c
    return out


def _pick_cv(x: np.ndarray, y: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions of "the best column": each fold takes the column closest to ``y`` on the other folds."""
    out = np.zeros_like(y)
    for f in np.unique(ids):
        tr, te = ids != f, ids == f
        out[te] = x[te, int(((x[tr] - y[tr, None]) ** 2).mean(axis=0).argmin())]
    return out


def _mse(p: np.ndarray, y: np.ndarray) -> float:
    return float(((p - y) ** 2).mean())


def combine(kernels: Mapping[str, np.ndarray], y: np.ndarray, *, folds: int = 5, seed: int = 0,
            groups: Mapping[str, tuple[int, ...]] = DIMENSION_COLUMNS) -> Combination:
    """Fit every candidate on all rows; per dimension, serve the one with the lowest k-fold CV error on the same rows.

    The CV errors (of the dimension's mean): a block's own out-of-fold predictions (its penalty
    chosen on the same folds); stacking's weights fitted on the other folds' out-of-fold predictions
    (another fold assignment); the concatenation's out-of-fold predictions at its penalty. A block's
    penalty is chosen once on all training rows, not again inside each fold (a nested CV costs an
    eigendecomposition per fold, block and candidate: minutes at a thousand sessions) — a slight
    optimism that favours the single blocks over stacking, never the other way.
    """
    if not kernels:
        raise ValueError("no feature block to combine")
    names = list(kernels)
    y.shape[0]
    truth = group_means(y, groups)
    models: dict[str, DualModel] = {}
    alphas: dict[str, np.ndarray] = {}
    oof: dict[str, np.ndarray] = {}
    cv: dict[str, dict[str, float]] = {g: {} for g in groups}
    singles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for b in names:
        alphas[b], oof[b] = ridge_cv(kernels[b], y, folds=folds, seed=seed, groups=groups)
        singles[b] = fit_dual(kernels[b], y, alphas[b])
        models[f"single:{b}"] = DualModel({b: singles[b][0]}, singles[b][1])
        for g, p in group_means(oof[b], groups).items():
            cv[g][f"single:{b}"] = _mse(p, truth[g])
    stack_w: dict[str, dict[str, float]] = {}
    chosen = {g: min(cv[g], key=lambda c: cv[g][c]) for g in groups}
    if len(names) > 1:
        models["stack"] = _stack(names, oof, singles, y, groups, folds, seed, cv, stack_w)
        models["concat"] = _concat(names, kernels, alphas, y, groups, folds, seed, cv)
        ids = fold_ids(y.shape[0], min(folds, y.shape[0]), seed + 1)
        for g in groups:
            # the best block, judged as stacking is: picked on the other folds, scored on the fold left out
            x = np.column_stack([group_means(oof[b], groups)[g] for b in names])
            cv[g][BEST_SINGLE] = _mse(_pick_cv(x, truth[g], ids), truth[g])
            pick = min((BEST_SINGLE, "stack", "concat"), key=lambda c: cv[g][c])
            if pick != BEST_SINGLE:
                chosen[g] = pick
    return Combination(chosen, _compose(models, chosen, groups, names, y.shape[1]), models, cv, alphas, stack_w)


def _stack(names: list[str], oof: Mapping[str, np.ndarray], singles: Mapping[str, tuple[np.ndarray, np.ndarray]],
           y: np.ndarray, groups: Mapping[str, tuple[int, ...]], folds: int, seed: int,
           cv: dict[str, dict[str, float]], weights_out: dict[str, dict[str, float]]) -> DualModel:
    """Per dimension, non-negative weights of the blocks' out-of-fold predictions of its mean; the blocks' full fits."""
    n, t = y.shape
    ids = fold_ids(n, min(folds, n), seed + 1)
    truth = group_means(y, groups)
    means = {b: group_means(o, groups) for b, o in oof.items()}
    weights = {b: np.zeros((n, t)) for b in names}
    intercept = np.zeros(t)
    for g, cols in groups.items():
        x = np.column_stack([means[b][g] for b in names])
        cv[g]["stack"] = _mse(_stack_cv(x, truth[g], ids), truth[g])
        w, _ = stack_weights(x, truth[g])
        weights_out[g] = {b: float(v) for b, v in zip(names, w, strict=True)}
        for q in cols:
            # item q: Σ_b w_b·(block b's prediction of q), centred on the out-of-fold means, plus q's mean answer
            intercept[q] = y[:, q].mean() + sum(w[i] * (singles[b][1][q] - oof[b][:, q].mean())
                                                for i, b in enumerate(names))
            for i, b in enumerate(names):
                weights[b][:, q] = w[i] * singles[b][0][:, q]
    return DualModel(weights, intercept)


def _concat(names: list[str], kernels: Mapping[str, np.ndarray], alphas: Mapping[str, np.ndarray], y: np.ndarray,
            groups: Mapping[str, tuple[int, ...]], folds: int, seed: int,
            cv: dict[str, dict[str, float]]) -> DualModel:
    """Per dimension, one ridge over every block, block b's kernel weighted by 1/α_b (its own penalty there)."""
    n, t = y.shape
    scales = {b: _scale(centre(kernels[b])) for b in names}
    weights = {b: np.zeros((n, t)) for b in names}
    intercept = np.zeros(t)
    for g, cols in groups.items():
        c = list(cols)
        gains = {b: 1.0 / float(alphas[b][c[0]]) / scales[b] for b in names}
        total = sum((gains[b] * kernels[b] for b in names), np.zeros((n, n)))
        a_g, oof_g = ridge_cv(total, y[:, c], folds=folds, seed=seed, groups={g: tuple(range(len(c)))})
        cv[g]["concat"] = _mse(oof_g.mean(axis=1), y[:, c].mean(axis=1))
        dual, ym = fit_dual(total, y[:, c], a_g)
        intercept[c] = ym
        for b in names:  # the same dual weights, expressed per block on its own (unscaled) kernel
            weights[b][:, c] = dual * gains[b]
    return DualModel(weights, intercept)


def _compose(models: Mapping[str, DualModel], chosen: Mapping[str, str], groups: Mapping[str, tuple[int, ...]],
             names: list[str], targets: int) -> DualModel:
    """One read-out: each dimension's item columns from its chosen candidate (blocks it never uses stay 0)."""
    n = next(iter(next(iter(models.values())).weights.values())).shape[0]
    weights = {b: np.zeros((n, targets)) for b in names}
    intercept = np.zeros(targets)
    for g, cols in groups.items():
        m = models[chosen[g]]
        c = list(cols)
        intercept[c] = m.intercept[c]
        for b, a in m.weights.items():
            weights[b][:, c] = a[:, c]
    return DualModel({b: a for b, a in weights.items() if np.any(a)}, intercept)


def primal_coef(z: object, mean: np.ndarray, dual: np.ndarray) -> np.ndarray:
    """Feature-space weights ``(Z - mean)ᵀ A`` from dual weights (``z`` dense or scipy sparse)."""
    za: np.ndarray = np.asarray(z.T @ dual)  # type: ignore[attr-defined]  # ndarray or scipy sparse: both have .T
    out: np.ndarray = za - np.outer(mean, dual.sum(axis=0))
    return out
