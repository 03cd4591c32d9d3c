"""Search protocols of learning-rule identification: the exhaustive grid, or the pruned search (issue 16).

``exhaustive`` (the default; :func:`~goalstore.analyses.lr_evaluation.evaluate`): every grid point
is scored by stratified ``cv``-fold CV inside each split's training part, the best is refitted on
the whole training part and tested; a pipeline's preprocessing (scaler, PCA) is fitted once per
fold and setting and shared by its grid points (identical scores, fewer fits).  On the full
20,736-example corpus the paper grids cost hundreds of core-hours (a ``max_features=None`` tree
of 507 features is ~20× a ``sqrt`` one).

``pruned`` (:func:`evaluate_protocol`, opt-in) selects from the same grids at a fraction of
the cost, by a declared rule (:class:`PruningRule`); where the grid point it would prune is the
true best its choice can differ from the exhaustive one, which the benchmark reports side by side:

* **Random forest** — no folds and no refit: one forest per ``max_features`` value is grown on
  the split's training part in rungs of the trees grid (``warm_start``; a forest of ``n`` trees
  with a given seed *is* the first ``n`` trees of a larger one, so every rung is the exact
  ``n_estimators=n`` forest) and each rung is scored by its exact out-of-bag accuracy ``a``
  (each training example predicted by the trees of the prefix that did not draw it).  After a
  rung, with ``a*`` the best live score and ``se = sqrt(a*(1 - a*) / m)`` its binomial standard
  error over the ``m`` out-of-bag-scored examples, a ``max_features`` value with
  ``a < a* - margin_se * se`` is dropped, and a live value stops growing when its score is not
  above its own best earlier rung by more than ``margin_se * se`` (more trees no longer
  measurably help).  A ``max_features`` value dropped at its first rung in each of the first
  ``race_splits`` splits is not tried on the later splits (this is what prunes the costly
  ``max_features=None`` from cheap evidence).  The selected point is the arg-max of the
  out-of-bag accuracy over the rungs grown (ties: the first in grid order, as ``exhaustive``),
  and its forest — already fitted on the whole training part — is tested.
* **Pipelines (linear SVM ± PCA)** — the preprocessing (scaler, PCA) is fitted once per fold and
  setting, not once per grid point (identical scores), and the grid points race over folds:
  after the first ``race_folds`` folds, with ``a*`` the best mean validation accuracy and
  ``se`` its binomial standard error over the validation examples seen, points with mean
  ``< a* - margin_se * se`` get no further folds.  The best of the survivors' ``cv``-fold means
  is refitted and tested, as ``exhaustive``.
* Other estimators (the 1-D CNN) use the exhaustive search.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from goalstore.analyses.lr_evaluation import Evaluation, _refit_task, evaluate, grouped_permutation_importance
from goalstore.analyses.lr_execution import run_tasks

PROTOCOLS = ("exhaustive", "pruned")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruningRule:
    """The pruned search's rule (module docstring); stored with every result."""

    margin_se: float = 2.0  #: prune below the best by more than this many binomial standard errors
    race_folds: int = 2  #: folds every pipeline grid point sees before pruning
    race_splits: int = 2  #: splits every max_features value is tried on

    def __post_init__(self) -> None:
        if self.margin_se < 0 or self.race_folds < 1 or self.race_splits < 1:
            raise ValueError("margin_se must be >= 0, race_folds and race_splits >= 1")

    def describe(self) -> str:
        return (f"pruned search: forests scored out-of-bag in rungs of the trees grid, a max_features value "
                f"dropped (and a forest's growth stopped) below the best (its best earlier rung) by more "
                f"than {self.margin_se:g} binomial s.e., values dropped at their first rung in each of the "
                f"first {self.race_splits} splits not tried later; pipelines: preprocessing fitted once per "
                f"fold, grid points below the best by more than {self.margin_se:g} s.e. after "
                f"{self.race_folds} folds get no more folds")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pruning_threshold(best: float, n_scored: int, margin_se: float) -> float:
    """``best - margin_se * sqrt(best (1 - best) / n_scored)``: scores below it are pruned."""
    return best - margin_se * np.sqrt(max(best * (1 - best), 0.0) / max(n_scored, 1))


