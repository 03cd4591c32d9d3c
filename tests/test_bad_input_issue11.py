"""Bad input refused with one SchemaError naming the field (issue 11): store names, variable and
coordinate names, empty dims, string time bins, recipe parameters of the wrong type."""

from __future__ import annotations

import json

import numpy as np
import pytest

import goalstore
from goalstore.cli import main
from goalstore.errors import SchemaError
from goalstore.schema import validate_array


@pytest.mark.parametrize("name, match", [
    ("rec\n", "store name"),          # the whole name must match, a trailing newline too
    ("a" * 251, "251 characters"),
    ("../evil", "store name"),
    ("", "store name"),
])
def test_bad_store_names(home, recording, name, match):
    with pytest.raises(SchemaError, match=match):
        goalstore.write(name, recording)
    assert goalstore.search().query("origin == 'store'").empty


@pytest.mark.parametrize("change, match", [
    (lambda ds: ds.rename({"response": "a/b"}), "variable 'a/b'"),
    (lambda ds: ds.rename({"response": "../../evil"}), "variable '../../evil'"),
    (lambda ds: ds.rename({"response": ""}), "variable ''"),
    (lambda ds: ds.isel(stimulus=slice(0, 0)), "dim 'stimulus': has length 0"),
    (lambda ds: ds.assign_coords(time_bin_start=("time_bin", ds["time_bin_start"].values.astype(str)),
                                 time_bin_end=("time_bin", ds["time_bin_end"].values.astype(str))),
     "coordinate 'time_bin_start': has dtype"),
])
def test_bad_arrays_name_the_field(recording, change, match):
    bad = change(recording)
    for coord in ("time_bin_start", "time_bin_end"):
        bad[coord].attrs["units"] = "ms"
    with pytest.raises(SchemaError, match=match):
        validate_array(bad)


@pytest.mark.parametrize("param, match", [
    ("seed=abc", "parameter 'seed'.*'abc' does not convert to int"),
    ("seed=[1,2]", "parameter 'seed'.*does not convert to int"),
    ("seed=1.5", "parameter 'seed'"),
])
def test_recipe_parameters_of_the_wrong_type(home, capsys, param, match):
    assert main(["build", "demo-recording", "--param", param, "--json"]) == SchemaError.exit_code
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 3
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(match, err)
    assert not (home / "catalog.yaml").exists() or "demo-recording" not in (home / "catalog.yaml").read_text()


def test_recipe_parameters_convert_to_their_defaults_type():
    from goalstore.recipes import as_dict, get_recipe

    def _recipe_params(spec, params):  # the parameters, each of its declared type
        return as_dict(spec.resolve(params))

    spec = get_recipe("lr-identification")
    params = _recipe_params(spec, {"seed": "3", "fast": "true", "n_samples": 3, "fractions": 0.5})
    assert params["seed"] == 3 and params["fast"] is True
    assert params["n_samples"] == "3" and params["fractions"] == "0.5"
    with pytest.raises(SchemaError, match="parameter 'fast'"):
        _recipe_params(spec, {"fast": "maybe"})
    assert np.int64(2) == _recipe_params(spec, {"seed": np.int64(2)})["seed"]


def test_analyses_refuse_instead_of_returning_all_null_results():
    """A single-animal recording, constant responses, all-zero rate maps: exit-12 errors, not NaN."""
    import xarray as xr

    from goalstore.analyses.consistency import inter_animal_consistency
    from goalstore.analyses.spatial import spatial_scores
    from goalstore.errors import AnalysisInputError
    from goalstore.sources.virtual_animals import virtual_animals

    two = virtual_animals(n_animals=2, units_per_animal=4, n_stimuli=12, n_time_bins=1, n_trials=4,
                          n_features=3, seed=1)
    one = two.isel(unit=np.flatnonzero(two["animal"].values == two["animal"].values[0]))
    with pytest.raises(AnalysisInputError, match="no area has units of two animals"):
        inter_animal_consistency(one, n_draws=2)
    constant = two.copy(data={"response": xr.zeros_like(two["response"]).values})
    with pytest.raises(AnalysisInputError, match="no unit has a defined consistency"):
        inter_animal_consistency(constant, n_draws=2)
    assert np.isfinite(inter_animal_consistency(two, n_draws=2)["consistency"]).any()
    maps = xr.Dataset({"rate": (("unit", "x", "y"), np.zeros((3, 10, 10)), {"units": "Hz"})},
                      coords={"unit_id": ("unit", ["a", "b", "c"])})
    with pytest.raises(AnalysisInputError, match="every map is constant"):
        spatial_scores(maps, n_shuffles=0)


