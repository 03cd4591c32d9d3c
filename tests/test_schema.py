"""Each rule of the canonical schema can fail, with a message naming the culprit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from goalstore.errors import SchemaError
from goalstore.schema import SCHEMA_VERSION, TABLES, validate, validate_table


def test_valid_recording_passes(recording):
    validate(recording, "recording")
    validate(recording)


def _expect(ds, pattern, kind=None):
    with pytest.raises(SchemaError, match=pattern):
        validate(ds, kind)


def test_dataarray_and_other_objects_are_refused(recording):
    _expect(recording["response"], "DataArray")
    _expect({"a": 1}, "dict")


@pytest.mark.parametrize("attr", ["kind", "species", "modality", "source", "license", "citation",
                                  "schema_version"])
def test_each_required_attr(recording, attr):
    del recording.attrs[attr]
    _expect(recording, f"attr '{attr}'")


def test_kind_values(recording):
    recording.attrs["kind"] = "spreadsheet"
    _expect(recording, "attr 'kind'.*one of")
    recording.attrs["kind"] = "recording"
    _expect(recording, "attr 'kind'.*'result'", kind="result")


def test_schema_version(recording):
    recording.attrs["schema_version"] = SCHEMA_VERSION + "9"
    _expect(recording, "schema_version")


def test_unknown_dim(recording):
    _expect(recording.rename_dims(trial="repetition"), "dim 'repetition'.*vocabulary")


@pytest.mark.parametrize("coord,dim", [("stimulus_id", "stimulus"), ("unit_id", "unit"),
                                       ("animal", "unit"), ("area", "unit"),
                                       ("time_bin_start", "time_bin"), ("trial_id", "trial")])
def test_required_coords(recording, coord, dim):
    _expect(recording.drop_vars(coord), f"dim '{dim}'.*'{coord}'")


def test_coord_on_wrong_dim(recording):
    bad = recording.assign_coords(area=("stimulus", ["V4"] * recording.sizes["stimulus"]))
    _expect(bad, "coordinate 'area'.*dims")


def test_duplicate_and_missing_ids(recording):
    ids = recording["unit_id"].values.copy()
    ids[1] = ids[0]
    _expect(recording.assign_coords(unit_id=("unit", ids)), "unit_id.*repeats")
    trials = recording["trial_id"].values.astype(float)
    trials[0] = np.nan
    _expect(recording.assign_coords(trial_id=("trial", trials)), "trial_id.*missing")


def test_units_of_coords(recording):
    recording["time_bin_start"].attrs["units"] = "s"
    _expect(recording, "time_bin_start.*'ms'")


def test_time_bins_must_end_after_start(recording):
    recording = recording.assign_coords(time_bin_end=("time_bin", recording["time_bin_start"].values,
                                                      {"units": "ms"}))
    _expect(recording, "time_bin_end")


def test_multiindex_is_refused(recording):
    stacked = recording.set_index(unit=["animal", "unit_id"])
    with pytest.raises(SchemaError, match="MultiIndex"):
        validate(stacked)


def test_data_variables(recording):
    _expect(recording.drop_vars("response"), "no data variables")
    recording["response"].attrs.pop("units")
    _expect(recording, "variable 'response'.*units")
    recording["response"].attrs["units"] = "a.u."
    recording["label"] = ("stimulus", np.array(["a"] * recording.sizes["stimulus"], dtype=object))
    recording["label"].attrs["units"] = "1"
    _expect(recording, "variable 'label'.*dtype")


def _observables(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "task": "digits", "architecture": "mlp",
        "learning_rule": ["sgdm", "adam", "fa", "ia"][:n], "batch_size": 128, "model_seed": 0,
        "data_seed": 0, "layer": "fc1", "layer_index": 0, "layer_position": "early", "epoch": 5,
        "observable": "weights", "function": "abs", "statistic": "mean", "value": np.arange(n) / n,
    })


def test_table_schema_converts_and_orders():
    frame = _observables()
    table = validate_table(frame[frame.columns[::-1]], "lr_observables")
    assert table.schema == TABLES["lr_observables"].schema


@pytest.mark.parametrize("mutate,pattern", [
    (lambda f: f.drop(columns="epoch"), "column 'epoch': missing"),
    (lambda f: f.assign(extra=1), "column 'extra': not declared"),
    (lambda f: f.assign(value=["x"] * len(f)), "column 'value'"),
    (lambda f: f.assign(run_id=[None] * len(f)), "column 'run_id'.*missing values"),
    (lambda f: f.set_index(["run_id", "layer"]), "MultiIndex"),
])
def test_table_rules(mutate, pattern):
    with pytest.raises(SchemaError, match=pattern):
        validate(mutate(_observables()), "lr_observables")


def test_table_kind_required_and_known():
    with pytest.raises(SchemaError, match="no table kind"):
        validate(_observables())
    with pytest.raises(SchemaError, match="unknown"):
        validate(_observables(), "nonsense")


def test_validation_reads_no_data(recording, tmp_path):
    path = tmp_path / "r.zarr"
    recording.to_zarr(path, zarr_format=2)
    lazy = xr.open_dataset(path, engine="zarr", chunks={})
    validate(lazy, "recording")
    assert lazy["response"].chunks is not None
