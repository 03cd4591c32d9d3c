"""Rate maps, grid and border scores: known answers on synthetic maps, per-cell = vectorised on the
real Gerlei MEC maps, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from goalstore.analyses.spatial import (
    border_scores,
    grid_scores,
    rate_maps_from_activations,
    rate_maps_from_spikes,
    spatial_scores,
    summary,
)
from goalstore.errors import AnalysisInputError
from goalstore.schema import validate
from goalstore.sources.rate_maps import load_gerlei_firing_maps, synthetic_rate_maps

GERLEI = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "mec" / "gerlei_open_field" / "firing_maps.npz"
)


def test_known_answers_on_synthetic_maps():
    ds = synthetic_rate_maps(seed=0)
    validate(ds, "recording")
    out = spatial_scores(ds)
    kind = ds["cell_type"].values
    assert np.all(out["grid_score"].values[kind == "grid"] > 1.0)
    assert np.all(out["grid_score"].values[kind != "grid"] < 0.3)
    assert np.all(out["border_score"].values[kind == "border"] > 0.7)
    assert np.all(out["border_score"].values[kind == "grid"] < 0.5)
    assert out["is_grid_cell"].values.tolist() == (kind == "grid").tolist()
    s = summary(out)
    assert s["n_grid_cells"] == 4 and set(s["cells"]["virtual-mouse_grid00"]) == {"grid_score", "border_score"}


def test_rate_maps_from_spikes_and_activations():
    rng = np.random.default_rng(0)
    positions = rng.uniform(0, 100, (20000, 2))
    field = np.exp(-((positions - 50) ** 2).sum(1) / (2 * 10**2))  # a place field at the centre
    spikes = rng.poisson(np.stack([field * 0.5, np.full(len(field), 0.1)], axis=1))
    maps = rate_maps_from_spikes(positions, spikes, dt=0.02, box_size=(100, 100), bin_size=5, sigma_bins=0)
    assert maps.shape == (2, 20, 20)
    weights = np.nan_to_num(maps[0])
    centre = [(weights.sum(axis=1 - a) * np.arange(20)).sum() / weights.sum() for a in (0, 1)]
    np.testing.assert_allclose(centre, 9.5, atol=0.5)  # the field's centre of mass is the arena's centre
    np.testing.assert_allclose(np.nanmean(maps[1]), 0.1 / 0.02, rtol=0.05)  # 5 Hz everywhere
    smooth = rate_maps_from_spikes(positions, spikes, 0.02, (100, 100))
    assert np.nanstd(smooth[1]) < np.nanstd(maps[1])
    act = rate_maps_from_activations(
        positions, np.stack([positions[:, 0], np.ones(len(positions))], 1), (100, 100)
    )
    np.testing.assert_allclose(act[0].mean(axis=1), (np.arange(20) + 0.5) * 5, atol=0.5)
    assert np.all(act[1] == 1.0)


def test_vectorised_scores_equal_per_cell_scores_on_real_mec_maps():
    if not GERLEI.is_file():
        pytest.skip("../shared/data/mec/gerlei_open_field not present")
    ds = load_gerlei_firing_maps(GERLEI)
    validate(ds, "recording")
    maps = ds["rate"].values
    together = grid_scores(maps)[0]
    apart = np.array([grid_scores(maps[[i]])[0][0] for i in range(len(maps))])
    np.testing.assert_allclose(together, apart, atol=1e-9)
    np.testing.assert_allclose(
        border_scores(maps), [border_scores(maps[[i]])[0] for i in range(len(maps))], atol=1e-9
    )
    out = spatial_scores(ds)
    assert np.isfinite(out["grid_score"]).all() and int(out["is_grid_cell"].sum()) >= 3  # MEC grid cells
    rotated = grid_scores(np.rot90(maps, axes=(1, 2)).copy())[0]  # a grid score ignores the map's orientation
    np.testing.assert_allclose(rotated, together, atol=0.1)


def test_spatial_bad_input(tmp_path):
    ds = synthetic_rate_maps()
    with pytest.raises(AnalysisInputError, match="dim 'x'"):
        spatial_scores(ds["rate"].rename(x="position"))
    bad = ds.copy(deep=True)
    bad["rate"][2] = np.nan
    with pytest.raises(AnalysisInputError, match="grid02"):
        spatial_scores(bad)
    with pytest.raises(AnalysisInputError, match="positions"):
        rate_maps_from_spikes(np.zeros((5, 3)), np.zeros((5, 1)), 0.02, (100, 100))
    with pytest.raises(AnalysisInputError, match="no such file"):
        load_gerlei_firing_maps(tmp_path / "missing.npz")
