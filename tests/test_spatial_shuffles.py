"""Shuffle test of grid and border scores: known answers (planted grids and wall fields are
significant, random smoothed maps are called grid cells at the nominal 5% rate, not ~25%), the
shuffles keep each map's rate distribution, seeding, spike-train time shifts, the result store,
CLI and API, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

import goalstore
from goalstore.analyses.spatial import GRID_THRESHOLD, grid_scores, spatial_scores, summary
from goalstore.analyses.spatial_shuffles import (
    ShuffleTest,
    map_shuffle_test,
    null_statistics,
    run_shuffle_test,
    spectral_shuffles,
    spike_shuffle_test,
    time_shifts,
)
from goalstore.api import analyze_spatial
from goalstore.cli import main
from goalstore.errors import AnalysisInputError
from goalstore.schema import validate
from goalstore.sources.rate_maps import synthetic_rate_maps


def _random_maps(n: int, seed: int) -> np.ndarray:
    """Smoothed random maps like the demo's random cells (20 × 20 bins, σ = 1 bin)."""
    rng = np.random.default_rng(seed)
    return np.stack([ndimage.gaussian_filter(rng.random((20, 20)), 1.0) * 10 + 0.2 * rng.random((20, 20))
                     for _ in range(n)])


def test_planted_grid_and_wall_cells_are_significant():
    ds = synthetic_rate_maps(seed=0)
    kind = ds["cell_type"].values
    test = map_shuffle_test(ds["rate"].values, n_shuffles=100, seed=0)
    assert test.grid_null.shape == (100, 12)
    np.testing.assert_allclose(test.grid_p[kind == "grid"], 1 / 101)  # no shuffle reaches a planted grid
    assert test.is_grid_cell.tolist() == (kind == "grid").tolist()
    np.testing.assert_allclose(test.border_p[kind == "border"], 1 / 101)
    assert test.is_border_cell.tolist() == (kind == "border").tolist()
    # a shuffled grid is no grid: its 95th percentile lies far below the planted score
    assert np.all(test.grid_threshold[kind == "grid"] < 0.8) and np.all(test.grid_score[kind == "grid"] > 1.0)


def test_random_maps_are_grid_cells_at_the_nominal_rate_not_a_quarter():
    maps = _random_maps(120, seed=11)
    test = map_shuffle_test(maps, n_shuffles=40, seed=1)
    by_threshold = np.mean(test.grid_score > GRID_THRESHOLD)
    by_shuffle = np.mean(test.is_grid_cell)
    assert by_threshold > 0.15  # the fixed threshold's known false-positive rate (about a quarter)
    assert by_shuffle <= 0.10  # the shuffle test's: nominal 5% (binomial s.e. 2% on 120 maps)
    assert np.mean(test.grid_p <= 0.05) <= 0.10
    assert 0.35 < np.nanmean(test.grid_p) < 0.65  # p-values of null maps are about uniform


def test_spectral_shuffles_keep_rates_and_visits_and_break_the_grid():
    ds = synthetic_rate_maps(seed=0)
    maps = ds["rate"].values[:4].copy()  # the grid cells
    maps[:, :3, :2] = np.nan  # an unvisited corner
    shuffled = spectral_shuffles(maps, 0, 20, seed=3)
    assert shuffled.shape == (20, 4, 20, 20)
    np.testing.assert_array_equal(np.isnan(shuffled), np.broadcast_to(np.isnan(maps), shuffled.shape))
    np.testing.assert_array_equal(np.sort(shuffled.reshape(20, 4, -1), axis=-1),
                                  np.broadcast_to(np.sort(maps.reshape(4, -1), axis=-1), (20, 4, 400)))
    # a whole-map circular shift (and rotation) is no null: the grids stay grids (only the seam
    # lowers the score), while the spectral shuffles are not grids
    rolled = np.roll(ds["rate"].values[:4], (7, 3), axis=(1, 2))
    assert np.all(grid_scores(rolled)[0] > 0.5)
    assert np.all(grid_scores(np.rot90(rolled, axes=(1, 2)).copy())[0] > 0.5)
    assert np.median(grid_scores(shuffled.reshape(-1, 20, 20))[0]) < 0.2


def test_shuffles_are_seeded_and_independent_of_chunking():
    maps = _random_maps(3, seed=0)
    whole = spectral_shuffles(maps, 0, 10, seed=5)
    np.testing.assert_array_equal(whole, np.concatenate([spectral_shuffles(maps, 0, 4, 5),
                                                         spectral_shuffles(maps, 4, 10, 5)]))
    assert not np.allclose(whole, spectral_shuffles(maps, 0, 10, seed=6))

    def shuffled(start, stop):
        return spectral_shuffles(maps, start, stop, 5)

    one = run_shuffle_test(maps, shuffled, 10, chunk=1)
    all_ = run_shuffle_test(maps, shuffled, 10, chunk=10)
    np.testing.assert_array_equal(one.grid_null, all_.grid_null)
    np.testing.assert_array_equal(one.border_p, all_.border_p)


