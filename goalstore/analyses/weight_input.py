"""Checked access to synapse × session weight matrices for the dynamics analyses."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError


def weight_matrix(weights: Any, label: str = "weights") -> np.ndarray:
    """A float ``synapse × session`` array from a Dataset (var ``weight``), DataArray or array.

    Refuses, naming the problem: ragged input, an empty matrix (e.g. a cell type
    with no synapses), a single session (no change can be measured), NaN (a
    session not imaged for some synapse) and negative or infinite weights.
    """
    if isinstance(weights, xr.Dataset):
        if "weight" not in weights:
            raise AnalysisInputError(f"{label}: dataset has no 'weight' variable")
        weights = weights["weight"]
    if isinstance(weights, xr.DataArray):
        if set(weights.dims) != {"synapse", "session"}:
            raise AnalysisInputError(f"{label}: dims {weights.dims}; expected ('synapse', 'session')")
        weights = weights.transpose("synapse", "session").values
    try:
        array = np.asarray(weights, dtype=float)
    except ValueError:
        raise AnalysisInputError(f"{label}: ragged input (synapses have different numbers of "
                                 "sessions); pad with NaN and select sessions imaged for all") from None
    if array.ndim != 2:
        raise AnalysisInputError(f"{label}: shape {array.shape}; expected synapse × session (2-D)")
    if array.shape[0] == 0:
        raise AnalysisInputError(f"{label}: no synapses (empty cell type?)")
    if array.shape[1] < 2:
        raise AnalysisInputError(f"{label}: only {array.shape[1]} session; weight dynamics need at "
                                 "least two sessions")
    missing = np.isnan(array)
    if missing.any():
        rows = np.flatnonzero(missing.any(axis=1))
        raise AnalysisInputError(f"{label}: NaN weights in {rows.size} synapses (first: row {rows[0]}, "
                                 f"session {np.flatnonzero(missing[rows[0]])[0]}); sessions must be "
                                 "imaged for every synapse (ragged data?)")
    if not np.isfinite(array).all():
        raise AnalysisInputError(f"{label}: infinite weights")
    if (array < 0).any():
        row, col = np.argwhere(array < 0)[0]
        raise AnalysisInputError(f"{label}: {int((array < 0).sum())} negative weights (first: row {row}, "
                                 f"session {col}, value {array[row, col]:.4g}); weights are >= 0, "
                                 "0 = synapse absent")
    if not (array > 0).any():
        raise AnalysisInputError(f"{label}: every weight is 0 (no synapse present on any day)")
    return array