def test_non_string_references_are_type_errors_with_a_message(home):
    with pytest.raises(TypeError, match="got int 123"):
        goalstore.open(123)
    with pytest.raises(TypeError, match="got int 5"):
        goalstore.history(5)


def _annexed_chunk(home, name="rec"):
    import os
    from pathlib import Path

    chunks = [p for p in (home / "arrays" / f"{name}.zarr" / "response").iterdir() if p.is_symlink()]
    assert chunks, "the data chunks should be annexed"
    return Path(os.path.realpath(chunks[0]))


def test_open_refuses_absent_content_and_check_detects_tampering(home):
    import os

    from goalstore.errors import ChecksumError, CorruptStoreError
    from tests.conftest import big_recording

    goalstore.write("rec", big_recording(0))
    goalstore.write("rec", big_recording(1))
    assert goalstore.open("rec", check=True)["response"].shape  # intact: opens, also checked
    assert goalstore.open("rec@1", check=True)["response"].shape
    target = _annexed_chunk(home)
    os.chmod(target, 0o644)
    with open(target, "r+b") as handle:  # tamper with an annexed chunk of the latest version
        handle.write(b"tampered")
    with pytest.raises(ChecksumError, match="differs from the recorded"):
        goalstore.open("rec", check=True)
    assert main(["open", "rec", "--check"]) == ChecksumError.exit_code
    target.unlink()  # the annexed content is gone: would read back as NaN
    with pytest.raises(CorruptStoreError, match="content of 1 file"):
        goalstore.open("rec")


def test_open_refuses_a_catalog_entry_pointing_at_another_store(home, recording):
    from goalstore.errors import CorruptStoreError

    goalstore.write("rec", recording)
    goalstore.write("other", recording)
    catalog = home / "catalog.yaml"
    catalog.write_text(catalog.read_text().replace("path: arrays/rec.zarr", "path: arrays/other.zarr"))
    with pytest.raises(CorruptStoreError, match="not at its own location"):
        goalstore.open("rec")


@pytest.mark.parametrize("content", ["a file", "a git repository"])
def test_a_non_empty_directory_is_never_converted_into_a_store_root(tmp_path, monkeypatch, capsys, content):
    import subprocess

    folder = tmp_path / "mine"
    folder.mkdir()
    if content == "a file":
        (folder / "notes.txt").write_text("mine")
    else:
        subprocess.run(["git", "init", "-q", str(folder)], check=True)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setenv("GOALSTORE_HOME", str(folder))
    assert main(["catalog", "list"]) == 6
    assert str(folder) in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written into it


def test_an_empty_table_is_a_schema_error(home):
    import pandas as pd

    from goalstore.schema import TABLES

    empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in TABLES["lr_view"].schema.names})
    with pytest.raises(SchemaError, match="has no rows"):
        goalstore.write("empty-view", empty, kind="lr_view")


@pytest.mark.parametrize("content, match", [
    ("entries: [unclosed\n", "line 2: not valid YAML"),
    ("- a\n- list\n", "is a list"),
    ("", "is a NoneType"),
    ("\x00\x01binary\xff", None),
    ("version: 2\nentries:\n  rec:\n    kwargs: {}\n    metadata: {origin: store}\n", "entry 'rec' has no"),
])
def test_a_malformed_catalog_is_exit_7_naming_the_file(home, recording, capsys, content, match):
    goalstore.write("rec", recording)
    catalog = home / "catalog.yaml"
    if content.startswith("\x00"):
        catalog.write_bytes(b"\x00\x01binary\xff\xfe")
    else:
        catalog.write_text(content)
    for argv in (["catalog", "list"], ["open", "rec"], ["verify"]):
        assert main(argv) == 7, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "catalog.yaml" in err[0], err
        if match:
            assert match in err[0]


# ------------------------------------------------------------------ attrs, strings, NaN / inf (issue 11)
def _stored_names(home) -> list[str]:
    catalog = home / "catalog.yaml"
    if not catalog.exists():
        return []
    return list(goalstore.search().query("origin == 'store'").index)