def race_survivors(scores: np.ndarray, n_scored: int, margin_se: float) -> np.ndarray:
    """Indices of the grid points whose (mean) score is not below :func:`pruning_threshold`."""
    scores = np.asarray(scores, dtype=float)
    return np.flatnonzero(scores >= pruning_threshold(float(np.nanmax(scores)), n_scored, margin_se))


# ------------------------------------------------------------------ forests
class _OobForest:
    """A forest grown in rungs with its exact out-of-bag and test class-probability sums."""

    def __init__(self, estimator: Any, params: dict, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> None:
        self.model = clone(estimator).set_params(**params, n_estimators=0, warm_start=True)
        self.x, self.y, self.x_test = x, y, np.asarray(x_test, dtype=np.float32)
        self.classes = np.unique(y)
        self.oob = np.zeros((len(x), len(self.classes)))
        self.oob_count = np.zeros(len(x), dtype=int)
        self.test = np.zeros((len(x_test), len(self.classes)))
        self.scores: dict[int, float] = {}
        self.test_predictions: dict[int, np.ndarray] = {}

    def grow(self, n: int) -> float:
        from sklearn.ensemble._forest import _generate_unsampled_indices, _get_n_samples_bootstrap

        done = len(getattr(self.model, "estimators_", []))
        self.model.set_params(n_estimators=n).fit(self.x, self.y)
        n_boot = _get_n_samples_bootstrap(len(self.x), self.model.max_samples, None)
        x32 = np.asarray(self.x, dtype=np.float32)
        for tree in self.model.estimators_[done:n]:
            unsampled = _generate_unsampled_indices(tree.random_state, len(self.x), n_boot, None)
            self.oob[unsampled] += tree.predict_proba(x32[unsampled])
            self.oob_count[unsampled] += 1
            self.test += tree.predict_proba(self.x_test)
        scored = self.oob_count > 0
        predicted = self.classes.take(np.argmax(self.oob[scored], axis=1))
        self.scores[n] = float((predicted == self.y[scored]).mean())
        self.n_scored = int(scored.sum())
        self.test_predictions[n] = self.classes.take(np.argmax(self.test / n, axis=1))
        return self.scores[n]

    def prefix(self, n: int) -> Any:
        """The fitted forest of the first ``n`` trees (equal to one fitted with ``n_estimators=n``)."""
        model = copy.copy(self.model)
        model.estimators_ = self.model.estimators_[:n]
        model.n_estimators = n
        return model


def _forest_race(train, test, grid, allowed, x, y, estimator, rule, x_test=None, importance_groups=None,
                 seed=0) -> dict[str, Any]:
    """One split of the pruned forest search (module docstring)."""
    test_x = (x if x_test is None else x_test)[test]
    sizes = sorted({int(p["n_estimators"]) for p in grid})
    settings = [s for s in dict.fromkeys(repr(p["max_features"]) for p in grid) if s in allowed]
    params = {repr(p["max_features"]): {k: v for k, v in p.items() if k != "n_estimators"} for p in grid}
    forests = {s: _OobForest(estimator, params[s], x[train], y[train], test_x) for s in settings}
    live, growing, first_dropped = list(settings), set(settings), set()
    for r, n in enumerate(sizes):
        for s in [s for s in live if s in growing]:
            forests[s].grow(n)
            _log.debug("forest max_features=%s: %d trees, out-of-bag accuracy %.4f", s, n, forests[s].scores[n])
        scored = [s for s in live if n in forests[s].scores]
        if not scored:
            break
        rung = np.array([forests[s].scores[n] for s in scored])
        m = min(forests[s].n_scored for s in scored)
        keep = {scored[i] for i in race_survivors(rung, m, rule.margin_se)}
        dropped = [s for s in scored if s not in keep]
        if r == 0:
            first_dropped.update(dropped)
        live = [s for s in live if s not in dropped]
        for s in list(growing):  # stop growing when more trees no longer measurably help
            if s in live and r > 0:
                earlier = max(forests[s].scores[k] for k in sizes[:r])
                if forests[s].scores[n] <= earlier + rule.margin_se * np.sqrt(
                        max(earlier * (1 - earlier), 0.0) / forests[s].n_scored):
                    growing.discard(s)
    score = np.full(len(grid), np.nan)
    for g, p in enumerate(grid):
        forest = forests.get(repr(p["max_features"]))
        if forest is not None:
            score[g] = forest.scores.get(int(p["n_estimators"]), np.nan)
    best = int(np.nanargmax(score))
    chosen = forests[repr(grid[best]["max_features"])]
    n_best = int(grid[best]["n_estimators"])
    predicted = chosen.test_predictions[n_best]
    out = {"best": best, "score": score, "predicted": predicted,
           "accuracy": float((predicted == y[test]).mean()),
           "first_dropped": sorted(first_dropped),
           "trees": {s: len(f.model.estimators_) for s, f in forests.items()}}
    if importance_groups is not None:
        model = chosen.prefix(n_best)
        out["gini"] = np.array([model.feature_importances_[c].sum() for c in importance_groups])
        out["permutation"] = grouped_permutation_importance(model, test_x, y[test], importance_groups,
                                                            seed=seed)
    return out


def _pruned_forest(x, y, splits, estimator, grid, rule, executor, x_test, importance_groups, seed):
    shared = {"x": x, "y": y, "estimator": estimator, "rule": rule, "x_test": x_test,
              "importance_groups": importance_groups, "seed": seed}
    everything = set(repr(p["max_features"]) for p in grid)
    head = splits[:rule.race_splits]
    results = run_tasks(executor, _forest_race, [(tr, te, grid, everything) for tr, te in head], shared)
    never = set.intersection(*[set(r["first_dropped"]) for r in results]) if results else set()
    allowed = everything - never if never != everything else everything
    results += run_tasks(executor, _forest_race, [(tr, te, grid, allowed) for tr, te in splits[len(head):]],
                         shared)
    return results


# ------------------------------------------------------------------ pipelines
_LAST = "svm__"  #: parameters of the pipeline's final step; every other parameter is preprocessing


def _preprocessing_key(params: dict) -> str:
    return repr(sorted((k, repr(v)) for k, v in params.items() if not k.startswith(_LAST)))


def _pipeline_fold_scores(split_train, fold_train, fold_valid, points, x, y, estimator) -> list[float]:
    """Validation accuracy of each grid point, the preprocessing fitted once per setting (not per point)."""
    train, valid = split_train[fold_train], split_train[fold_valid]
    scores, prepared = [], {}
    for params in points:
        key = _preprocessing_key(params)
        if key not in prepared:
            pre = clone(estimator).set_params(**{k: v for k, v in params.items() if not k.startswith(_LAST)})
            head = Pipeline(pre.steps[:-1])
            prepared[key] = (head.fit_transform(x[train], y[train]), head.transform(x[valid]))
        xt, xv = prepared[key]
        last = clone(estimator.steps[-1][1]).set_params(
            **{k[len(_LAST):]: v for k, v in params.items() if k.startswith(_LAST)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            last.fit(xt, y[train])
        scores.append(float((last.predict(xv) == y[valid]).mean()))
    return scores


def _pipeline_search(x, y, splits, estimator, grid, cv, seed, rule, executor, x_test, importance_groups):
    """Fold racing of a pipeline's grid points (module docstring); ``rule=None``: no racing, every point
    sees every fold (the exhaustive search with the preprocessing fitted once per fold)."""
    folds_of = []
    for s, (train, _) in enumerate(splits):
        smallest = np.bincount(np.unique(y[train], return_inverse=True)[1]).min()
        folds_of.append(list(StratifiedKFold(n_splits=min(cv, smallest), shuffle=True,
                                             random_state=seed + s).split(train, y[train])))
    n_folds = len(folds_of[0])
    table = np.full((len(splits), len(grid), n_folds), np.nan)
    shared = {"x": x, "y": y, "estimator": estimator}
    first = n_folds if rule is None else min(rule.race_folds, n_folds)
    tasks, keys = [], []
    for s, (train, _) in enumerate(splits):
        for f in range(first):
            tasks.append((train, *folds_of[s][f], grid))
            keys.append((s, list(range(len(grid))), f))
    for (s, members, f), scores in zip(keys, run_tasks(executor, _pipeline_fold_scores, tasks, shared),
                                       strict=True):
        table[s, members, f] = scores
    tasks, keys = [], []
    for s, (train, _) in enumerate(splits):
        if first == n_folds:
            continue
        seen = sum(len(folds_of[s][f][1]) for f in range(first))
        alive = race_survivors(table[s, :, :first].mean(axis=1), seen, rule.margin_se).tolist()
        for f in range(first, n_folds):
            tasks.append((train, *folds_of[s][f], [grid[g] for g in alive]))
            keys.append((s, alive, f))
    for (s, members, f), scores in zip(keys, run_tasks(executor, _pipeline_fold_scores, tasks, shared),
                                       strict=True):
        table[s, members, f] = scores
    mean = table.mean(axis=2)  # nan for pruned points
    best = [int(np.nanargmax(row)) for row in mean]
    refit_tasks = [(tr, te, grid[b]) for (tr, te), b in zip(splits, best, strict=True)]
    refits = run_tasks(executor, _refit_task, refit_tasks,
                       {**shared, "x_test": x_test, "importance_groups": importance_groups, "seed": seed})
    return best, mean, refits


# ------------------------------------------------------------------ entry point
def evaluate_protocol(x: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]], estimator: Any,
                      grid: list[dict], cv: int = 5, seed: int = 0, executor: Any = None,
                      x_test: np.ndarray | None = None, importance_groups: list[np.ndarray] | None = None,
                      protocol: str = "exhaustive", rule: PruningRule | None = None) -> Evaluation:
    """Select a grid point per split by ``protocol`` (module docstring), then test it.

    Returns the :class:`~goalstore.analyses.lr_evaluation.Evaluation` of
    :func:`~goalstore.analyses.lr_evaluation.evaluate`, with ``search_scores`` (split × grid
    point: the selection score, CV mean or out-of-bag accuracy; nan where pruned).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    rule = rule or PruningRule()
    forest = isinstance(estimator, (RandomForestClassifier, ExtraTreesClassifier)) and estimator.bootstrap
    pipeline = isinstance(estimator, Pipeline) and estimator.steps[-1][0] + "__" == _LAST
    if not (forest or pipeline) or (protocol == "exhaustive" and not pipeline):
        return evaluate(x, y, splits, estimator, grid, cv, seed, executor, x_test, importance_groups)
    if protocol == "exhaustive":  # every point, every fold; the preprocessing fitted once per fold
        best, scores, refits = _pipeline_search(x, y, splits, estimator, grid, cv, seed, None, executor, x_test,
                                                importance_groups)
    elif forest:
        results = _pruned_forest(x, y, splits, estimator, grid, rule, executor, x_test, importance_groups, seed)
        best = [r["best"] for r in results]
        scores = np.stack([r["score"] for r in results])
        refits = results
    else:
        best, scores, refits = _pipeline_search(x, y, splits, estimator, grid, cv, seed, rule, executor, x_test,
                                                importance_groups)
    evaluation = Evaluation(np.array([r["accuracy"] for r in refits]), [y[t] for _, t in splits],
                            [r["predicted"] for r in refits], [grid[b] for b in best])
    evaluation.search_scores = scores
    if importance_groups is not None:
        if all("gini" in r for r in refits):
            evaluation.gini = np.mean([r["gini"] for r in refits], axis=0)
        evaluation.permutation = np.mean([r["permutation"] for r in refits], axis=0)
    return evaluation
