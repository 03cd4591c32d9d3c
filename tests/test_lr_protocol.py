"""The pruned search of learning-rule identification (issue 16): exact out-of-bag rungs, preprocessing
once per fold equal to the pipeline per grid point, the same choices as the exhaustive grid where the
answer is clear, and the rule's failure mode."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from goalstore.analyses.lr_classifiers import classifier_grid
from goalstore.analyses.lr_evaluation import _cv_score, balanced_splits, evaluate
from goalstore.analyses.lr_identification import IdentificationConfig
from goalstore.analyses.lr_protocol import (
    PruningRule,
    _OobForest,
    _pipeline_fold_scores,
    evaluate_protocol,
    pruning_threshold,
    race_survivors,
)


def _one_informative_feature(n: int = 240, n_noise: int = 40, seed: int = 0):
    """Four classes told apart by one feature among ``n_noise`` noise features: ``max_features=None``
    (every split sees it) is clearly best, sqrt/log2 forests mostly split on noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c", "d"]), n // 4)
    x = rng.standard_normal((n, n_noise + 1))
    x[:, 7] = np.repeat(np.arange(4), n // 4) * 4.0 + 0.3 * rng.standard_normal(n)
    return x, y


def _small_forest_grid():
    estimator, grid = classifier_grid("rf", False, 21, seed=0)
    return estimator, [p for p in grid if p["n_estimators"] <= 50]


def test_oob_rungs_are_the_exact_forests_of_that_many_trees():
    x, y = _one_informative_feature(160, 10, seed=1)
    estimator, _ = _small_forest_grid()
    forest = _OobForest(estimator, {"max_features": "sqrt"}, x[:120], y[:120], x[120:])
    for n in (20, 50):
        score = forest.grow(n)
        fresh = clone(estimator).set_params(n_estimators=n, max_features="sqrt", oob_score=True)
        fresh.fit(x[:120], y[:120])
        assert score == pytest.approx(fresh.oob_score_, abs=1e-12)
        np.testing.assert_array_equal(forest.test_predictions[n], fresh.predict(x[120:]))
        np.testing.assert_array_equal(forest.prefix(n).predict(x[120:]), fresh.predict(x[120:]))


def test_pruned_forest_selects_as_the_exhaustive_grid_where_the_answer_is_clear():
    x, y = _one_informative_feature()
    splits = balanced_splits(y, 3, 0.25, 0)
    estimator, grid = _small_forest_grid()
    exhaustive = evaluate(x, y, splits, estimator, grid, cv=2, seed=0)
    pruned = evaluate_protocol(x, y, splits, estimator, grid, cv=2, seed=0, protocol="pruned")
    assert [p["max_features"] for p in exhaustive.best_params] == [None] * 3
    assert pruned.best_params == exhaustive.best_params
    np.testing.assert_array_equal(pruned.accuracies, exhaustive.accuracies)
    assert (pruned.accuracies > 0.95).all()
    # deterministic, and the pruned search scored fewer grid points than the exhaustive one
    again = evaluate_protocol(x, y, splits, estimator, grid, cv=2, seed=0, protocol="pruned")
    np.testing.assert_array_equal(again.search_scores, pruned.search_scores)
    assert np.isnan(pruned.search_scores).sum() > 0 and not np.isnan(exhaustive.search_scores).any()


def test_preprocessing_once_per_fold_equals_the_pipeline_per_grid_point():
    x, y = _one_informative_feature(120, 30, seed=2)
    x[:, 3] *= 100.0  # scaling matters
    pipe, grid = classifier_grid("svm", False, 21, seed=0)
    grid = [p for p in grid if p["svm__C"] in (1.0, 5e2, 5e6)]
    train = np.arange(120)
    fold_train, fold_valid = np.arange(0, 120, 2), np.arange(1, 120, 2)
    once = _pipeline_fold_scores(train, fold_train, fold_valid, grid, x, y, pipe)
    per_point = [_cv_score(x, y, fold_train, fold_valid, pipe, p) for p in grid]
    assert once == per_point


def test_pruned_svm_selects_as_the_exhaustive_grid_where_the_answer_is_clear():
    x, y = _one_informative_feature(160, 20, seed=3)
    splits = balanced_splits(y, 2, 0.25, 0)
    pipe, grid = classifier_grid("svm", False, 21, seed=0)
    exhaustive = evaluate(x, y, splits, pipe, grid, cv=3, seed=0)
    pruned = evaluate_protocol(x, y, splits, pipe, grid, cv=3, seed=0, protocol="pruned")
    assert [repr(p) for p in pruned.best_params] == [repr(p) for p in exhaustive.best_params]
    np.testing.assert_array_equal(pruned.accuracies, exhaustive.accuracies)


def test_the_default_exhaustive_pipeline_search_equals_evaluate_with_preprocessing_once_per_fold():
    x, y = _one_informative_feature(160, 20, seed=4)
    x[:, 5] *= 50.0
    splits = balanced_splits(y, 2, 0.25, 0)
    pipe, grid = classifier_grid("svm", False, 21, seed=0)
    grid = [p for p in grid if p["svm__C"] in (1.0, 5e2, 5e5)]
    reference = evaluate(x, y, splits, pipe, grid, cv=3, seed=0)
    shared = evaluate_protocol(x, y, splits, pipe, grid, cv=3, seed=0)  # default: exhaustive
    assert not np.isnan(shared.search_scores).any()  # every point scored on every fold
    np.testing.assert_array_equal(shared.search_scores, reference.search_scores)
    assert [repr(p) for p in shared.best_params] == [repr(p) for p in reference.best_params]
    np.testing.assert_array_equal(shared.accuracies, reference.accuracies)
    for got, want in zip(shared.y_pred, reference.y_pred, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_rule_can_prune_the_eventual_best_and_the_margin_is_what_protects_it():
    # fold scores of two grid points on 100 validation examples per fold: B leads after two folds,
    # A wins the five-fold mean (the exhaustive choice)
    folds = np.array([[0.81, 0.83, 0.95, 0.95, 0.95],   # A
                      [0.86, 0.86, 0.84, 0.84, 0.84]])  # B
    assert folds.mean(axis=1).argmax() == 0
    early = folds[:, :2].mean(axis=1)
    assert race_survivors(early, 200, margin_se=0.0).tolist() == [1]  # no margin: the best is pruned
    assert race_survivors(early, 200, margin_se=2.0).tolist() == [0, 1]  # 2 s.e.: it survives
    assert pruning_threshold(0.86, 200, 2.0) == pytest.approx(0.86 - 2 * np.sqrt(0.86 * 0.14 / 200))
    assert pruning_threshold(1.0, 200, 2.0) == 1.0  # a perfect score prunes anything below it
    with pytest.raises(ValueError, match="margin_se"):
        PruningRule(margin_se=-1)
    with pytest.raises(ValueError, match="protocol"):
        IdentificationConfig(protocol="greedy")


def test_results_carry_the_rule():
    import json

    import pandas as pd

    from goalstore.analyses.lr_identification import identify_learning_rules
    from goalstore.lr_corpus import FINITE_24

    rng = np.random.default_rng(0)
    y = np.repeat(["sgdm", "adam", "fa", "ia"], 12)
    cube = rng.standard_normal((len(y), 24, 21))
    for i, rule in enumerate(["sgdm", "adam", "fa", "ia"]):
        cube[y == rule, i, :] += 3.0
    positions = rng.choice(["early", "middle", "deep"], len(y))
    groups = pd.DataFrame({"learning_rule": y, "layer_position": positions})
    for protocol in ("pruned", "exhaustive"):
        config = IdentificationConfig(classifiers=("rf",), observable_sets=("weights",), n_splits=2, cv=2,
                                      fast=True, protocol=protocol, margin_se=1.5)
        result = identify_learning_rules(cube, list(FINITE_24), list(range(21)), groups, config)
        assert json.loads(result.attrs["config"])["protocol"] == protocol
        assert result.attrs["selection_rule"].startswith(protocol)
        assert ("1.5 binomial s.e." in result.attrs["selection_rule"]) == (protocol == "pruned")
        assert float(result["accuracy"].mean()) > 0.9


def test_no_tasks_send_nothing_to_the_executor():
    # the exhaustive pipeline search has no second (racing) round: Client.map refuses empty iterables
    from goalstore.analyses.lr_execution import run_tasks

    class Refusing:
        def scatter(self, *_, **__):
            raise AssertionError("nothing to scatter")

        def map(self, *_, **__):
            raise TypeError("Dask no longer supports mapping over Iterators or Queues")

    assert run_tasks(Refusing(), len, [], {"x": np.zeros(3)}) == []


def test_the_exhaustive_pipeline_search_on_dask_workers_equals_in_process():
    from dask.distributed import Client, LocalCluster

    x, y = _one_informative_feature(120, 10, seed=5)
    splits = balanced_splits(y, 2, 0.25, 0)
    pipe, grid = classifier_grid("svm", True, 21, seed=0)
    here = evaluate_protocol(x, y, splits, pipe, grid, cv=2, seed=0)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        there = evaluate_protocol(x, y, splits, pipe, grid, cv=2, seed=0, executor=client)
    np.testing.assert_array_equal(there.search_scores, here.search_scores)
    np.testing.assert_array_equal(there.accuracies, here.accuracies)


def test_a_negative_margin_is_refused_before_anything_runs():
    from goalstore.errors import AnalysisInputError
    from goalstore.recipes.lr_identification import LrIdentification, check

    with pytest.raises(AnalysisInputError, match="margin_se must be >= 0"):
        check(LrIdentification(protocol="pruned", margin_se=-1.0), None)  # refused before the store is read