def _set_attr(target, key, value):
    def change(ds):
        ds = ds.copy()
        (ds.attrs if target is None else ds[target].attrs)[key] = value
        return ds
    return change


@pytest.mark.parametrize("change, match", [
    (_set_attr(None, "meta", {"lab": "x"}), r"attr 'meta': is a dict"),
    (_set_attr("response", "history", [{"step": 1}]),
     r"attr 'history' of variable 'response': item 0 is a dict"),
    (_set_attr(None, "flag", True), r"attr 'flag': is a boolean"),
    (_set_attr("response", "flag", np.bool_(False)), r"attr 'flag' of variable 'response': is a boolean"),
    (_set_attr("stimulus_id", "note", None), r"attr 'note' of coordinate 'stimulus_id': is None"),
    (_set_attr("response", "matrix", [[1, 2], [3, 4]]),
     r"attr 'matrix' of variable 'response': item 0 is a list"),
    (_set_attr("response", "grid", np.zeros((2, 2))), r"attr 'grid' of variable 'response': is a 2-D array"),
    (_set_attr(None, "mixed", [1, "a"]), r"attr 'mixed': item 1 is a str"),
    (_set_attr(None, "big", 2 ** 70), r"attr 'big': is an integer outside int64"),
    (_set_attr(None, "flags", [True, False]), r"attr 'flags': item 0 is a bool"),
])
def test_attrs_that_cannot_be_stored_faithfully(recording, change, match):
    with pytest.raises(SchemaError, match=match):
        validate_array(change(recording))


def test_plain_attrs_read_back_equal_in_both_formats(tmp_path, recording):
    from goalstore.formats import get_format

    ds = recording.copy()
    ds.attrs.update(text="é ✓", count=3, ratio=0.5, numbers=[1, 2.5], names=["a", "b"], np_name=np.str_("x"),
                    np_count=np.int64(4), array=np.arange(3))
    validate_array(ds)
    for fmt in ("netcdf", "zarr"):
        get_format(fmt).write(ds, tmp_path / fmt)
        back = get_format(fmt).open(tmp_path / fmt).attrs
        for key in ("text", "count", "ratio", "numbers", "names", "np_name", "np_count", "array"):
            assert np.array_equal(np.asarray(back[key]), np.asarray(ds.attrs[key])), (fmt, key)


def _with_coord_value(coord, index, value):
    def change(ds):
        values = ds[coord].values.astype(object)
        values[index] = value  # fixed-width unicode: pandas 3 refuses such object strings itself
        return ds.assign_coords({coord: (ds[coord].dims, values.astype(str), ds[coord].attrs)})
    return change


@pytest.mark.parametrize("change, match", [
    (_with_coord_value("stimulus_id", 2, "img\udc80.png"),
     r"coordinate 'stimulus_id': value at index 2: .*surrogate"),
    (_with_coord_value("unit_id", 0, "\udcff"), r"coordinate 'unit_id': value at index 0"),
    (_with_coord_value("area", 5, "V\ud800"), r"coordinate 'area': value at index 5"),
    (_set_attr(None, "description", "from /data/\udc80"), r"attr 'description': .*surrogate"),
    (_set_attr("response", "names", ["ok", "b\udc80"]), r"attr 'names' of variable 'response': item 1"),
])
def test_unencodable_strings_name_the_field(recording, change, match):
    with pytest.raises(SchemaError, match=match):
        validate_array(change(recording))


def test_unencodable_strings_in_a_table_name_the_column(home):
    import pandas as pd

    from goalstore.schema import TABLES

    row = {name: 1 for name in TABLES["lr_runs"].schema.names}
    row.update(run_id="run-0", task="t", architecture="a", learning_rule="sgdm", config="{}",
               status="completed", device="cpu", wall_time_s=1.0, train_loss=[1.0], train_accuracy=[0.5],
               val_loss=[1.0], val_accuracy=[0.5])
    table = pd.DataFrame([row, row])
    table["run_id"] = pd.Series(["run-0", "run-\udc80"], dtype=object)
    with pytest.raises(SchemaError, match=r"column 'run_id': row 1 .*surrogate"):
        goalstore.write("runs", table, kind="lr_runs")
    assert _stored_names(home) == []


