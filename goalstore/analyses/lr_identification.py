"""Learning-rule identification from observable trajectories (thesis §6.3; notes §5).

Examples are (run, layer); features are statistic trajectories over checkpoints
plus the early/middle/deep one-hot; the label is the learning rule.  Classifiers
(random forest, linear SVM with optional PCA, a 1-D CNN over checkpoints) are
selected by 5-fold stratified cross-validation inside each of ten
category-balanced 75/25 train/test splits.  Cross-validation only ever sees the
training part of a split, and a held-out group never appears in training or
cross-validation.

Work is a list of independent tasks — (split, grid point, fold) scores, then one
refit per split — run through an ``executor`` (a ``dask.distributed.Client``, or
``None`` for in-process), so splits, folds and grid points spread over workers.
Everything here takes arrays in and returns labelled results; there is no I/O.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from goalstore.analyses.conv1d_classifier import Conv1DTrajectoryClassifier

OBSERVABLE_SETS = ("weights", "activations", "activity_change", "all")
CLASSIFIERS = ("rf", "svm", "conv1d")
POSITIONS = ("early", "middle", "deep")


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


def statistic_indices(statistics: list[tuple[str, str, str]], observable_set: str) -> np.ndarray:
    if observable_set not in OBSERVABLE_SETS:
        raise ValueError(f"unknown observable set {observable_set!r}; expected one of "
                         f"{', '.join(OBSERVABLE_SETS)}")
    return np.array([i for i, s in enumerate(statistics) if observable_set == "all" or s[0] == observable_set])


def position_one_hot(positions: np.ndarray) -> np.ndarray:
    return (np.asarray(positions)[:, None] == np.array(POSITIONS)[None]).astype(float)


def features(cube: np.ndarray, statistics: list[tuple[str, str, str]], positions: np.ndarray,
             observable_set: str = "all", averaged: bool = False) -> np.ndarray:
    """Flattened statistic × checkpoint trajectories (or their averages) plus the position one-hot."""
    selected = cube[:, statistic_indices(statistics, observable_set), :]
    flat = selected.mean(axis=2) if averaged else selected.reshape(len(selected), -1)
    return np.hstack([flat, position_one_hot(positions)])


def balanced_splits(labels: np.ndarray, n_splits: int = 10, test_size: float = 0.25,
                    seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Category-balanced (stratified) train/test splits."""
    splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


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


class _Local:
    """In-process executor with the part of the dask.distributed Client API used here."""

    def scatter(self, data, **_):  # same call as Client.scatter
        return data

    def map(self, fn, *iterables, **kwargs):
        return [fn(*args, **kwargs) for args in zip(*iterables, strict=True)]

    def gather(self, futures):
        return futures


def _run(executor, fn, tasks: list[tuple], shared: dict[str, Any]) -> list[Any]:
    executor = executor or _Local()
    # hash=False: a fresh key per call, so releasing an earlier call's copy cannot lose this one
    shared = {k: executor.scatter(v, broadcast=True, hash=False) if isinstance(v, np.ndarray) else v
              for k, v in shared.items()}
    columns = list(zip(*tasks, strict=True)) if tasks else []
    futures = executor.map(fn, *columns, **shared, pure=False) if not isinstance(executor, _Local) \
        else executor.map(fn, *columns, **shared)
    return executor.gather(futures)


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
    scores = _run(executor, _cv_task, cv_tasks, {"x": x, "y": y, "estimator": estimator})
    table = np.full((len(splits), len(grid), cv), np.nan)
    for (s, members, f), group_scores in zip(keys, scores, strict=True):
        table[s, members, f] = group_scores
    best = np.nanmean(table, axis=2).argmax(axis=1)
    refit_tasks = [(train, test, grid[b]) for (train, test), b in zip(splits, best, strict=True)]
    refits = _run(executor, _refit_task, refit_tasks, {"x": x, "y": y, "estimator": estimator,
                                                       "x_test": x_test,
                                                       "importance_groups": importance_groups,
                                                       "seed": seed})
    evaluation = Evaluation(np.array([r["accuracy"] for r in refits]), [y[t] for _, t in splits],
                            [r["predicted"] for r in refits], [grid[b] for b in best])
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


