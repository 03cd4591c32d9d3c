"""Mappings ``M(S; T)`` from source responses to target responses (notes §1).

Every mapping is a scikit-learn regressor (``fit(X, Y)`` / ``predict(X)``, parameters
in ``__init__``), so any scikit-learn regressor can be used in its place.  Mappings
that can solve many problems at once also offer ``fit_predict_batch(x_train,
y_train, x_test)`` over leading batch axes (split-half draws × stimulus splits ×
time bins): ridge through one SVD per source matrix applied to all target units,
one-to-one through one batched correlation matrix.  :func:`fit_predict` uses that
path when it exists and otherwise loops over the batch with clones.

``column_independent`` says whether each target column is fitted independently of the
others (true for ridge, one-to-one, lasso and elastic net; false for PLS, whose
components are shared by all targets); the consistency engine uses it to fit several
target sets in one call only where that changes nothing.

A mapping whose predictions are a source-only linear operator applied to the training
targets also offers ``prepare(x_train, x_test) → operator`` and ``apply(operator,
y_train) → predictions`` (ridge; used where its ``operator_form`` is true): the
consistency engine then solves each source once per (split-half draw, stimulus split)
and streams blocks of target units through it.
"""

from __future__ import annotations

import difflib
import warnings
from itertools import product
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import KFold

from goalstore.errors import AnalysisInputError