def test_null_statistics_known_answer():
    null = np.arange(100, dtype=float)[:, None] * np.ones((1, 3))  # scores 0 … 99
    null[:10, 2] = np.nan  # no annulus: counts as below every score
    threshold, p = null_statistics(np.array([97.5, 200.0, np.nan]), null)
    np.testing.assert_allclose(threshold[:2], 95.0)  # the order statistic at or above the 95th percentile
    np.testing.assert_allclose(p[:2], [(1 + 2) / 101, 1 / 101])
    assert np.isnan(p[2])
    mostly_nan = np.full((100, 1), np.nan)
    mostly_nan[0] = 0.9
    threshold, p = null_statistics(np.array([0.5]), mostly_nan)
    assert np.isnan(threshold[0]) and p[0] == pytest.approx(2 / 101)
    test = ShuffleTest(*(np.array([v]) for v in (0.5, np.nan, np.nan, np.nan, threshold[0], p[0], 0.1, 1.0)))
    assert test.is_grid_cell.tolist() == [True] and test.is_border_cell.tolist() == [False]  # NaN border score


def _trajectory(n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 2.0, (n_samples, 2))
    walk = np.cumsum(steps, axis=0)
    return np.abs((walk + 50) % 200 - 100)  # a random walk reflected into the 100 cm box


def test_spike_train_shuffle_against_the_trajectory():
    dt, n_samples = 0.02, 30000  # 10 minutes at 50 Hz
    positions = _trajectory(n_samples, seed=0)
    k = 4 * np.pi / (np.sqrt(3) * 40)  # a 40 cm grid
    grid = sum(np.cos(k * (positions[:, 0] * np.cos(a) + positions[:, 1] * np.sin(a)))
               for a in (0.2, 0.2 + np.pi / 3, 0.2 + 2 * np.pi / 3))
    rates = np.stack([np.maximum(grid, 0) * 10, np.full(n_samples, 3.0)], axis=1)
    spikes = np.random.default_rng(1).poisson(rates * dt)
    test = spike_shuffle_test(positions, spikes, dt, (100, 100), n_shuffles=50, seed=0)
    assert test.grid_p[0] == pytest.approx(1 / 51) and test.is_grid_cell.tolist() == [True, False]
    assert test.grid_p[1] > 0.05  # a cell that fires everywhere
    shifts = time_shifts(n_samples, dt, 2, 0, 50, seed=0)
    assert shifts.shape == (50, 2) and shifts.min() >= 1000 and shifts.max() <= n_samples - 1000  # ≥ 20 s


def test_result_store_summary_and_schema():
    ds = synthetic_rate_maps(seed=0)
    ds.attrs["kind"] = "recording"
    out = spatial_scores(ds, n_shuffles=20, seed=0)
    out.attrs.update({k: ds.attrs[k] for k in ("species", "modality", "source", "license", "citation",
                                               "schema_version")})
    out.attrs["kind"] = "result"
    validate(out, "result")
    assert out.attrs["n_shuffles"] == 20
    s = summary(out)
    assert set(s["cells"]["virtual-mouse_grid00"]) == {"grid_score", "border_score", "grid_threshold", "grid_p",
                                                       "border_threshold", "border_p"}
    assert s["n_grid_cells_shuffle"] == 4 and s["n_border_cells_shuffle"] == 4
    assert "grid_p" not in spatial_scores(ds).data_vars  # n_shuffles = 0: thresholds only


def test_analyze_spatial_shuffles_cli(home, tmp_path, capsys, write_demo):
    write_demo("demo-rate-maps")
    assert main(["analyze", "spatial", "demo-rate-maps", "--shuffles", "20", "--seed", "2", "--json",
                 "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (tmp_path / "spatial_shuffles.png").is_file()
    cell = report["cells"]["virtual-mouse_grid00"]
    assert cell["grid_p"] == pytest.approx(1 / 21) and cell["grid_threshold"] < cell["grid_score"]
    assert report["n_shuffles"] == 20 and report["n_grid_cells_shuffle"] == 4
    stored = goalstore.open("spatial-scores-demo-rate-maps")
    assert stored.attrs["n_shuffles"] == 20 and stored.attrs["shuffle_seed"] == 2
    assert '"n_shuffles": 20' in goalstore.history("spatial-scores-demo-rate-maps")[-1]["provenance"]["cmd"]


def test_analyze_spatial_api_without_shuffles_keeps_the_thresholds_only(home, write_demo):
    write_demo("demo-rate-maps")
    report = analyze_spatial("demo-rate-maps", n_shuffles=0)
    assert report["n_shuffles"] == 0 and "grid_p" not in report["cells"]["virtual-mouse_grid00"]
    assert report["n_grid_cells"] == 4


def test_shuffle_bad_input(home, capsys):
    maps = _random_maps(2, seed=0)
    for bad in (0, -3, 2.5, True, None, "many"):
        with pytest.raises(AnalysisInputError, match="n_shuffles"):
            map_shuffle_test(maps, n_shuffles=bad)
    with pytest.raises(AnalysisInputError, match="n_shuffles"):
        spatial_scores(synthetic_rate_maps(), n_shuffles=-1)
    with pytest.raises(AnalysisInputError, match="too short"):
        spike_shuffle_test(np.full((1000, 2), 50.0), np.ones((1000, 1)), 0.02, (100, 100), n_shuffles=5)
    with pytest.raises(AnalysisInputError, match="positive"):
        spike_shuffle_test(np.full((1000, 2), 50.0), np.ones((1000, 1)), 0.0, (100, 100), n_shuffles=5)
    with pytest.raises(AnalysisInputError, match="n_shuffles"):
        analyze_spatial("demo-rate-maps", n_shuffles=-2)
    assert main(["analyze", "spatial", "demo-rate-maps", "--shuffles", "-1"]) == 12  # refused before building
    err = capsys.readouterr().err
    assert "n_shuffles" in err and len(err.strip().splitlines()) == 1