def holdout_splits(groups: np.ndarray) -> tuple[list[str], list[tuple[np.ndarray, np.ndarray]]]:
    """One split per group value: train on every other group, test on this one."""
    values = sorted(set(np.asarray(groups).tolist()))
    index = np.arange(len(groups))
    return values, [(index[groups != v], index[groups == v]) for v in values]


def subsample_trajectories(cube: np.ndarray, period: int, n_samples: int, seed: int) -> np.ndarray:
    """Per example, ``n_samples`` checkpoints ``period`` apart from a random start (seeded)."""
    n_examples, _, n_checkpoints = cube.shape
    span = period * (n_samples - 1)
    if span >= n_checkpoints:
        raise ValueError(f"{n_samples} samples {period} checkpoints apart need more than "
                         f"{n_checkpoints} checkpoints")
    starts = np.random.default_rng(seed).integers(0, n_checkpoints - span, n_examples)
    index = starts[:, None] + period * np.arange(n_samples)[None]
    return np.take_along_axis(cube, index[:, None, :], axis=2)


def thirds(cube: np.ndarray) -> list[np.ndarray]:
    """The early, middle and late thirds of the checkpoint axis (equal lengths)."""
    size = cube.shape[2] // 3
    return [cube[:, :, i * size:(i + 1) * size] for i in range(3)]


# ------------------------------------------------------- the whole analysis
@dataclass(frozen=True)
class IdentificationConfig:
    """What :func:`identify_learning_rules` runs (defaults follow the paper; ``fast`` reduces grids)."""

    classifiers: tuple[str, ...] = ("rf", "svm")
    observable_sets: tuple[str, ...] = OBSERVABLE_SETS
    n_splits: int = 10
    cv: int = 5
    fast: bool = False
    holdouts: tuple[str, ...] = ()  #: any of architecture, curriculum, task
    periods_epochs: tuple[int, ...] = ()  #: trajectory subsampling periods (epochs), e.g. (5, 15, 25)
    n_samples: tuple[int, ...] = (3,)
    unit_fractions: tuple[float, ...] = ()  #: measurement realism: fractions of units kept
    noise_levels: tuple[float, ...] = ()  #: measurement realism: noise standard deviations
    relative_noise: bool = False  #: noise s.d. in units of each example's own s.d. (else absolute)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.classifiers:
            if name not in CLASSIFIERS:
                raise ValueError(f"unknown classifier {name!r}; expected one of {', '.join(CLASSIFIERS)}")
        for name in self.observable_sets:
            if name not in OBSERVABLE_SETS:
                raise ValueError(f"unknown observable set {name!r}; expected one of "
                                 f"{', '.join(OBSERVABLE_SETS)}")
        for name in self.holdouts:
            if name not in ("architecture", "curriculum", "task"):
                raise ValueError(f"unknown holdout {name!r}; expected architecture, curriculum or task")
        if self.n_splits < 2 or self.cv < 2:
            raise ValueError("n_splits and cv must be at least 2")


