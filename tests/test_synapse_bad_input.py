"""Bad input to the synapse-dynamics analysis gets a clear error naming the problem."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from goalstore.analyses.synapse_dynamics import synapse_dynamics
from goalstore.errors import AnalysisInputError


def _weights() -> np.ndarray:
    present = np.random.default_rng(1).random((50, 5)) > 0.2
    return np.random.default_rng(0).gamma(2.0, 1.0, (50, 5)) * present


def _set(w: np.ndarray, flat_index: int, value: float) -> np.ndarray:
    return np.where(np.arange(w.size).reshape(w.shape) == flat_index, value, w)


@pytest.mark.parametrize("mutate,message", [
    (lambda w: _set(w, 7, -0.5), "negative weights.*row 1, session 2"),
    (lambda w: _set(w, 12, np.nan), "NaN weights in 1 synapses"),
    (lambda w: w[:, :1], "only 1 session"),
    (lambda w: w[:0], "no synapses"),
    (lambda w: np.zeros_like(w), "every weight is 0"),
    (lambda w: [list(w[0]), list(w[1][:3])], "ragged"),
    (lambda w: w[None], "expected synapse × session"),
    (lambda w: _set(w, 3, np.inf), "infinite"),
])
def test_bad_weights(mutate, message):
    with pytest.raises(AnalysisInputError, match=message):
        synapse_dynamics(mutate(_weights()))


def test_wrong_dims_and_missing_variable():
    da = xr.DataArray(_weights(), dims=("unit", "session"))
    with pytest.raises(AnalysisInputError, match="dims"):
        synapse_dynamics(da)
    with pytest.raises(AnalysisInputError, match="no 'weight' variable"):
        synapse_dynamics(xr.Dataset({"w": da}))


def test_unknown_cell_type(home):
    import goalstore
    with pytest.raises(AnalysisInputError, match=r"cell type 'interneuron'.*pyr, pv or all"):
        goalstore.build("synapse-dynamics", cell_types="interneuron")
