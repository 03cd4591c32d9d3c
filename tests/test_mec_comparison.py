"""Model ↔ MEC comparisons (goalstore.analyses.mec): known answers on generated maps, the real Gerlei maps
(skipped where absent), bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy.stats import ks_2samp

from goalstore.analyses.mec import common_bins, map_consistency, score_distances
from goalstore.analyses.spatial import spatial_scores
from goalstore.errors import AnalysisInputError
from goalstore.sources.rate_maps import load_gerlei_firing_maps, synthetic_rate_maps

GERLEI = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mec" / "gerlei_open_field" / "firing_maps.npz"
)


def _maps(functions: list, box_cm: float, bin_cm: float, unvisited: float = 0.0, seed: int = 0) -> xr.DataArray:
    """unit × x × y maps of functions of the normalised position (u, v) ∈ [0, 1)², in a box of box_cm."""
    n = round(box_cm / bin_cm)
    centers = (np.arange(n) + 0.5) * bin_cm
    u, v = np.meshgrid(centers / box_cm, centers / box_cm, indexing="ij")
    values = np.stack([f(u, v) for f in functions])
    if unvisited:
        values[:, np.random.default_rng(seed).random((n, n)) < unvisited] = np.nan
    return xr.DataArray(values, dims=("unit", "x", "y"),
                        coords={"unit_id": ("unit", [f"u{i}" for i in range(len(values))]),
                                "x_center": ("x", centers), "y_center": ("y", centers)})


def _basis(k: int, seed: int = 0) -> list:
    """k smooth random functions of (u, v): sums of a few plane waves (grid-like and wall-like mixtures)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        freq, phase = rng.uniform(0.5, 3.0, (3, 2)), rng.uniform(0, 2 * np.pi, 3)
        out.append(lambda u, v, f=freq, p=phase: 1.5 + sum(
            np.cos(2 * np.pi * (f[i, 0] * u + f[i, 1] * v) + p[i]) for i in range(3)) / 2)
    return out


def test_common_bins_agree_across_resolutions_and_box_sizes():
    fs = _basis(3)
    coarse = common_bins(_maps(fs, 100.0, 2.5), 20)  # 40 × 40 source bins of a 1 m box
    fine = common_bins(_maps(fs, 220.0, 2.75), 20)  # 80 × 80 source bins of a 2.2 m box
    assert coarse.shape == fine.shape == (3, 400) and coarse.dtype == np.float64
    np.testing.assert_allclose(coarse, fine, atol=0.03)
    exact = _maps([lambda u, v: u + 0 * v], 100.0, 5.0)  # linear in u: bin means are exact
    np.testing.assert_allclose(common_bins(exact, 10)[0].reshape(10, 10)[:, 0], (np.arange(10) + 0.5) / 10)
    holes = _maps(fs, 100.0, 5.0, unvisited=0.3)  # NaN-aware mean; bins with no visited source are NaN
    res = common_bins(holes, 20)  # one source bin per target bin here
    np.testing.assert_array_equal(np.isnan(res), np.isnan(holes.values.reshape(3, -1)))
    assert np.isnan(common_bins(_maps(fs, 100.0, 10.0), 20)).any()  # coarser source than target: NaN gaps


def test_consistency_known_answers():
    fs = _basis(6, seed=1)
    source = _maps(fs, 220.0, 5.0)
    weights = np.random.default_rng(2).normal(size=(6, 4))
    combo = [lambda u, v, w=w: sum(w[i] * fs[i](u, v) for i in range(6)) for w in weights.T]
    target = _maps(combo, 220.0, 5.0)
    r = map_consistency(source, target, seed=0)
    assert r["score"].dims == ("target_unit", "split") and r["score"].shape == (4, 10)
    assert float(r["median_score"]) > 0.99 and np.all(r["unit_score"].values > 0.98)
    assert r.attrs["n_train_bins"] + r.attrs["n_test_bins"] == 400 and r.attrs["n_train_bins"] == 80
    assert list(r["unit_id"].values) == ["u0", "u1", "u2", "u3"]
    # box sizes differ (source 2.2 m at 5 cm, target 1 m at 2.5 cm), same normalised functions
    r_box = map_consistency(source, _maps(combo, 100.0, 2.5), seed=0)
    assert float(r_box["median_score"]) > 0.98
    # independent noise as target: ≈ 0 (bounded)
    noise = target.copy(data=np.random.default_rng(3).normal(size=target.shape))
    r_noise = map_consistency(source, noise, seed=0)
    assert abs(float(r_noise["median_score"])) < 0.15 and np.all(np.abs(r_noise["score"].values) < 0.35)
    # deterministic given the seed; another seed draws other splits
    again = map_consistency(source, noise, seed=0)
    np.testing.assert_array_equal(again["score"].values, r_noise["score"].values)
    assert not np.array_equal(map_consistency(source, noise, seed=1)["score"].values, r_noise["score"].values)
    # one-to-one mapping recovers a target that copies one source unit
    copy = map_consistency(source, source.isel(unit=[2]), mapping="one_to_one")
    assert float(copy["median_score"]) == pytest.approx(1.0)