def identify_learning_rules(cube: np.ndarray, statistics: list[tuple[str, str, str]], epochs: list[int],
                            groups: Any, config: IdentificationConfig | None = None,
                            executor: Any = None, performance: np.ndarray | None = None,
                            units: Any = None) -> Any:
    """Classify learning rules from a classifier view; returns a labelled result ``xarray.Dataset``.

    ``performance`` (example × measures, e.g. final losses and accuracies of each example's
    run) adds the confounded task-performance control; ``units`` (the corpus' raw per-unit
    store) with ``config.unit_fractions`` / ``config.noise_levels`` adds the measurement-realism
    accuracy surface.

    ``cube`` is example × statistic × checkpoint, ``groups`` a DataFrame with
    ``learning_rule``, ``layer_position``, ``architecture``, ``task`` and ``curriculum``
    per example.
    """
    import json
    from dataclasses import asdict

    import xarray as xr

    from goalstore._version import __version__
    from goalstore.schema import SCHEMA_VERSION

    config = config or IdentificationConfig()
    y = groups["learning_rule"].to_numpy().astype(str)
    rules = sorted(set(y.tolist()))
    if len(rules) < 2:
        raise ValueError(f"need at least two learning rules to classify; got {rules}")
    positions = groups["layer_position"].to_numpy()
    splits = balanced_splits(y, config.n_splits, 0.25, config.seed)
    n_ckpt = cube.shape[2]
    keys = ["/".join(s) for s in statistics]
    acc = np.full((len(config.classifiers), len(config.observable_sets), config.n_splits), np.nan)
    acc_avg = np.full_like(acc, np.nan)
    conf = np.zeros((len(config.classifiers), len(config.observable_sets), len(rules), len(rules)))
    gini = np.full(len(keys), np.nan)
    perm = np.full((len(config.classifiers), len(keys)), np.nan)
    for c, name in enumerate(config.classifiers):
        for o, subset in enumerate(config.observable_sets):
            estimator, grid = classifier_grid(name, config.fast, n_ckpt, config.seed)
            x = features(cube, statistics, positions, subset)
            wants_importance = subset == "all"
            index = statistic_indices(statistics, "all")
            column_groups = [np.arange(i * n_ckpt, (i + 1) * n_ckpt) for i in range(len(index))]
            ev = evaluate(x, y, splits, estimator, grid, config.cv, config.seed, executor,
                          importance_groups=column_groups if wants_importance else None)
            acc[c, o] = ev.accuracies
            conf[c, o] = confusion(ev, rules)
            if wants_importance:  # per statistic: its whole trajectory (all checkpoints) at once
                perm[c, index] = ev.permutation
                if ev.gini is not None and name == "rf":
                    gini[index] = ev.gini
            if name != "conv1d" and subset == "all":  # control: trajectory-averaged features
                x_avg = features(cube, statistics, positions, subset, averaged=True)
                acc_avg[c, o] = evaluate(x_avg, y, splits, estimator, grid, config.cv, config.seed,
                                         executor).accuracies
    pair = np.stack([np.stack([pairwise_accuracy(conf[c, o]) for o in range(conf.shape[1])])
                     for c in range(conf.shape[0])])
    data = {
        "accuracy": (("classifier", "observable_set", "split"), acc, {"units": "1"}),
        "accuracy_trajectory_averaged": (("classifier", "observable_set", "split"), acc_avg,
                                         {"units": "1", "description": "control: features averaged "
                                                                       "over checkpoints"}),
        "confusion": (("classifier", "observable_set", "rule", "predicted_rule"), conf, {"units": "count"}),
        "pairwise_accuracy": (("classifier", "observable_set", "rule", "other_rule"), pair, {"units": "1"}),
        "gini_importance": (("statistic",), gini, {"units": "1", "description": "random forest, all "
                                                   "observables, summed over checkpoints"}),
        "permutation_importance": (("classifier", "statistic"), perm, {"units": "1"}),
    }
    coords: dict[str, Any] = {
        "classifier_name": ("classifier", list(config.classifiers)),
        "observable_set_name": ("observable_set", list(config.observable_sets)),
        "split_index": ("split", np.arange(config.n_splits)),
        "rule_name": ("rule", rules), "predicted_rule_name": ("predicted_rule", rules),
        "other_rule_name": ("other_rule", rules), "statistic_key": ("statistic", keys),
    }
    if config.holdouts:
        holdout_acc, holdout_keys, holdout_kinds, holdout_values = [], [], [], []
        for kind in config.holdouts:
            values, hsplits = holdout_splits(groups[kind].to_numpy().astype(str))
            if len(values) < 2:
                continue
            for c, name in enumerate(config.classifiers):
                estimator, grid = classifier_grid(name, config.fast, n_ckpt, config.seed)
                x = features(cube, statistics, positions, "all")
                ev = evaluate(x, y, hsplits, estimator, grid, config.cv, config.seed, executor)
                if c == 0:
                    holdout_keys += [f"{kind}={v}" for v in values]
                    holdout_kinds += [kind] * len(values)
                    holdout_values += values
                    holdout_acc.append(np.full((len(config.classifiers), len(values)), np.nan))
                holdout_acc[-1][c] = ev.accuracies
        if holdout_keys:
            data["holdout_accuracy"] = (("classifier", "holdout"), np.concatenate(holdout_acc, axis=1),
                                        {"units": "1", "description": "trained on every other group"})
            coords.update(holdout_key=("holdout", holdout_keys), holdout_kind=("holdout", holdout_kinds),
                          holdout_value=("holdout", holdout_values))
    if config.periods_epochs:
        spacing = int(np.median(np.diff(epochs))) if len(epochs) > 1 else 1
        estimator, grid = classifier_grid("rf", config.fast, n_ckpt, config.seed)
        sub = np.full((len(config.periods_epochs), len(config.n_samples), config.n_splits), np.nan)
        for p, period in enumerate(config.periods_epochs):
            for k, n in enumerate(config.n_samples):
                step = max(1, round(period / spacing))
                if step * (n - 1) >= n_ckpt:
                    continue
                sampled = subsample_trajectories(cube, step, n, config.seed + 31 * p + k)
                x = features(sampled, statistics, positions, "all")
                sub[p, k] = evaluate(x, y, splits, estimator, grid, config.cv, config.seed, executor).accuracies
        data["subsample_accuracy"] = (("period", "sample_count", "split"), sub,
                                      {"units": "1", "description": "random forest on n samples "
                                                                    "period epochs apart, random start"})
        coords.update(period_epochs=("period", list(config.periods_epochs)),
                      n_samples=("sample_count", list(config.n_samples)))
        parts = thirds(cube)
        third_acc = np.full((3, 3, config.n_splits), np.nan)
        for a in range(3):
            x_train = features(parts[a], statistics, positions, "all")
            for b in range(3):
                x_test = features(parts[b], statistics, positions, "all")
                third_acc[a, b] = evaluate(x_train, y, splits, estimator, grid, config.cv, config.seed,
                                           executor, x_test=x_test).accuracies
        data["third_accuracy"] = (("train_third", "test_third", "split"), third_acc, {"units": "1"})
        names = ["early", "middle", "late"]
        coords.update(train_third_name=("train_third", names), test_third_name=("test_third", names))
    if performance is not None:
        finite = np.isfinite(performance).all(axis=0)
        if finite.any():
            estimator, grid = classifier_grid("rf", config.fast, n_ckpt, config.seed)
            control = evaluate(performance[:, finite], y, splits, estimator, grid, config.cv, config.seed,
                               executor)
            data["accuracy_performance"] = (("split",), control.accuracies,
                                            {"units": "1", "description": "control: random forest on task "
                                             "performance alone (confounded with the rule)"})
    if units is not None and config.unit_fractions and config.noise_levels:
        surface = realism_surface(units, config.unit_fractions, config.noise_levels, config.n_splits,
                                  config.cv, config.seed, executor, config.relative_noise)
        data["realism_accuracy"] = (("realism_observable", "unit_fraction", "noise", "split"),
                                    surface.values, surface.attrs)
        names = list(surface["observable_set_name"].values)
        coords.update(realism_observable_name=("realism_observable", names),
                      unit_fraction_value=("unit_fraction", list(config.unit_fractions)),
                      noise_sigma=("noise", list(config.noise_levels)))
    return xr.Dataset(data, coords=coords, attrs={
        "kind": "result", "analysis": "lr_identification", "species": "artificial neural network",
        "modality": "observable statistics", "source": "goalstore.analyses.lr_identification",
        "license": "MIT", "citation": "Nayebi A, Srivastava S, Ganguli S, Yamins DLK (2020). Identifying "
                                      "Learning Rules From Neural Network Observables. NeurIPS 2020.",
        "schema_version": SCHEMA_VERSION, "config": json.dumps(asdict(config), sort_keys=True),
        "goalstore_version": __version__, "n_examples": int(cube.shape[0]),
        "n_features": int(features(cube, statistics, positions, "all").shape[1]),
        "epochs": json.dumps(list(map(int, epochs)))})