def _with_value(var, index, value):
    def change(ds):
        ds = ds.copy(deep=True)
        ds[var].values[index] = value
        return ds
    return change


def _activations(ds):
    from goalstore.sources.virtual_animals import virtual_model

    model = virtual_model(n_stimuli=6, n_features=3, seed=1)
    model["activation"].values[0, 1] = np.nan
    return model


@pytest.mark.parametrize("change, match", [
    (_with_value("response", (0, 1, 0, 0), np.inf), r"variable 'response': holds \+inf or -inf \(1 values"),
    (_with_value("response", (1, 0, 0, 0), -np.inf), r"variable 'response': holds \+inf or -inf"),
    (lambda ds: _with_value("response", (0, 0, 0, 0), np.inf)(ds).chunk({"stimulus": 2}),
     r"variable 'response': holds \+inf or -inf"),  # dask-backed: reduced lazily
    (_activations, r"variable 'activation': holds NaN .* in a 'activations' store"),
    (lambda ds: ds.assign_coords(depth=("unit", np.r_[np.arange(7.0), np.nan], {"units": "um"})),
     r"coordinate 'depth': holds a missing value \(NaN\) at index 7"),
    (lambda ds: ds.assign_coords(depth=("unit", np.r_[np.inf, np.arange(7.0)], {"units": "um"})),
     r"coordinate 'depth': holds inf at index 0"),
    (lambda ds: ds.assign_coords(category=("stimulus", ["a", None, "b", "c", "d", "e"])),
     r"coordinate 'category': holds a missing value .* at index 1"),
    (lambda ds: ds.assign_coords(time_bin_start=("time_bin", [np.nan, 50.0], {"units": "ms"})),
     r"coordinate 'time_bin_start': holds a missing value \(NaN\) at index 0"),
])
def test_nan_and_inf_where_the_kind_forbids_them(recording, change, match):
    with pytest.raises(SchemaError, match=match):
        validate_array(change(recording))


@pytest.mark.parametrize("change, fmt, match", [
    (_set_attr(None, "flag", True), "netcdf", "attr 'flag'"),
    (_set_attr("response", "meta", {"a": 1}), "netcdf", "attr 'meta' of variable 'response'"),
    (_with_coord_value("stimulus_id", 1, "s\udc80"), "netcdf", "coordinate 'stimulus_id'"),
    (_with_value("response", (0, 0, 0, 0), np.inf), "zarr", "variable 'response'"),
])
def test_a_refused_write_stores_nothing(home, recording, change, fmt, match):
    with pytest.raises(SchemaError, match=match):
        goalstore.write("rec", change(recording), fmt=fmt)
    assert _stored_names(home) == []
    assert not list((home / "arrays").glob("rec*")) if (home / "arrays").exists() else True


def test_nan_marks_missing_values_where_the_kind_allows_it(tmp_path, recording):
    import dask.array as da

    from goalstore.formats import get_format

    ds = recording.copy(deep=True)
    ds["response"].values[0, 0, 0, 0] = np.nan  # a trial not recorded
    ds["response"].attrs["note"] = "NaN: trial not recorded"
    validate_array(ds, "recording")
    get_format("zarr").write(ds, tmp_path / "rec.zarr")
    lazy = get_format("zarr").open(tmp_path / "rec.zarr")
    validate_array(lazy, "recording")  # a stored recording with NaN still validates …
    assert isinstance(lazy["response"].data, da.Array)  # … lazily, without loading it
    assert np.isnan(lazy["response"].values[0, 0, 0, 0])


@pytest.mark.parametrize("change, match", [
    (_set_attr(None, "meta", {"lab": "x"}), "attr 'meta'"),
    (_with_coord_value("stimulus_id", 1, "s\udc80"), "coordinate 'stimulus_id'"),
    (_with_value("response", (0, 0, 0, 0), np.inf), "variable 'response'"),
])
def test_refused_values_are_exit_3_through_the_cli(home, recording, monkeypatch, capsys, change, match):
    from goalstore.store import StoreRoot

    StoreRoot(home)
    bad = change(recording)
    monkeypatch.setattr("goalstore.sources.virtual_animals.virtual_animals", lambda **_: bad)
    assert main(["produce", "demo-recording", "--home", str(home), "--json"]) == SchemaError.exit_code
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 3
    assert len(err.strip().splitlines()) == 1 and match in err
    assert _stored_names(home) == []