def test_constant_units():
    fs = _basis(3, seed=4)
    source = _maps([*fs, lambda u, v: 0 * u + 2.0], 100.0, 5.0)  # a constant source unit is harmless
    target = _maps([fs[0], lambda u, v: 0 * u + 1.0], 100.0, 5.0)  # a constant target unit → NaN
    r = map_consistency(source, target)
    assert r["unit_score"].values[0] > 0.99 and np.isnan(r["unit_score"].values[1])
    assert np.isnan(r["score"].values[1]).all() and float(r["median_score"]) > 0.99


def test_consistency_bad_input():
    fs = _basis(2)
    sparse = _maps(fs, 100.0, 5.0, unvisited=0.97)
    with pytest.raises(AnalysisInputError, match="common bins"):
        map_consistency(_maps(fs, 100.0, 5.0), sparse)
    with pytest.raises(AnalysisInputError, match="train_fraction"):
        map_consistency(sparse, sparse, train_fraction=1.5)
    with pytest.raises(AnalysisInputError, match="x_center"):
        common_bins(_maps(fs, 100.0, 5.0).drop_vars("x_center"))
    with pytest.raises(AnalysisInputError, match="mapping"):
        map_consistency(_maps(fs, 100.0, 5.0), _maps(fs, 100.0, 5.0), mapping="nope")


def test_score_distances_known_answers():
    def scores(grid, border=None):
        border = grid if border is None else border
        return xr.Dataset({"grid_score": ("unit", np.asarray(grid, float)),
                           "border_score": ("unit", np.asarray(border, float))})

    a = scores([0.1, 0.5, 0.9, np.nan])
    same = score_distances(a, a)
    assert float(same["ks_grid_score"]) == 0.0 and float(same["ks_grid_score_p"]) == 1.0
    assert int(same["n_model"]) == 4 and int(same["n_model_grid_score"]) == 3
    disjoint = score_distances(a, scores([2.0, 3.0]))
    assert float(disjoint["ks_grid_score"]) == 1.0 and float(disjoint["ks_border_score"]) == 1.0
    x, y = [0.1, 0.4, 0.35, 0.8, 1.2], [0.3, 0.9, 1.0, 1.5]
    hand = score_distances(scores(x), scores(y))
    assert float(hand["ks_grid_score"]) == pytest.approx(0.55)  # largest gap at 0.8: F_x = 4/5, F_y = 1/4
    assert float(hand["ks_grid_score_p"]) == pytest.approx(ks_2samp(x, y).pvalue)
    with pytest.raises(AnalysisInputError, match="data scores: no finite grid_score"):
        score_distances(a, scores([np.nan]))
    with pytest.raises(AnalysisInputError, match="model scores: no variable"):
        score_distances(xr.Dataset(), a)


@pytest.mark.skipif(not GERLEI.is_file(), reason="../shared/data/mec/gerlei_open_field not present")
def test_real_gerlei_maps():
    rate = load_gerlei_firing_maps(GERLEI)["rate"]
    itself = map_consistency(rate, rate)
    assert float(itself["median_score"]) > 0.99
    perm = np.random.default_rng(0).permutation(42 * 42)  # the same spatial shuffle for every cell
    shuffled = rate.copy(data=rate.values.reshape(len(rate), -1)[:, perm].reshape(rate.shape))
    low = map_consistency(rate, shuffled)
    assert abs(float(low["median_score"])) < 0.15
    real = spatial_scores(load_gerlei_firing_maps(GERLEI))
    synthetic = spatial_scores(synthetic_rate_maps(seed=0))
    d = score_distances(synthetic, real)
    by_hand = ks_2samp(synthetic["grid_score"].values, real["grid_score"].values)
    assert 0.0 < float(d["ks_grid_score"]) <= 1.0
    assert float(d["ks_grid_score"]) == pytest.approx(by_hand.statistic)
    assert float(d["ks_grid_score"]) == pytest.approx(11 / 21)  # at 0.3: F_synthetic = 8/12, F_real = 1/7
    assert int(d["n_model"]) == 12 and int(d["n_data"]) == 7