def _number(values: np.ndarray) -> float | None:
    """Mean of the finite values, or None (JSON null) when there are none."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else None


def confused_pairs(matrix: np.ndarray, labels: list[str]) -> dict[str, int]:
    """Test examples of either rule of each pair taken for the other, ``C[a, b] + C[b, a]``, keyed
    ``"a<->b"`` (labels in order), most confused first."""
    pairs = {f"{labels[a]}<->{labels[b]}": int(matrix[a, b] + matrix[b, a])
             for a in range(len(labels)) for b in range(a + 1, len(labels))}
    return dict(sorted(pairs.items(), key=lambda kv: -kv[1]))


def summary(result: Any) -> dict[str, Any]:
    """JSON-ready headline numbers: per classifier and observable set, mean and s.e.m. accuracy,
    confusion with its label order, and the sections for holdouts and subsampling when run."""
    out: dict[str, Any] = {"n_examples": int(result.attrs["n_examples"]),
                           "n_features": int(result.attrs["n_features"]), "classifiers": {}}
    rules = [str(r) for r in result["rule_name"].values]
    for c in result["classifier_name"].values:
        entry = {}
        for o in result["observable_set_name"].values:
            sel = dict(classifier=list(result["classifier_name"].values).index(c),
                       observable_set=list(result["observable_set_name"].values).index(o))
            acc = result["accuracy"].isel(**sel).values
            n_features = int(result.attrs["n_features"]) if o == "all" else None
            matrix = result["confusion"].isel(**sel).values.astype(int)
            entry[str(o)] = {
                "accuracy_mean": float(np.nanmean(acc)),
                "accuracy_sem": float(np.nanstd(acc, ddof=1) / np.sqrt(np.isfinite(acc).sum())),
                "confusion": {"labels": rules, "matrix": matrix.tolist()},
                "confused_pairs": confused_pairs(matrix, rules),
                "n_examples": int(result.attrs["n_examples"]),
                "n_features": n_features,
                "accuracy_trajectory_averaged": _number(
                    result["accuracy_trajectory_averaged"].isel(**sel).values),
            }
        out["classifiers"][str(c)] = entry
    if "holdout_accuracy" in result:
        out["holdouts"] = {str(c): {str(k): float(v) for k, v in zip(result["holdout_key"].values,
                                                                   result["holdout_accuracy"].values[i],
                                                                   strict=True)}
                           for i, c in enumerate(result["classifier_name"].values)}
    if "accuracy_performance" in result:
        out["performance_control"] = {"accuracy_mean": _number(result["accuracy_performance"].values)}
    if "realism_accuracy" in result:
        out["noise"] = {
            str(o): {f"fraction={float(f)},sigma={float(s)}":
                     _number(result["realism_accuracy"].values[i, j, k])
                     for j, f in enumerate(result["unit_fraction_value"].values)
                     for k, s in enumerate(result["noise_sigma"].values)}
            for i, o in enumerate(result["realism_observable_name"].values)}
    if "subsample_accuracy" in result:
        out["subsampling"] = {
            f"period={int(p)},samples={int(n)}": float(np.nanmean(result["subsample_accuracy"].values[i, j]))
            for i, p in enumerate(result["period_epochs"].values)
            for j, n in enumerate(result["n_samples"].values)}
        out["thirds"] = {f"train={a},test={b}": float(np.nanmean(result["third_accuracy"].values[i, j]))
                         for i, a in enumerate(result["train_third_name"].values)
                         for j, b in enumerate(result["test_third_name"].values)}
    return out


# ----------------------------------------------- measurement realism (units × noise)
REALISM_STATISTICS = {
    "weights": [("weights", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3", "var")]
    + [("weights", "square", s) for s in ("mean", "median", "q3")],
    "activations": [("activations", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3")],
    "activity_change": [("activity_change", f, "mean") for f in ("raw", "abs", "square")],
}
_FUNCTIONS = {"raw": lambda v: v, "abs": np.abs, "square": np.square}


def _statistic(values: np.ndarray, statistic: str) -> np.ndarray:
    """One statistic over the last axis, ignoring NaN (= not kept / padding)."""
    if statistic == "mean":
        return np.nanmean(values, axis=-1)
    if statistic == "median":
        return np.nanmedian(values, axis=-1)
    if statistic == "norm":
        return np.sqrt(np.nansum(values**2, axis=-1))
    if statistic == "q3":
        return np.nanpercentile(values, 75, axis=-1)
    if statistic == "var":
        return np.nanvar(values, axis=-1)
    raise ValueError(f"unknown statistic {statistic!r}")


def _keep_mask(rng: np.random.Generator, sizes: np.ndarray, width: int, fraction: float) -> np.ndarray:
    """Per example, a random ``fraction`` (at least one) of its first ``sizes`` entries (padding never)."""
    keys = rng.random((len(sizes), width))
    keys[np.arange(width)[None, :] >= sizes[:, None]] = np.inf
    ranks = keys.argsort(axis=1).argsort(axis=1)
    kept = np.maximum(1, np.round(fraction * sizes)).astype(int)
    return ranks < kept[:, None]


def _noise_scale(values: np.ndarray, sigma: float, relative: bool) -> float:
    """Noise s.d.: ``sigma``, or ``sigma`` × the s.d. of the quantity over the whole corpus (every
    example, checkpoint, stimulus and unit).  One number for all examples, so the noise itself
    carries nothing about an example's rule (a per-example scale would: its size would leak the
    example's own spread into the noised statistics)."""
    return float(sigma) * (float(np.nanstd(values)) if relative else 1.0)


