"""Evaluation of a classifier on learning-rule examples: splits, cross-validated grid search, scores.

Inside each of the category-balanced train/test splits, the grid point is chosen by
stratified k-fold cross-validation on the training part only, then refitted and tested
(:func:`evaluate`); a held-out group never appears in training or cross-validation
(:func:`holdout_splits`).  The (split, grid point, fold) scores and the refits are tasks run
through :mod:`goalstore.analyses.lr_execution`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from goalstore.analyses.lr_classifiers import forest_prefix_predictions, grid_groups
from goalstore.analyses.lr_execution import run_tasks


def balanced_splits(labels: np.ndarray, n_splits: int = 10, test_size: float = 0.25,
                    seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Category-balanced (stratified) train/test splits."""
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))



def holdout_splits(groups: np.ndarray) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """One split per group value: train on every other group, test on this one."""
    values = sorted(set(np.asarray(groups).tolist()))
    index = np.arange(len(groups))
    return values, [(index[groups != v], index[groups == v]) for v in values]


# ----------------------------------------------------------------- tasks
def _fit(estimator: Any, params: dict, x: np.ndarray, y: np.ndarray) -> Any:
    """Fit a clone; a linear SVM that stops at its iteration limit is still a valid grid point."""
    model = clone(estimator).set_params(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def _cv_score(x, y, train, valid, estimator, params) -> float:
    model = _fit(estimator, params, x[train], y[train])
    return float((model.predict(x[valid]) == y[valid]).mean())



def _cv_scores(x, y, train, valid, estimator, grid_points: list[dict]) -> list[float]:
    """Validation accuracy of each grid point; a forest group is fitted once (:func:`grid_groups`)."""
    if len(grid_points) == 1:
        return [_cv_score(x, y, train, valid, estimator, grid_points[0])]
    sizes = [int(p["n_estimators"]) for p in grid_points]
    model = _fit(estimator, {**grid_points[0], "n_estimators": max(sizes)}, x[train], y[train])
    predicted = forest_prefix_predictions(model, x[valid], sizes)
    return [float((predicted[n] == y[valid]).mean()) for n in sizes]


def grouped_permutation_importance(model: Any, x: np.ndarray, y: np.ndarray, column_groups: list[np.ndarray],
                                   n_repeats: int = 3, seed: int = 0) -> np.ndarray:
    """Accuracy drop when the columns of one group (a statistic's whole trajectory) are permuted
    together across examples, averaged over ``n_repeats`` permutations (seeded)."""
    rng = np.random.default_rng(seed)
    baseline = float((model.predict(x) == y).mean())
    drops = np.zeros(len(column_groups))
    for g, columns in enumerate(column_groups):
        for _ in range(n_repeats):
            shuffled = x.copy()
            shuffled[:, columns] = x[rng.permutation(len(x))][:, columns]
            drops[g] += baseline - float((model.predict(shuffled) == y).mean())
    return drops / n_repeats


def _refit(x, y, train, test, estimator, params, x_test=None, importance_groups=None,
           seed: int = 0) -> dict[str, Any]:
    model = _fit(estimator, params, x[train], y[train])
    test_x = x[test] if x_test is None else x_test[test]
    predicted = model.predict(test_x)
    out = {"predicted": predicted, "accuracy": float((predicted == y[test]).mean())}
    if importance_groups is not None:
        if hasattr(model, "feature_importances_"):
            out["gini"] = np.array([model.feature_importances_[c].sum() for c in importance_groups])
        out["permutation"] = grouped_permutation_importance(model, test_x, y[test], importance_groups,
                                                            seed=seed)
    return out


def _cv_task(split_train, fold_train, fold_valid, grid_points, x, y, estimator):
    return _cv_scores(x, y, split_train[fold_train], split_train[fold_valid], estimator, grid_points)


def _refit_task(train, test, params, x, y, estimator, x_test=None, importance_groups=None, seed=0):
    return _refit(x, y, train, test, estimator, params, x_test, importance_groups, seed)


@dataclass
class Evaluation:
    accuracies: np.ndarray  #: one per split
    y_true: list[np.ndarray]
    y_pred: list[np.ndarray]
    best_params: list[dict]
    gini: np.ndarray | None = None
    permutation: np.ndarray | None = None
    search_scores: np.ndarray | None = None  #: split × grid point selection score (nan: not scored)


def evaluate(x: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], estimator: Any,
             grid: list[dict], cv: int = 5, seed: int = 0, executor: Any = None,
             x_test: np.ndarray | None = None,
             importance_groups: list[np.ndarray] | None = None) -> Evaluation:
    """Grid search by ``cv``-fold stratified CV inside each split's training part, then test.

    ``x_test`` (same rows as ``x``) gives different features for the test examples
    (e.g. another third of the trajectory).  Returns per-split accuracies,
    predictions and chosen parameters (and importances if asked).
    """
    cv_tasks, keys = [], []
    for s, (train, _) in enumerate(splits):
        smallest_class = np.bincount(np.unique(y[train], return_inverse=True)[1]).min()
        folds = StratifiedKFold(n_splits=min(cv, smallest_class), shuffle=True, random_state=seed + s)
        for members in grid_groups(estimator, grid):
            for f, (fold_train, fold_valid) in enumerate(folds.split(train, y[train])):
                cv_tasks.append((train, fold_train, fold_valid, [grid[g] for g in members]))
                keys.append((s, members, f))
    scores = run_tasks(executor, _cv_task, cv_tasks, {"x": x, "y": y, "estimator": estimator})
    table = np.full((len(splits), len(grid), cv), np.nan)
    for (s, members, f), group_scores in zip(keys, scores, strict=True):
        table[s, members, f] = group_scores
    search_scores = np.nanmean(table, axis=2)
    best = search_scores.argmax(axis=1)
    refit_tasks = [(train, test, grid[b]) for (train, test), b in zip(splits, best, strict=True)]
    refits = run_tasks(executor, _refit_task, refit_tasks, {"x": x, "y": y, "estimator": estimator,
                                                       "x_test": x_test,
                                                       "importance_groups": importance_groups,
                                                       "seed": seed})
    evaluation = Evaluation(np.array([r["accuracy"] for r in refits]), [y[t] for _, t in splits],
                            [r["predicted"] for r in refits], [grid[b] for b in best],
                            search_scores=search_scores)
    if importance_groups is not None:
        if all("gini" in r for r in refits):
            evaluation.gini = np.mean([r["gini"] for r in refits], axis=0)
        evaluation.permutation = np.mean([r["permutation"] for r in refits], axis=0)
    return evaluation


def confusion(evaluation: Evaluation, labels: list[str]) -> np.ndarray:
    """Confusion counts summed over splits (rows: true rule, columns: predicted)."""
    return sum(confusion_matrix(t, p, labels=labels) for t, p in
               zip(evaluation.y_true, evaluation.y_pred, strict=True))


def pairwise_accuracy(matrix: np.ndarray) -> np.ndarray:
    """How well each pair of rules is told apart: (C_ii + C_jj) / (C_ii + C_ij + C_ji + C_jj)."""
    diag = np.diag(matrix).astype(float)
    total = diag[:, None] + diag[None, :] + matrix + matrix.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (diag[:, None] + diag[None, :]) / total
    np.fill_diagonal(out, np.nan)
    return out

