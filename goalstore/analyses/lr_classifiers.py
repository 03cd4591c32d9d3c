"""Classifier grids of learning-rule identification (notes §5).

Each classifier (random forest, linear SVM with optional PCA, a 1-D CNN over checkpoints)
comes with its hyper-parameter grid (:func:`classifier_grid`; ``fast`` = reduced grids), and
:func:`grid_groups` / :func:`forest_prefix_predictions` let grid points of a forest that differ
only in ``n_estimators`` be scored from one fit, exactly.
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from goalstore.analyses.conv1d_classifier import Conv1DTrajectoryClassifier

CLASSIFIERS = ("rf", "svm", "conv1d")


def classifier_grid(name: str, fast: bool, n_checkpoints: int, seed: int = 0) -> tuple[Any, list[dict]]:
    """The estimator and its grid (notes §5; ``fast`` = reduced grids for quick looks)."""
    if name == "rf":
        trees = (20, 50) if fast else (20, 50, 100, 500, 1000)
        features = ("sqrt",) if fast else ("sqrt", "log2", None)
        return (RandomForestClassifier(random_state=seed, n_jobs=1),
                [{"n_estimators": t, "max_features": f} for t, f in product(trees, features)])
    if name == "svm":
        cs = (1.0, 50.0) if fast else (1.0, 5e1, 5e2, 5e3, 5e4, 5e5, 5e6)
        pcas = ("passthrough",) if fast else ("passthrough", PCA(n_components=0.95, random_state=seed))
        pipe = Pipeline([("scale", StandardScaler()), ("pca", "passthrough"),
                         ("svm", LinearSVC(dual="auto", max_iter=5000, random_state=seed))])
        return pipe, [{"svm__C": c, "pca": p} for c, p in product(cs, pcas)]
    if name == "conv1d":
        grid = [{"channels": c} for c in ((16,) if fast else (16, 32))]
        return Conv1DTrajectoryClassifier(n_checkpoints=n_checkpoints, epochs=30 if fast else 60,
                                          random_state=seed), grid
    raise ValueError(f"unknown classifier {name!r}; expected one of {', '.join(CLASSIFIERS)}")


def grid_groups(estimator: Any, grid: list[dict]) -> list[list[int]]:
    """Indices of grid points that one fit can score together.

    A forest of ``n`` trees grown with a given ``random_state`` is the first ``n`` trees of
    a larger forest grown with the same state (each tree's seed is the next draw of that
    state, which is also what ``warm_start`` relies on), and a forest predicts the arg-max
    of its trees' mean class probability.  So grid points of a forest that differ only in
    ``n_estimators`` are scored from one fit of the largest, exactly.  Every other grid
    point is its own group.
    """
    forest = isinstance(estimator, (RandomForestClassifier, ExtraTreesClassifier))
    if not forest or not all("n_estimators" in p for p in grid):
        return [[g] for g in range(len(grid))]
    groups: dict[str, list[int]] = {}
    for g, params in enumerate(grid):
        groups.setdefault(repr(sorted((k, repr(v)) for k, v in params.items() if k != "n_estimators")),
                          []).append(g)
    return list(groups.values())


def forest_prefix_predictions(forest: Any, x: np.ndarray, sizes: list[int]) -> dict[int, np.ndarray]:
    """Predictions of the forests made of the first ``n`` trees of ``forest``, for each ``n`` in ``sizes``.

    Tree probabilities are accumulated in tree order and divided by the tree count, as
    :meth:`sklearn.ensemble.RandomForestClassifier.predict_proba` does, so each entry
    equals the prediction of a forest fitted with ``n_estimators=n`` and the same seed.
    """
    x32 = np.asarray(x, dtype=np.float32)
    total = np.zeros((len(x32), len(forest.classes_)))
    wanted, out = set(sizes), {}
    for n, tree in enumerate(forest.estimators_, start=1):
        total += tree.predict_proba(x32)
        if n in wanted:
            out[n] = forest.classes_.take(np.argmax(total / n, axis=1), axis=0)
    missing = wanted - set(out)
    if missing:
        raise ValueError(f"the forest has {len(forest.estimators_)} trees; cannot score {sorted(missing)}")
    return out
