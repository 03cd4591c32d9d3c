"""Learning-rule identification: planted differences are found, label noise stays at chance,
held-out groups never leak, subsampling is reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goalstore.analyses.lr_identification import (
    IdentificationConfig,
    balanced_splits,
    classifier_grid,
    evaluate,
    features,
    holdout_splits,
    identify_learning_rules,
    measured_statistics,
    pairwise_accuracy,
    realism_surface,
    subsample_trajectories,
    summary,
)
from goalstore.lr_corpus import FINITE_24
from goalstore.schema import validate

RULES = ["sgdm", "adam", "fa", "ia"]
SMALL = dict(n_splits=3, cv=2, fast=True)


def _corpus(n_per: int = 24, planted: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(RULES, n_per)
    cube = rng.standard_normal((len(y), 24, 21))
    for i, rule in enumerate(RULES):  # rule i shifts weight statistic i (a weights feature)
        cube[y == rule, i, :] += planted
    groups = pd.DataFrame({
        "learning_rule": y, "layer_position": rng.choice(["early", "middle", "deep"], len(y)),
        "architecture": np.tile(["a", "b", "c"], len(y) // 3), "task": "t",
        "curriculum": np.tile(["b128-d0", "b256-d1"], len(y) // 2)})
    return cube, groups


def test_planted_differences_are_separated():
    cube, groups = _corpus()
    result = identify_learning_rules(cube, list(FINITE_24), list(range(0, 101, 5)), groups,
                                     IdentificationConfig(classifiers=("rf", "svm"),
                                                          observable_sets=("weights", "all"), **SMALL))
    validate(result, "result")
    assert float(result["accuracy"].sel(observable_set=0).min()) > 0.95  # weights carry the signal
    out = summary(result)
    assert out["classifiers"]["rf"]["all"]["accuracy_mean"] > 0.95
    assert out["classifiers"]["rf"]["all"]["confusion"]["labels"] == sorted(RULES)
    top = np.argsort(-np.nan_to_num(result["gini_importance"].values))[:4]
    assert set(top) == {0, 1, 2, 3}  # the planted statistics are the important ones


def test_independent_labels_stay_at_chance():
    cube, groups = _corpus(n_per=30, planted=0.0, seed=1)
    groups["learning_rule"] = np.random.default_rng(2).permutation(groups["learning_rule"].to_numpy())
    result = identify_learning_rules(cube, list(FINITE_24), list(range(21)), groups,
                                     IdentificationConfig(classifiers=("rf",), observable_sets=("all",),
                                                          n_splits=5, cv=2, fast=True))
    # chance is 0.25; with 30 test examples per split the s.e. of one split is ~0.08
    assert abs(float(result["accuracy"].mean()) - 0.25) < 0.12


def test_holdout_groups_never_leak():
    groups = np.array(["a", "b", "a", "c", "b", "c", "a"])
    values, splits = holdout_splits(groups)
    assert values == ["a", "b", "c"]
    for value, (train, test) in zip(values, splits, strict=True):
        assert set(groups[test]) == {value} and value not in set(groups[train])
    cube, frame = _corpus()
    x = features(cube, list(FINITE_24), frame["layer_position"].to_numpy())
    y = frame["learning_rule"].to_numpy()
    seen = []

    class Spy:  # records every training set the evaluation fits on
        def get_params(self, deep=True):
            return {}

        def set_params(self, **params):
            return self

        def fit(self, x_fit, y_fit):
            seen.append(x_fit.copy())
            return self

        def predict(self, x_pred):
            return np.full(len(x_pred), "fa")

    arch = frame["architecture"].to_numpy()
    values, splits = holdout_splits(arch)
    from sklearn.base import BaseEstimator

    class SpyEstimator(BaseEstimator, Spy):
        pass

    evaluate(x, y, splits, SpyEstimator(), [{}], cv=2)
    held_rows = {v: {x[i].tobytes() for i in np.flatnonzero(arch == v)} for v in values}
    for fitted in seen:
        rows = {r.tobytes() for r in fitted}
        assert sum(bool(rows & held) for held in held_rows.values()) <= len(values) - 1
    # every fit excludes at least one whole group: the one held out in its split
    assert all(any(not ({r.tobytes() for r in f} & held) for held in held_rows.values()) for f in seen)


def test_balanced_splits_are_stratified_and_seeded():
    y = np.repeat(RULES, 20)
    splits = balanced_splits(y, 4, 0.25, seed=3)
    for train, test in splits:
        assert set(np.unique(y[test], return_counts=True)[1]) == {5}
        assert not set(train) & set(test)
    again = balanced_splits(y, 4, 0.25, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again, strict=True))


def test_subsampling_is_reproducible_and_respects_the_period():
    cube = np.arange(2 * 3 * 21, dtype=float).reshape(2, 3, 21)
    a = subsample_trajectories(cube, period=3, n_samples=4, seed=7)
    b = subsample_trajectories(cube, period=3, n_samples=4, seed=7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 3, 4) and (np.diff(a, axis=2) == 3).all()
    with pytest.raises(ValueError, match="need more than 21"):
        subsample_trajectories(cube, period=10, n_samples=4, seed=0)


def test_pairwise_accuracy_and_bad_names():
    matrix = np.array([[8, 2], [1, 9]])
    pair = pairwise_accuracy(matrix)
    assert pair[0, 1] == pytest.approx(17 / 20) and np.isnan(pair[0, 0])
    with pytest.raises(ValueError, match="expected one of rf, svm, conv1d"):
        classifier_grid("knn", True, 21)
    with pytest.raises(ValueError, match="unknown holdout"):
        IdentificationConfig(holdouts=("species",))


def test_conv1d_classifier_learns_a_planted_trajectory_shape():
    from goalstore.analyses.conv1d_classifier import Conv1DTrajectoryClassifier

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    t = np.linspace(0, 1, 21)
    series = rng.standard_normal((80, 2, 21)) * 0.3
    series[y == 1, 0] += t  # class 1: statistic 0 rises over training
    x = series.reshape(80, -1)
    model = Conv1DTrajectoryClassifier(n_checkpoints=21, epochs=40, random_state=0).fit(x[::2], y[::2])
    assert (model.predict(x[1::2]) == y[1::2]).mean() > 0.9


def test_cli_on_a_built_corpus(home, tmp_path, capsys):
    import json

    import goalstore
    from goalstore.cli import main

    grid = {"name": "id", "pairs": [["digits", "knet4"]], "rules": ["sgdm", "fa"], "batch_sizes": [256],
            "model_seeds": [0, 1], "data_seeds": [0, 1], "epochs": 2, "checkpoint_every": 1, "width": 0.25,
            "val_size": 32, "keep_raw_layers": ["fc1"]}
    path = tmp_path / "id.json"
    path.write_text(json.dumps(grid))
    goalstore.api.build_lr_corpus(str(path))
    # --subsample (and its thirds section and figure) is exercised on an import, in
    # test_lr_identify_import.py::test_analysis_on_an_import_finds_chance_or_the_planted_signal
    code = main(["analyze", "lr-identify", "lr-corpus-id", "--classifier", "rf", "--observables",
                 "all,weights", "--holdout", "curriculum", "--fast",
                 "--noise", "0,5", "--unit-fractions", "0.5", "--splits", "2", "--cv", "2",
                 "--workers", "1", "--out", str(tmp_path / "fig"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["store"] == "lr-identification-lr-corpus-id"
    entry = report["classifiers"]["rf"]["all"]
    assert {"accuracy_mean", "accuracy_sem", "confusion", "n_examples", "n_features"} <= set(entry)
    assert entry["n_examples"] == 32 and entry["confusion"]["labels"] == ["fa", "sgdm"]
    assert set(report["holdouts"]["rf"]) == {"curriculum=b256-d0", "curriculum=b256-d1"}
    assert "subsampling" not in report and "thirds" not in report  # only with --subsample
    assert set(report["noise"]) == {"weights", "activations", "activity_change"}
    assert "fraction=0.5,sigma=5.0" in report["noise"]["activations"]
    assert report["performance_control"]["accuracy_mean"] is not None
    assert sorted(p.split("/")[-1] for p in report["figures"]) == [
        "accuracy.png", "confusion.png", "holdouts.png", "importances.png", "noise_units.png"]
    record = goalstore.history("lr-identification-lr-corpus-id")[0]["provenance"]
    assert "lr-corpus-id-view" in " ".join(record["inputs"])
    assert main(["analyze", "lr-identify", "lr-corpus-id", "--classifier", "knn"]) == 12
    assert "unknown classifier" in capsys.readouterr().err
    assert main(["analyze", "lr-identify", "lr-corpus-id-runs"]) == 12


def _units(n_per=12, seed=0, signal=2.0, weight_signal=None):
    import xarray as xr

    rng = np.random.default_rng(seed)
    y = np.repeat(["fa", "ia"], n_per)
    n, ckpt, stim, width = len(y), 4, 8, 10
    act = rng.standard_normal((n, ckpt, stim, width))
    act[y == "ia"] += signal  # ia layers are more active
    grad = rng.standard_normal((n, ckpt, stim, width))
    act[:, :, :, 8:] = np.nan  # padding beyond each example's 8 units
    variables = {"activations": (("example", "checkpoint", "stimulus", "unit"), act),
                 "input_gradient": (("example", "checkpoint", "stimulus", "unit"), grad),
                 "n_units": ("example", np.full(n, 8)), "n_input_units": ("example", np.full(n, 10))}
    if weight_signal is not None:  # 40 synapses (of 50 columns: padding), ia weights larger
        weights = 0.1 * rng.standard_normal((n, ckpt, 50))
        weights[y == "ia"] *= weight_signal
        weights[:, :, 40:] = np.nan
        variables.update(weights=(("example", "checkpoint", "weight"), weights),
                         n_weights=("example", np.full(n, 40)))
    return xr.Dataset(variables, coords={"learning_rule": ("example", y)})


def test_measured_statistics_without_loss_equal_the_direct_ones():
    units = _units()
    full = measured_statistics(units, 1.0, 0.0, seed=0)
    act = units["activations"].values[..., :8]
    np.testing.assert_allclose(full["activations"][:, 0], np.abs(act).mean(-1).mean(-1))  # abs mean
    np.testing.assert_allclose(full["activations"][:, 5], np.median(act, -1).mean(-1))  # raw median
    change = units["input_gradient"].values.sum(-1) / 8
    np.testing.assert_allclose(full["activity_change"][:, 0], change.mean(-1))
    again = measured_statistics(units, 0.5, 0.3, seed=4)
    repeated = measured_statistics(units, 0.5, 0.3, seed=4)
    np.testing.assert_array_equal(again["activations"], repeated["activations"])
    assert not np.allclose(again["activations"], full["activations"])
    with pytest.raises(ValueError, match="unit fraction"):
        measured_statistics(units, 0.0, 0.1, seed=0)


def test_realism_surface_degrades_with_noise():
    surface = realism_surface(_units(n_per=16), fractions=(1.0,), sigmas=(0.0, 50.0), n_splits=3, cv=2)
    acc = surface.sel(observable_set=0).mean("split").values[0]
    assert acc[0] > 0.9 and acc[1] < acc[0]


def test_forest_grid_points_scored_from_one_fit_equal_separate_fits():
    from sklearn.base import clone

    from goalstore.analyses.lr_identification import (
        _cv_score,
        _cv_scores,
        forest_prefix_predictions,
        grid_groups,
    )

    cube, groups = _corpus(n_per=24, planted=0.4, seed=3)
    x = features(cube, list(FINITE_24), groups["layer_position"].to_numpy())
    y = groups["learning_rule"].to_numpy()
    estimator, grid = classifier_grid("rf", False, 21)
    grid = [p for p in grid if p["n_estimators"] <= 100]
    assert sorted(map(sorted, grid_groups(estimator, grid))) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    train, valid = np.arange(0, 96, 4), np.setdiff1d(np.arange(96), np.arange(0, 96, 4))
    for members in grid_groups(estimator, grid):
        together = _cv_scores(x, y, train, valid, estimator, [grid[g] for g in members])
        apart = [_cv_score(x, y, train, valid, estimator, grid[g]) for g in members]
        assert together == apart
    big = clone(estimator).set_params(n_estimators=50).fit(x[train], y[train])
    small = clone(estimator).set_params(n_estimators=20).fit(x[train], y[train])
    np.testing.assert_array_equal(forest_prefix_predictions(big, x[valid], [20])[20], small.predict(x[valid]))
    with pytest.raises(ValueError, match="cannot score"):
        forest_prefix_predictions(small, x[valid], [50])
    svm, svm_grid = classifier_grid("svm", True, 21)
    assert grid_groups(svm, svm_grid) == [[g] for g in range(len(svm_grid))]


def test_weights_join_the_measurement_realism_surface():
    """Weight statistics recomputed from a random fraction of synapses plus noise (thesis §6.3.6)."""
    units = _units(weight_signal=3.0)
    full = measured_statistics(units, 1.0, 0.0, seed=0)
    w = units["weights"].values[..., :40]
    assert full["weights"].shape == (24, 13, 4)
    np.testing.assert_allclose(full["weights"][:, 0], np.abs(w).mean(-1))  # abs mean
    np.testing.assert_allclose(full["weights"][:, 4], np.abs(w).var(-1))  # abs var
    np.testing.assert_allclose(full["weights"][:, 7], np.sqrt((w**2).sum(-1)))  # raw norm
    np.testing.assert_allclose(full["weights"][:, 12], np.percentile(w**2, 75, axis=-1))  # square q3
    half = measured_statistics(units, 0.5, 0.0, seed=1)["weights"]
    assert np.isfinite(half).all() and not np.allclose(half, full["weights"])  # 20 of 40 synapses each
    # the same synapses at every checkpoint: with no noise, subsampled |w| never exceeds the layer's max
    assert (half[:, 0] <= np.abs(w).max(-1) + 1e-12).all()
    surface = realism_surface(units, fractions=(1.0, 0.1), sigmas=(0.0, 5.0), n_splits=3, cv=2)
    names = list(surface["observable_set_name"].values)
    assert names == ["weights", "activations", "activity_change"]
    acc = surface.mean("split").values
    assert acc[0, 0, 0] > 0.9  # weights separate the rules without loss
    assert acc[0, 0, 1] < acc[0, 0, 0]  # and degrade under noise far above their scale
    no_weights = realism_surface(_units(), fractions=(1.0,), sigmas=(0.0,), n_splits=3, cv=2)
    assert list(no_weights["observable_set_name"].values) == ["activations", "activity_change"]


def test_relative_noise_is_in_units_of_each_quantitys_spread():
    from goalstore.analyses.lr_identification import _noise_scale

    units = _units(weight_signal=3.0)
    w = units["weights"].values
    assert _noise_scale(w, 0.5, relative=True) == pytest.approx(0.5 * np.nanstd(w))  # one scale for all
    assert _noise_scale(w, 0.5, relative=False) == 0.5
    # absolute noise of 1 swamps weights of s.d. ~0.1-0.3 but not activations of s.d. ~1-2;
    # relative noise of 1 degrades both alike
    absolute = realism_surface(units, (1.0,), (1.0,), n_splits=3, cv=2).mean("split").values[:, 0, 0]
    relative = realism_surface(units, (1.0,), (1.0,), n_splits=3, cv=2, relative=True)
    assert relative.attrs["noise"] == "relative"
    assert relative.mean("split").values[0, 0, 0] > absolute[0]


def test_confused_pairs_count_both_directions():
    from goalstore.analyses.lr_identification import confused_pairs

    matrix = np.array([[10, 3, 0], [1, 12, 0], [0, 5, 7]])
    assert confused_pairs(matrix, ["adam", "fa", "sgdm"]) == {"fa<->sgdm": 5, "adam<->fa": 4,
                                                             "adam<->sgdm": 0}