def measured_statistics(units: Any, fraction: float, sigma: float, seed: int,
                        relative: bool = False) -> dict[str, np.ndarray]:
    """Recompute weight, activation and activity-change statistics from the raw matrices after
    keeping a random ``fraction`` of each example's synapses / units and adding white Gaussian noise
    of s.d. ``sigma`` (thesis §6.3.6).

    ``units`` is the corpus' ``-units`` store (example × checkpoint × stimulus × unit, and
    example × checkpoint × weight for ``weights``; NaN-padded).  Weights: the 13 finite weight
    statistics over the kept, noised synapses of the layer (the same synapses at every
    checkpoint, as a chronic measurement would see them).  Activations: per stimulus over the kept
    units, then averaged over stimuli.  Activity change: the input gradient of the kept input
    units, noised, summed and divided by the layer's output count, per stimulus,
    ``(1/n_out) Σ_{in kept} (∂Σ_out y/∂x_in + ε)``; then the function and the average over stimuli.
    With ``relative=True`` the noise s.d. is ``sigma`` times the s.d. of that quantity (weights,
    outputs or input gradients) over the whole corpus, so observables of very different scale
    (weights ~0.1, activations ~1) meet noise of the same signal-to-noise ratio.
    Returns, per observable, an example × statistic × checkpoint array (statistic order of
    ``REALISM_STATISTICS``); ``weights`` only when the store has raw weights.
    """
    if not 0 < fraction <= 1 or sigma < 0:
        raise ValueError(f"unit fraction must be in (0, 1] and noise >= 0; got {fraction}, {sigma}")
    rng = np.random.default_rng(seed)
    act = np.asarray(units["activations"].values, dtype=float)
    grad = np.asarray(units["input_gradient"].values, dtype=float)
    n_out = np.asarray(units["n_units"].values)
    n_in = np.asarray(units["n_input_units"].values)
    act_mask = _keep_mask(rng, n_out, act.shape[-1], fraction)[:, None, None, :]
    grad_mask = _keep_mask(rng, n_in, grad.shape[-1], fraction)[:, None, None, :]
    act_noise = _noise_scale(act, sigma, relative) * rng.standard_normal(act.shape)
    grad_noise = _noise_scale(grad, sigma, relative) * rng.standard_normal(grad.shape)
    act = np.where(act_mask, act + act_noise, np.nan)
    grad = np.where(grad_mask, grad + grad_noise, 0.0)
    out = {}
    if "weights" in units:
        weights = np.asarray(units["weights"].values, dtype=float)
        mask = _keep_mask(rng, np.asarray(units["n_weights"].values), weights.shape[-1], fraction)[:, None, :]
        noise = _noise_scale(weights, sigma, relative) * rng.standard_normal(weights.shape)
        weights = np.where(mask, weights + noise, np.nan)
        out["weights"] = np.stack([_statistic(_FUNCTIONS[f](weights), s)
                                   for _, f, s in REALISM_STATISTICS["weights"]], axis=1)
    # per stimulus over units, then the average over stimuli → example × checkpoint
    out["activations"] = np.stack([_statistic(_FUNCTIONS[f](act), s).mean(axis=-1)
                                   for _, f, s in REALISM_STATISTICS["activations"]], axis=1)
    change = grad.sum(axis=-1) / n_out[:, None, None]
    out["activity_change"] = np.stack([_FUNCTIONS[f](change).mean(-1)
                                       for _, f, _ in REALISM_STATISTICS["activity_change"]], axis=1)
    return out


