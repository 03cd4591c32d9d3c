"""Object solution times: exact interpolation, I1 on separable data, and OST consistency of a noisy
copy of a population with planted per-image solution times."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from goalstore.analyses.ost import i1_from_probabilities, object_solution_times, ost_analysis, ost_consistency
from goalstore.errors import AnalysisInputError


def test_object_solution_times_interpolate_between_bins():
    i1 = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        object_solution_times(i1, np.array([1.5, 1.0, 1.0]), np.array([70, 80, 90])), [85.0, 70.0, np.nan]
    )
    rho, n = ost_consistency(np.array([1.0, 2, 3, np.nan, 5]), np.array([2.0, 4, 6, 1, np.nan]))
    assert rho == pytest.approx(1.0) and n == 3


def test_i1_is_normalised_and_clipped():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[1.0, 0.0], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    i1 = i1_from_probabilities(probabilities, labels)
    np.testing.assert_allclose([i1[:2].sum(), i1[2:].sum()], 0.0, atol=1e-12)  # object means removed
    assert i1[0] > i1[1] and i1[2] > i1[3] and np.all(np.abs(i1) <= 10)


def _population(onsets, seed, noise=0.3, amp=1.0):
    """Images whose object signal ramps up over two bins from a planted onset bin (onsets balanced
    across objects), plus independent noise per population."""
    rng = np.random.default_rng(seed)
    n_images, n_bins, n_units = len(onsets), 10, 30
    labels = np.arange(n_images) % 4
    prototypes = np.random.default_rng(99).standard_normal((4, n_units)) * amp
    signal = np.clip((np.arange(n_bins)[None, :] - onsets[:, None]) / 2, 0, 1)
    x = signal[:, None, :] * prototypes[labels][:, :, None] + noise * rng.standard_normal(
        (n_images, n_units, n_bins)
    )
    start = 70.0 + 10 * np.arange(n_bins)
    coords = {
        "stimulus_id": ("stimulus", [f"im{i}" for i in range(n_images)]),
        "time_bin_start": ("time_bin", start),
        "time_bin_end": ("time_bin", start + 10),
    }
    return xr.DataArray(x, dims=("stimulus", "unit", "time_bin"), coords=coords), labels


def test_ost_consistency_recovers_planted_solution_times():
    rng = np.random.default_rng(0)
    onsets = np.stack([rng.permutation(np.tile(np.arange(7), 3)) for _ in range(4)], axis=1).ravel()
    reference, labels = _population(onsets, 1)
    source, _ = _population(onsets, 2)
    behaviour = np.full(len(onsets), 1.0)
    out = ost_analysis(source, reference, behaviour, labels, n_components=10, n_splits=10)
    solved = np.isfinite(out["ost_reference"].values)
    assert np.corrcoef(out["ost_reference"].values[solved], onsets[solved])[0, 1] > 0.7  # OST follows onset
    assert out.attrs["ost_consistency"] > 0.6 and out.attrs["n_images_solved_by_both"] >= 20
    shuffled = source.copy(data=source.values[rng.permutation(len(onsets))])  # images' identities lost
    control = ost_analysis(shuffled, reference, behaviour, labels, n_components=10, n_splits=10)
    assert not control.attrs["ost_consistency"] > 0.5
    with pytest.raises(AnalysisInputError, match="stimulus_id"):
        ost_analysis(
            source.assign_coords(stimulus_id=("stimulus", [f"x{i}" for i in range(len(onsets))])),
            reference,
            behaviour,
            labels,
        )


def test_bootstrap_ost_consistency_of_constant_osts_is_nan_without_a_warning():
    import warnings

    from goalstore.analyses.ost import bootstrap_ost_consistency

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rho, draws, n = bootstrap_ost_consistency(np.full(6, 70.0), np.arange(6.0), n_boot=5)
    assert n == 6 and np.isnan(rho) and np.isnan(draws).all()
    rho, _, _ = bootstrap_ost_consistency(np.arange(6.0), np.arange(6.0) * 2, n_boot=5)
    assert rho == 1.0