def _batch_pearson_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Correlation of every column of ``x`` (…, n, p) with every column of ``y`` (…, n, q)."""
    xc = x - x.mean(axis=-2, keepdims=True)
    yc = y - y.mean(axis=-2, keepdims=True)
    xn = np.sqrt((xc * xc).sum(axis=-2))
    yn = np.sqrt((yc * yc).sum(axis=-2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.matmul(np.swapaxes(xc, -1, -2), yc) / (xn[..., :, None] * yn[..., None, :])


class OneToOneMapping(RegressorMixin, BaseEstimator):
    """Each target unit copies the source unit with the highest train-set correlation."""

    column_independent = True

    def fit(self, X: np.ndarray, Y: np.ndarray) -> OneToOneMapping:
        corr = _batch_pearson_matrix(np.asarray(X, float), np.asarray(Y, float).reshape(len(X), -1))
        self.best_ = np.nanargmax(np.where(np.isnan(corr), -np.inf, corr), axis=0)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, float)[:, self.best_]

    def fit_predict_batch(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        corr = _batch_pearson_matrix(x_train, y_train)
        best = np.argmax(np.where(np.isnan(corr), -np.inf, corr), axis=-2)  # (…, q)
        return np.take_along_axis(x_test, best[..., None, :], axis=-1)


class RidgeMapping(RegressorMixin, BaseEstimator):
    """L2-regularised linear regression with intercept (scikit-learn's ``Ridge`` objective).

    ``fit`` solves through the SVD of the centred source, ``w = V diag(s / (s² + α)) Uᵀ Y``.
    The batched path solves whichever system is smaller, once for all target units and for
    all batch elements at once: with fewer training stimuli than source units the dual
    ``ŷ = X* Xᵀ (X Xᵀ + αI)⁻¹ Y`` (an n × n system; the weights are never formed), otherwise
    the primal ``(XᵀX + αI) w = XᵀY``.  All three are the same estimator.
    """

    column_independent = True

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _solve(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x_mean = x.mean(axis=-2, keepdims=True)
        y_mean = y.mean(axis=-2, keepdims=True)
        u, s, vt = np.linalg.svd(x - x_mean, full_matrices=False)
        d = s / (s * s + self.alpha)
        coef = np.matmul(
            np.swapaxes(vt, -1, -2) * d[..., None, :], np.matmul(np.swapaxes(u, -1, -2), y - y_mean)
        )
        return coef, x_mean, y_mean

    def fit(self, X: np.ndarray, Y: np.ndarray) -> RidgeMapping:
        X = np.asarray(X, float)
        Y = np.asarray(Y, float)
        self._y_1d = Y.ndim == 1
        coef, x_mean, y_mean = self._solve(X, Y.reshape(len(X), -1))
        self.coef_ = coef  # p × q
        self.intercept_ = (y_mean - x_mean @ coef)[0]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(X, float) @ self.coef_ + self.intercept_
        return out[:, 0] if self._y_1d else out

    def fit_predict_batch(self, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        if self.alpha <= 0:  # unregularised: only the SVD is safe for rank-deficient sources
            coef, x_mean, y_mean = self._solve(x_train, y_train)
            return np.matmul(x_test - x_mean, coef) + y_mean
        x_mean = x_train.mean(axis=-2, keepdims=True)
        y_mean = y_train.mean(axis=-2, keepdims=True)
        xc, yc, xt = x_train - x_mean, y_train - y_mean, x_test - x_mean
        n, p = xc.shape[-2:]
        xc_t = np.swapaxes(xc, -1, -2)
        if n <= p:  # dual: n × n
            gram = np.matmul(xc, xc_t)
            gram[..., np.arange(n), np.arange(n)] += self.alpha
            return np.matmul(np.matmul(xt, xc_t), np.linalg.solve(gram, yc)) + y_mean
        gram = np.matmul(xc_t, xc)  # primal: p × p
        gram[..., np.arange(p), np.arange(p)] += self.alpha
        return np.matmul(xt, np.linalg.solve(gram, np.matmul(xc_t, yc))) + y_mean

    @property
    def operator_form(self) -> bool:
        """Whether :meth:`prepare` / :meth:`apply` reproduce :meth:`fit_predict_batch` to rounding:
        true with ``α > 0``; unregularised, a rank-deficient source makes any order of the
        products a different amplification of rounding, so the batched solver is used as is."""
        return self.alpha > 0

    def prepare(self, x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        """The source side of :meth:`fit_predict_batch` as one linear operator per batch element.

        Ridge predictions are linear in the centred training targets:
        ``ŷ = A (Y − Ȳ) + Ȳ`` with, for ``n ≤ p`` (dual), ``A = X*Xᵀ (XXᵀ + αI)⁻¹`` and, for
        ``n > p`` (primal), ``A = X* (XᵀX + αI)⁻¹ Xᵀ`` (``X`` the centred training source, ``X*``
        the test source centred by the training mean; with ``α ≤ 0`` ``A = X* V diag(s/(s²+α)) Uᵀ``
        from the SVD).  ``A`` (…, n_test, n_train) depends only on the source, so a source shared
        by many target sets (blocks of target units, both split halves of a model) is solved once
        and :meth:`apply` costs one n_test × n_train × q product per target block.
        """
        x_mean = x_train.mean(axis=-2, keepdims=True)
        xc, xt = x_train - x_mean, x_test - x_mean
        n, p = xc.shape[-2:]
        xc_t = np.swapaxes(xc, -1, -2)
        if self.alpha <= 0:
            u, s, vt = np.linalg.svd(xc, full_matrices=False)
            d = s / (s * s + self.alpha)
            return np.matmul(np.matmul(xt, np.swapaxes(vt, -1, -2)) * d[..., None, :], np.swapaxes(u, -1, -2))
        if n <= p:  # dual: A = X* Xᵀ G⁻¹ = (G⁻¹ X Xᵀ*)ᵀ, G symmetric
            gram = np.matmul(xc, xc_t)
            gram[..., np.arange(n), np.arange(n)] += self.alpha
            return np.swapaxes(np.linalg.solve(gram, np.matmul(xc, np.swapaxes(xt, -1, -2))), -1, -2)
        gram = np.matmul(xc_t, xc)  # primal: A = X* G⁻¹ Xᵀ = (G⁻¹ X*ᵀ)ᵀ Xᵀ
        gram[..., np.arange(p), np.arange(p)] += self.alpha
        return np.matmul(np.swapaxes(np.linalg.solve(gram, np.swapaxes(xt, -1, -2)), -1, -2), xc_t)

    def prepare_gram(self, gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
        """The dual :meth:`prepare` operator from inner products alone: ``A = K* (K + αI)⁻¹`` with
        ``K = X Xᵀ`` (…, n, n) the Gram matrix of the centred training source and ``K* = X* Xᵀ``
        (…, n_test, n) its cross products with the test source (centred by the training mean).

        Same products as :meth:`prepare` for ``n ≤ p``, so a caller that has the Gram matrices
        (summed over pooled animals, indexed per split) never forms the source rows.
        """
        gram = gram + self.alpha * np.eye(gram.shape[-1])
        return np.swapaxes(np.linalg.solve(gram, np.swapaxes(cross, -1, -2)), -1, -2)

    @staticmethod
    def apply(operator: np.ndarray, y_train: np.ndarray) -> np.ndarray:
        """Predictions ``A (Y − Ȳ) + Ȳ`` (…, n_test, q) from a :meth:`prepare` operator; the leading
        axes of ``y_train`` (…, n_train, q) broadcast against the operator's."""
        y_mean = y_train.mean(axis=-2, keepdims=True)
        return np.matmul(operator, y_train - y_mean) + y_mean


class PLSMapping(RegressorMixin, BaseEstimator):
    """Partial least squares with all target units as one multi-target problem (25 components, no
    scaling); the number of components is capped at what the training data allow."""

    column_independent = False

    def __init__(self, n_components: int = 25, scale: bool = False, max_iter: int = 500):
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PLSMapping:
        X = np.asarray(X, float)
        n = min(self.n_components, X.shape[0] - 1, X.shape[1])
        self.model_ = PLSRegression(n_components=max(n, 1), scale=self.scale, max_iter=self.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(X, Y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(np.asarray(X, float))


class ElasticNetMapping(RegressorMixin, BaseEstimator):
    """L1+L2 regression with ``alpha`` and ``l1_ratio`` chosen *per target unit* by ``cv``-fold CV on
    the training stimuli (notes §1: 2-fold, alpha log-spaced, l1_ratio in (0, 1]).

    Each grid point is one multi-output fit (scikit-learn fits the targets independently),
    and each unit keeps the grid point with its lowest validation error; the units that
    chose the same point are then refitted together on all training stimuli.
    """

    column_independent = True

    def __init__(
        self,
        alphas: tuple[float, ...] | None = None,
        l1_ratios: tuple[float, ...] = (0.1, 0.5, 0.9, 1.0),
        cv: int = 2,
        max_iter: int = 2000,
        random_state: int = 0,
    ):
        self.alphas = alphas
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _grid(self) -> list[tuple[float, float]]:
        alphas = self.alphas if self.alphas is not None else tuple(np.logspace(-3, 0, 7))
        for ratio in self.l1_ratios:
            if not 0.0 < ratio <= 1.0:
                raise AnalysisInputError(f"l1_ratio {ratio}: must lie in (0, 1]")
        return list(product(self.l1_ratios, alphas))

    def _net(self, ratio: float, alpha: float) -> ElasticNet:
        return ElasticNet(alpha=alpha, l1_ratio=ratio, max_iter=self.max_iter, precompute=True)

    def fit(self, X: np.ndarray, Y: np.ndarray) -> ElasticNetMapping:
        X = np.asarray(X, float)
        Y = np.asarray(Y, float).reshape(len(X), -1)
        grid = self._grid()
        errors = np.zeros((len(grid), Y.shape[1]))
        folds = KFold(n_splits=self.cv, shuffle=True, random_state=self.random_state).split(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for train, valid in folds:
                for g, (ratio, alpha) in enumerate(grid):
                    net = self._net(ratio, alpha).fit(X[train], Y[train])
                    errors[g] += ((net.predict(X[valid]).reshape(len(valid), -1) - Y[valid]) ** 2).sum(axis=0)
            self.choice_ = errors.argmin(axis=0)
            self.coef_ = np.zeros((X.shape[1], Y.shape[1]))
            self.intercept_ = np.zeros(Y.shape[1])
            for g in np.unique(self.choice_):
                units = np.flatnonzero(self.choice_ == g)
                net = self._net(*grid[g]).fit(X, Y[:, units])
                self.coef_[:, units] = np.asarray(net.coef_).reshape(len(units), -1).T
                self.intercept_[units] = net.intercept_
        self.alpha_ = np.array([grid[g][1] for g in self.choice_])
        self.l1_ratio_ = np.array([grid[g][0] for g in self.choice_])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, float) @ self.coef_ + self.intercept_


class LassoMapping(ElasticNetMapping):
    """L1 regression (elastic net with ``l1_ratio = 1``), ``alpha`` chosen per target unit by CV."""

    def __init__(
        self, alphas: tuple[float, ...] | None = None, cv: int = 2, max_iter: int = 2000, random_state: int = 0
    ):
        super().__init__(alphas=alphas, l1_ratios=(1.0,), cv=cv, max_iter=max_iter, random_state=random_state)


#: Mapping classes by name (``rsa`` is not a regression; see :mod:`goalstore.analyses.rsa`).
MAPPINGS: dict[str, type] = {
    "one_to_one": OneToOneMapping,
    "ridge": RidgeMapping,
    "lasso": LassoMapping,
    "elasticnet": ElasticNetMapping,
    "pls": PLSMapping,
}


def mapping_name(name: str) -> str:
    """Canonical spelling of a mapping name (``one-to-one`` → ``one_to_one``, ``elastic_net`` →
    ``elasticnet``)."""
    key = str(name).strip().lower().replace("-", "_")
    return {"elastic_net": "elasticnet", "onetoone": "one_to_one", "1to1": "one_to_one"}.get(key, key)


def make_mapping(mapping: str | Any, **params: Any) -> Any:
    """A mapping from its name (with ``params``) or any scikit-learn regressor (returned as is)."""
    if not isinstance(mapping, str):
        if not (hasattr(mapping, "fit") and hasattr(mapping, "predict")):
            raise AnalysisInputError(f"mapping {mapping!r}: not a regressor with fit/predict")
        return mapping
    key = mapping_name(mapping)
    if key not in MAPPINGS:
        close = difflib.get_close_matches(key, [*MAPPINGS, "rsa"], n=3, cutoff=0.4)
        raise AnalysisInputError(
            f"mapping {mapping!r}: unknown; expected one of {', '.join([*MAPPINGS, 'rsa'])}"
            + (f" (did you mean {', '.join(close)}?)" if close else "")
        )
    return MAPPINGS[key](**params)


def fit_predict(mapping: Any, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Fit on ``x_train`` → ``y_train`` and predict ``x_test``, over any leading batch axes.

    Shapes: ``x_train`` (…, n_train, p), ``y_train`` (…, n_train, q), ``x_test`` (…, n_test, p)
    → (…, n_test, q).  Uses the mapping's batched solver when it has one, otherwise fits a
    clone per batch element.
    """
    if hasattr(mapping, "fit_predict_batch"):
        return mapping.fit_predict_batch(x_train, y_train, x_test)
    lead = x_train.shape[:-2]
    out = np.empty((*lead, x_test.shape[-2], y_train.shape[-1]))
    for index in np.ndindex(*lead):
        model = clone(mapping).fit(x_train[index], y_train[index])
        out[index] = np.asarray(model.predict(x_test[index])).reshape(x_test.shape[-2], -1)
    return out
