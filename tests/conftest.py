"""Shared fixtures: temporary store roots and small canonical datasets."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from goalstore.sources.virtual_animals import virtual_animals


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh, empty store root location (created on first use), set as $GOALSTORE_HOME."""
    path = tmp_path / "store"
    monkeypatch.setenv("GOALSTORE_HOME", str(path))
    return path


@pytest.fixture
def recording() -> xr.Dataset:
    """A small valid canonical recording."""
    return virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=6, n_time_bins=2, n_trials=3,
                           n_features=3, seed=1)


def big_recording(seed: int = 0, n_stimuli: int = 64) -> xr.Dataset:
    """A recording whose data chunk exceeds the annex threshold (so it is annexed)."""
    ds = virtual_animals(n_animals=2, units_per_animal=32, n_stimuli=n_stimuli, n_time_bins=2,
                         n_trials=4, n_features=4, seed=seed)
    ds["response"] = ds["response"].astype(np.float64)
    return ds


@pytest.fixture(autouse=True)
def _never_touch_the_users_store(tmp_path_factory, monkeypatch):
    """Point $GOALSTORE_HOME at a throw-away path unless a test sets its own."""
    monkeypatch.setenv("GOALSTORE_HOME", str(tmp_path_factory.mktemp("default-home") / "store"))
