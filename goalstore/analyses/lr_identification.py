"""Learning-rule identification from observable trajectories (thesis §6.3; notes §5).

Examples are (run, layer); features are statistic trajectories over checkpoints
plus the early/middle/deep one-hot; the label is the learning rule.  Classifiers
(random forest, linear SVM with optional PCA, a 1-D CNN over checkpoints) are
selected inside each of ten category-balanced 75/25 train/test splits, by 5-fold
stratified cross-validation over the whole grid (``protocol="exhaustive"``, the default:
the paper's protocol) or by the pruned search of :mod:`~goalstore.analyses.lr_protocol`
(out-of-bag rungs for forests, fold racing for the SVM, a declared rule stored with the result).
Cross-validation only ever sees the training part of a split, and a held-out group
never appears in training or cross-validation.

Work is a list of independent tasks — (split, grid point, fold) scores, then one
refit per split — run through an ``executor`` (a ``dask.distributed.Client``, or
``None`` for in-process), so splits, folds and grid points spread over workers.
Everything here takes arrays in and returns labelled results; there is no I/O.

This module holds the features of the classifier view, the whole analysis
(:func:`identify_learning_rules`) and its summary; the parts live by concern in
:mod:`~goalstore.analyses.lr_classifiers` (classifier grids),
:mod:`~goalstore.analyses.lr_execution` (running tasks in process or on dask),
:mod:`~goalstore.analyses.lr_evaluation` (splits, cross-validated evaluation, confusion) and
:mod:`~goalstore.analyses.lr_realism` (unit subsampling and measurement noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from goalstore.analyses.lr_classifiers import (
    CLASSIFIERS,
    classifier_grid,
    forest_prefix_predictions,
    grid_groups,
)
from goalstore.analyses.lr_evaluation import (
    Evaluation,
    balanced_splits,
    confusion,
    evaluate,
    grouped_permutation_importance,
    holdout_splits,
    pairwise_accuracy,
)
from goalstore.analyses.lr_evaluation import (  # tests reach these private helpers here
    _cv_score as _cv_score,
)
from goalstore.analyses.lr_evaluation import (
    _cv_scores as _cv_scores,
)
from goalstore.analyses.lr_protocol import PROTOCOLS, PruningRule, evaluate_protocol
from goalstore.analyses.lr_realism import (
    REALISM_STATISTICS,
    measured_statistics,
    realism_surface,
)
from goalstore.analyses.lr_realism import (
    _noise_scale as _noise_scale,  # tests reach the noise scale here
)

__all__ = [
    "CLASSIFIERS",
    "OBSERVABLE_SETS",
    "POSITIONS",
    "PROTOCOLS",
    "REALISM_STATISTICS",
    "Evaluation",
    "IdentificationConfig",
    "PruningRule",
    "balanced_splits",
    "classifier_grid",
    "confused_pairs",
    "confusion",
    "evaluate",
    "evaluate_protocol",
    "features",
    "forest_prefix_predictions",
    "grid_groups",
    "grouped_permutation_importance",
    "holdout_splits",
    "identify_learning_rules",
    "measured_statistics",
    "pairwise_accuracy",
    "position_one_hot",
    "realism_surface",
    "statistic_indices",
    "subsample_trajectories",
    "summary",
    "thirds",
]

OBSERVABLE_SETS = ("weights", "activations", "activity_change", "all")
POSITIONS = ("early", "middle", "deep")


# ------------------------------------------------------- features of the view
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
    protocol: str = "exhaustive"  #: grid search: exhaustive (default) or pruned (:mod:`.lr_protocol`)
    margin_se: float = PruningRule.margin_se  #: pruned search: margin in binomial standard errors
    race_folds: int = PruningRule.race_folds  #: pruned search: folds every SVM grid point sees
    race_splits: int = PruningRule.race_splits  #: pruned search: splits every max_features value is tried on

    def rule(self) -> PruningRule:
        return PruningRule(self.margin_se, self.race_folds, self.race_splits)

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
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        self.rule()  # refuses a bad margin / race size


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
    from functools import partial

    import xarray as xr

    from goalstore._version import __version__
    from goalstore.schema import store_attrs

    config = config or IdentificationConfig()
    search = partial(evaluate_protocol, protocol=config.protocol, rule=config.rule())
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
            ev = search(x, y, splits, estimator, grid, config.cv, config.seed, executor,
                          importance_groups=column_groups if wants_importance else None)
            acc[c, o] = ev.accuracies
            conf[c, o] = confusion(ev, rules)
            if wants_importance:  # per statistic: its whole trajectory (all checkpoints) at once
                perm[c, index] = ev.permutation
                if ev.gini is not None and name == "rf":
                    gini[index] = ev.gini
            if name != "conv1d" and subset == "all":  # control: trajectory-averaged features
                x_avg = features(cube, statistics, positions, subset, averaged=True)
                acc_avg[c, o] = search(x_avg, y, splits, estimator, grid, config.cv, config.seed,
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
                ev = search(x, y, hsplits, estimator, grid, config.cv, config.seed, executor)
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
                sub[p, k] = search(x, y, splits, estimator, grid, config.cv, config.seed, executor).accuracies
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
                third_acc[a, b] = search(x_train, y, splits, estimator, grid, config.cv, config.seed,
                                           executor, x_test=x_test).accuracies
        data["third_accuracy"] = (("train_third", "test_third", "split"), third_acc, {"units": "1"})
        names = ["early", "middle", "late"]
        coords.update(train_third_name=("train_third", names), test_third_name=("test_third", names))
    if performance is not None:
        finite = np.isfinite(performance).all(axis=0)
        if finite.any():
            estimator, grid = classifier_grid("rf", config.fast, n_ckpt, config.seed)
            control = search(performance[:, finite], y, splits, estimator, grid, config.cv, config.seed,
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
    return xr.Dataset(data, coords=coords, attrs=store_attrs(
        "result", analysis="lr_identification", species="artificial neural network",
        modality="observable statistics", source="goalstore.analyses.lr_identification",
        license="MIT", citation="Nayebi A, Srivastava S, Ganguli S, Yamins DLK (2020). Identifying "
                                "Learning Rules From Neural Network Observables. NeurIPS 2020.",
        config=json.dumps(asdict(config), sort_keys=True),
        selection_rule=(config.rule().describe() if config.protocol == "pruned" else
                        "exhaustive: every grid point scored by stratified CV in each split's training part"),
        goalstore_version=__version__, n_examples=int(cube.shape[0]),
        n_features=int(features(cube, statistics, positions, "all").shape[1]),
        epochs=json.dumps(list(map(int, epochs)))))


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

