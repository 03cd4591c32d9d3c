"""Split-half reliability, mappings, inter-animal consistency and model predictivity: known answers on
virtual animals, equivalence with the loop reference (1e-9) for every mapping class, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from reference_consistency import reference_consistency, reference_predictivity
from sklearn.linear_model import Ridge

from goalstore.analyses.consistency import corrected_scores, inter_animal_consistency, model_predictivity
from goalstore.analyses.mappings import (
    ElasticNetMapping,
    LassoMapping,
    OneToOneMapping,
    PLSMapping,
    RidgeMapping,
    fit_predict,
    make_mapping,
)
from goalstore.analyses.reliability import spearman_brown, split_half_reliability, split_half_weights
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
from goalstore.errors import AnalysisInputError
from goalstore.schema import validate
from goalstore.sources.virtual_animals import virtual_animals, virtual_model


def _identical_animals(n_stimuli=120, units=12, trials=8, noise=0.5, seed=0):
    """Two animals with the same units' signals and independent trial noise."""
    one = virtual_animals(
        n_animals=1,
        units_per_animal=units,
        n_stimuli=n_stimuli,
        n_time_bins=1,
        n_trials=trials,
        noise=0.0,
        areas=("IT",),
        seed=seed,
    )
    rng = np.random.default_rng(seed + 10)
    signal = one["response"].values
    two = xr.concat([one, one], dim="unit")
    two["response"].values = np.concatenate([signal, signal], axis=1) + noise * rng.standard_normal(
        (n_stimuli, 2 * units, 1, trials)
    )
    return two.assign_coords(
        unit_id=("unit", [f"u{i}" for i in range(2 * units)]), animal=("unit", np.repeat(["a", "b"], units))
    )


# ------------------------------------------------------------------ reliability
def test_split_half_weights_are_disjoint_equal_halves_and_seeded():
    w1, w2 = split_half_weights(9, 50, seed=3)
    assert ((w1 > 0) & (w2 > 0)).sum() == 0
    assert np.all((w1 > 0).sum(1) == 4) and np.all((w2 > 0).sum(1) == 4)
    np.testing.assert_allclose(w1.sum(1), 1.0)
    np.testing.assert_array_equal(w1, split_half_weights(9, 50, seed=3)[0])


def test_split_half_reliability_matches_the_known_signal_to_noise_ratio():
    # signal variance ~1, noise variance 1 per trial, 20 trials: half means have noise var 0.1,
    # so Corr(B1, B2) = 1/1.1 and the Spearman-Brown reliability is 2·(1/1.1)/(1 + 1/1.1)
    ds = virtual_animals(
        n_animals=1, units_per_animal=40, n_stimuli=400, n_time_bins=1, n_trials=20, noise=1.0, n_features=400
    )
    signal_var = ds["response"].mean("trial").var("stimulus") - 1.0 / 20
    r = signal_var / (signal_var + 0.1)
    reliability = split_half_reliability(ds["response"], n_draws=20).mean("bootstrap").squeeze()
    np.testing.assert_allclose(reliability, spearman_brown(r).squeeze(), atol=0.05)


def test_split_half_reliability_is_lazy_and_equal_on_dask():
    ds = virtual_animals(n_animals=2, units_per_animal=8, n_stimuli=30, n_trials=6)
    eager = split_half_reliability(ds["response"], n_draws=5, seed=1)
    lazy = split_half_reliability(ds["response"].chunk({"unit": 4}), n_draws=5, seed=1)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.compute(), eager, atol=1e-12)


def test_reliability_bad_input():
    ds = virtual_animals(n_trials=1)
    with pytest.raises(AnalysisInputError, match="too few for split halves"):
        split_half_reliability(ds["response"])
    ds = virtual_animals()
    ds["response"][0, 3, 0, 0] = np.nan
    with pytest.raises(AnalysisInputError, match="animal0_u003"):
        split_half_reliability(ds["response"])


# -------------------------------------------------------------------- mappings
def test_ridge_mapping_equals_scikit_learn_ridge_single_and_batched():
    rng = np.random.default_rng(0)
    x, y, xt = rng.standard_normal((30, 8)), rng.standard_normal((30, 5)), rng.standard_normal((10, 8))
    expected = Ridge(alpha=2.0).fit(x, y).predict(xt)
    np.testing.assert_allclose(RidgeMapping(alpha=2.0).fit(x, y).predict(xt), expected, atol=1e-10)
    batch = fit_predict(RidgeMapping(alpha=2.0), np.stack([x, 2 * x]), np.stack([y, y]), np.stack([xt, 2 * xt]))
    np.testing.assert_allclose(batch[0], expected, atol=1e-10)
    np.testing.assert_allclose(batch[1], Ridge(alpha=2.0).fit(2 * x, y).predict(2 * xt), atol=1e-10)


def test_one_to_one_copies_the_best_correlated_source_unit():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 6))
    y = np.stack([3 * x[:, 4] + 1, -x[:, 1] + 0.01 * rng.standard_normal(40)], axis=1)
    model = OneToOneMapping().fit(x, y)
    assert model.best_.tolist() == [4, 3] or model.best_[0] == 4
    np.testing.assert_array_equal(model.predict(x)[:, 0], x[:, 4])


