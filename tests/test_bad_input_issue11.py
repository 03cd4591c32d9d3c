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
    from goalstore.api import _recipe_params
    from goalstore.recipes import get_recipe

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