def realism_surface(units: Any, fractions: tuple[float, ...], sigmas: tuple[float, ...],
                    n_splits: int = 5, cv: int = 3, seed: int = 0, executor: Any = None,
                    relative: bool = False) -> Any:
    """Accuracy of a (fast-grid) random forest per observable (weights when the store keeps them,
    activations, activity change), kept fraction and noise level (see :func:`measured_statistics`)."""
    import xarray as xr

    y = np.asarray(units["learning_rule"].values).astype(str)
    splits = balanced_splits(y, n_splits, 0.25, seed)
    estimator, grid = classifier_grid("rf", True, units.sizes["checkpoint"], seed)
    observables = [o for o in REALISM_STATISTICS if o != "weights" or "weights" in units]
    surface = np.full((len(observables), len(fractions), len(sigmas), n_splits), np.nan)
    for f, fraction in enumerate(fractions):
        for s, sigma in enumerate(sigmas):
            measured = measured_statistics(units, fraction, sigma, seed + 1000 * f + s, relative)
            for o, observable in enumerate(observables):
                x = measured[observable].reshape(len(y), -1)
                surface[o, f, s] = evaluate(np.nan_to_num(x), y, splits, estimator, grid, cv, seed,
                                            executor).accuracies
    return xr.DataArray(surface, dims=("observable_set", "unit_fraction", "noise", "split"), coords={
        "observable_set_name": ("observable_set", observables),
        "unit_fraction_value": ("unit_fraction", list(fractions)),
        "noise_sigma": ("noise", list(sigmas)), "split_index": ("split", np.arange(n_splits))},
        attrs={"units": "1", "noise": "relative" if relative else "absolute",
               "description": "random forest accuracy on statistics recomputed from a random fraction "
                              "of synapses / units with added Gaussian noise"})