def test_lasso_and_elasticnet_choose_parameters_per_unit():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((80, 10))
    y = np.stack([x[:, 0] * 2, rng.standard_normal(80)], axis=1)  # a predictable unit and a pure-noise unit
    model = ElasticNetMapping(alphas=(1e-3, 1.0), l1_ratios=(0.5, 1.0)).fit(x, y)
    assert model.alpha_[0] == 1e-3 and model.alpha_[1] == 1.0  # strong penalty only where nothing is to learn
    assert LassoMapping().fit(x, y).l1_ratio_.tolist() == [1.0, 1.0]
    assert PLSMapping(n_components=25).fit(x, y).model_.n_components == 10  # capped at the features


def test_make_mapping_by_name_and_unknown_names():
    assert isinstance(make_mapping("one-to-one"), OneToOneMapping)
    assert make_mapping("ridge", alpha=3.0).alpha == 3.0
    custom = Ridge()
    assert make_mapping(custom) is custom
    with pytest.raises(AnalysisInputError, match=r"unknown.*ridge"):
        make_mapping("rige")


def test_stimulus_splits_stratify_and_seed():
    categories = np.repeat(["a", "b", "c", "d"], 8)
    train, test = stimulus_splits(32, SplitScheme(5, 0.75, "category", seed=1), categories)
    assert train.shape == (5, 24) and test.shape == (5, 8)
    for row in train:
        assert np.all(np.bincount(np.unique(categories[row], return_inverse=True)[1]) == 6)
    np.testing.assert_array_equal(train, stimulus_splits(32, SplitScheme(5, 0.75, seed=1), categories)[0])


# ------------------------------------------------------------- known answers
def test_identical_animals_are_consistent_and_unrelated_ones_are_not():
    same = inter_animal_consistency(_identical_animals(), "ridge", n_draws=4, scheme=SplitScheme(4, 0.5))
    assert abs(float(same["consistency_median"].squeeze()) - 1.0) < 0.1
    unrelated = virtual_animals(
        n_animals=3, units_per_animal=12, n_stimuli=120, n_time_bins=1, n_trials=8, shared=0.0, areas=("IT",)
    )
    none = inter_animal_consistency(unrelated, "ridge", n_draws=4, scheme=SplitScheme(4, 0.5))
    assert abs(float(none["consistency_median"].squeeze())) < 0.1
    one = inter_animal_consistency(_identical_animals(), "one_to_one", n_draws=4, scheme=SplitScheme(4, 0.5))
    assert abs(float(one["consistency_median"].squeeze()) - 1.0) < 0.1


def test_consistency_tracks_the_generators_ground_truth():
    ds = virtual_animals(
        n_animals=2,
        units_per_animal=30,
        n_stimuli=1000,
        n_time_bins=1,
        n_trials=4,
        n_features=6,
        noise=0.3,
        shared=0.3,
        areas=("IT",),
    )
    out = inter_animal_consistency(ds, "ridge", n_draws=3, scheme=SplitScheme(2, 0.5))
    truth = ds["ground_truth_consistency"].values
    estimate = out["consistency"].values[:, 0]
    assert np.corrcoef(estimate, truth)[0, 1] > 0.9 and np.abs(estimate - truth).mean() < 0.08


def test_a_model_equal_to_the_shared_features_scores_at_the_ceiling():
    ds = virtual_animals(
        n_animals=2,
        units_per_animal=20,
        n_stimuli=200,
        n_time_bins=2,
        n_trials=8,
        n_features=8,
        noise=1.0,
        seed=4,
    )
    model = virtual_model(n_stimuli=200, n_features=8, similarity=(0.0, 1.0), seed=4)
    out = model_predictivity(ds, model, "ridge", n_draws=4, scheme=SplitScheme(3, 0.5))
    validate(
        out.assign_attrs(
            kind="result",
            species="virtual",
            modality="analysis",
            source="test",
            license="CC0-1.0",
            citation="none",
            schema_version="1",
        ),
        "result",
    )
    best = out["predictivity_median"].sel(layer=1)
    assert float(best.min()) > 0.9 and float(out["predictivity_median"].sel(layer=0).max()) < 0.15
    assert out.attrs["best_layers"] == ["layer1", "layer1"]
    ceiling = inter_animal_consistency(ds, "ridge", pooled=True, n_draws=4, scheme=SplitScheme(3, 0.5))
    # the noise-free shared features predict at least as well as another (noisy) animal does
    assert float((best - ceiling["consistency_median"]).min()) > -0.05


