"""The virtual-animals generator has the ground truth it claims."""

from __future__ import annotations

import numpy as np

from goalstore.schema import validate
from goalstore.sources.virtual_animals import shared_features, virtual_animals


def test_is_canonical_and_deterministic():
    a = virtual_animals(seed=3)
    validate(a, "recording")
    b = virtual_animals(seed=3)
    np.testing.assert_array_equal(a["response"].values, b["response"].values)
    assert not np.array_equal(a["response"].values, virtual_animals(seed=4)["response"].values)


def test_noise_free_units_are_linear_readouts_of_shared_features():
    ds = virtual_animals(n_animals=2, units_per_animal=5, n_stimuli=30, n_time_bins=1, n_trials=2,
                         n_features=4, noise=0.0, seed=0)
    resp = ds["response"].values[:, :, 0, :]
    np.testing.assert_array_equal(resp[..., 0], resp[..., 1])  # no trial noise
    features = shared_features(30, 4, seed=0)
    coef, *_ = np.linalg.lstsq(features, resp[..., 0], rcond=None)
    np.testing.assert_allclose(features @ coef, resp[..., 0], atol=1e-4)


def test_trial_noise_has_requested_scale():
    noisy = virtual_animals(n_trials=200, noise=2.0, seed=0)["response"].values
    assert abs(noisy.std(axis=-1).mean() - 2.0) < 0.1
