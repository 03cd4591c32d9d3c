"""Response preparation shared by the consistency and RSA analyses.

A recording (or model activations) arrives as a ``Dataset`` or ``DataArray`` with
``stimulus`` × ``unit`` [× ``time_bin``] [× ``trial``] dims; :func:`responses_of` picks the
variable and checks the dims, :func:`as_array` lays the values out as a float64 array
(stimulus × unit × time bin [× trial]) with a missing ``time_bin`` as one bin.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from goalstore.errors import AnalysisInputError


def responses_of(data: xr.Dataset | xr.DataArray, variable: str | None) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        names = [variable] if variable else list(data.data_vars)
        if not names or names[0] not in data.data_vars:
            raise AnalysisInputError(
                f"variable {variable!r}: not in the store (has {', '.join(data.data_vars)})"
            )
        data = data[names[0]]
    for dim in ("stimulus", "unit"):
        if dim not in data.dims:
            raise AnalysisInputError(
                f"dim {dim!r}: missing; responses need stimulus × unit [× time_bin] [× trial], got {data.dims}"
            )
    return data


def as_array(da: xr.DataArray) -> np.ndarray:
    """(stimulus × unit × time bin [× trial]) float64 array; a missing time_bin becomes one bin."""
    order = ["stimulus", "unit", "time_bin", "trial"]
    if "time_bin" not in da.dims:
        da = da.expand_dims("time_bin", axis=-1)
    extra = [d for d in da.dims if d not in order]
    if extra:
        raise AnalysisInputError(f"dim {extra[0]!r}: not expected in responses (allowed: {', '.join(order)})")
    return np.asarray(da.transpose(*[d for d in order if d in da.dims]).values, dtype=np.float64)