def test_no_repeated_trials_gives_the_plain_test_correlation():
    ds = virtual_animals(
        n_animals=2, units_per_animal=6, n_stimuli=60, n_time_bins=1, n_trials=1, areas=("IT",)
    )
    out = inter_animal_consistency(ds, "ridge", scheme=SplitScheme(2, 0.5))
    values = ds["response"].values[:, :, :, 0]
    train, test = stimulus_splits(60, SplitScheme(2, 0.5))
    direct = []
    for tr, te in zip(train, test, strict=True):
        pred = Ridge(alpha=1.0).fit(values[tr, 6:, 0], values[tr, :6, 0]).predict(values[te, 6:, 0])
        direct.append([np.corrcoef(pred[:, j], values[te, j, 0])[0, 1] for j in range(6)])
    np.testing.assert_allclose(out["consistency"].values[:6, 0], np.mean(direct, axis=0), atol=1e-9)
    assert out.attrs["repeated_trials"] == 0 and "internal_consistency" not in out


# -------------------------------------------------------------- equivalence
MAPPINGS = [
    RidgeMapping(alpha=0.5),
    OneToOneMapping(),
    PLSMapping(n_components=3),
    LassoMapping(alphas=(0.01, 0.1)),
    ElasticNetMapping(alphas=(0.01, 0.1), l1_ratios=(0.5, 1.0)),
]


@pytest.mark.parametrize("mapping", MAPPINGS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("temporal", ["per_bin", "fixed"])
def test_vectorised_consistency_equals_the_loop_reference(mapping, temporal):
    ds = virtual_animals(
        n_animals=3,
        units_per_animal=4,
        n_stimuli=24,
        n_time_bins=2,
        n_trials=4,
        n_features=3,
        noise=0.5,
        seed=5,
    )
    scheme = SplitScheme(2, 0.5, seed=2)
    values = ds["response"].values.astype(float)
    animals, areas = ds["animal"].values.astype(str), ds["area"].values.astype(str)
    for pooled in (False, True):
        fast = inter_animal_consistency(
            ds, mapping, pooled=pooled, n_draws=2, seed=7, scheme=scheme, temporal=temporal
        )
        slow = reference_consistency(values, animals, areas, mapping, scheme, 2, 7, temporal, pooled)
        np.testing.assert_allclose(fast["consistency"].values, slow, atol=1e-9, rtol=0)
    model = virtual_model(n_stimuli=24, n_features=3, similarity=(0.5,), units_per_layer=5, seed=5)
    fast = model_predictivity(ds, model, mapping, n_draws=2, seed=7, scheme=scheme, temporal=temporal)
    x = np.repeat(model["activation"].values[:, :, None].astype(float), 2, axis=2)
    slow = reference_predictivity(values, x, mapping, scheme, 2, 7, temporal)
    np.testing.assert_allclose(fast["predictivity"].values[0], slow, atol=1e-9, rtol=0)


# ----------------------------------------------------------------- bad input
def test_consistency_bad_input():
    ds = virtual_animals(n_stimuli=30)
    model = virtual_model(n_stimuli=20)
    with pytest.raises(AnalysisInputError, match=r"stimulus_id.*missing from the activations"):
        model_predictivity(ds, model)
    with pytest.raises(AnalysisInputError, match="unknown"):
        inter_animal_consistency(ds, "ridgeway")
    bad = ds.copy(deep=True)
    bad["response"][2, 5, 0, 1] = np.nan
    with pytest.raises(AnalysisInputError, match="animal0_u005"):
        inter_animal_consistency(bad)
    with pytest.raises(AnalysisInputError, match="temporal"):
        corrected_scores(
            (np.zeros((1, 30, 2, 1)), None),
            (np.zeros((1, 30, 2, 1)), None),
            np.array([[0, 1]]),
            np.array([[2, 3, 4]]),
            RidgeMapping(),
            "sometimes",
        )
    with pytest.raises(AnalysisInputError, match="need at least 2 and 3"):
        inter_animal_consistency(ds, scheme=SplitScheme(2, 0.95))


def test_lazy_recordings_are_read_in_unit_blocks_with_identical_results(monkeypatch):
    import goalstore.analyses.consistency as consistency

    ds = virtual_animals(n_animals=3, units_per_animal=10, n_stimuli=30, n_time_bins=2, n_trials=4, seed=8)
    model = virtual_model(n_stimuli=30, seed=8)
    eager = inter_animal_consistency(ds, "ridge", n_draws=3, scheme=SplitScheme(2, 0.5))
    eager_pred = model_predictivity(ds, model, "ridge", n_draws=3, scheme=SplitScheme(2, 0.5))
    loaded = []
    original = consistency._load
    monkeypatch.setattr(consistency, "_CHUNK_BYTES", 200_000)  # a few units per block
    monkeypatch.setattr(consistency, "_load", lambda r, u: loaded.append(len(u)) or original(r, u))
    lazy = ds.chunk({"unit": 5})
    np.testing.assert_allclose(
        inter_animal_consistency(lazy, "ridge", n_draws=3, scheme=SplitScheme(2, 0.5))["consistency"],
        eager["consistency"],
        atol=1e-12,
    )
    np.testing.assert_allclose(
        model_predictivity(lazy, model, "ridge", n_draws=3, scheme=SplitScheme(2, 0.5))["predictivity"],
        eager_pred["predictivity"],
        atol=1e-12,
    )
    assert max(loaded) < 30  # never the whole recording at once
