"""Model grids: expansion, grid files, refusals, the resumable ``model-grid`` recipe, catalog search."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re

import pytest
import torch

import goalstore
from builders import model_grid as mg
from builders.model_grid import ModelGridSpec, grid_points, load_model_grid
from goalstore.cli import main
from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.recipes import get_recipe
from goalstore.recipes import model_grid as recipe_module
from goalstore.store import StoreRoot
from tests.extraction_helpers import stimuli

#: a two-point grid that trains in seconds: knet4 and a timedecay convrnn6, 1 epoch on 24 images of 16 px
TWO_POINTS = {"name": "two", "grids": [
    {"family": "feedforward", "architectures": ["knet4"], "cells": ["timedecay"], "stimuli": "stim",
     "epochs": 1, "width": 0.125, "input_size": 16, "batch_size": 8},
    {"family": "convrnn", "architectures": ["convrnn6"], "cells": ["timedecay"], "stimuli": "stim", "epochs": 1,
     "width": 0.0625, "input_size": 16, "batch_size": 8, "args": {"time_steps": 6}}]}


# ------------------------------------------------------------------ expansion
def test_presets_expand_to_their_counts_with_deterministic_names():
    tiny = grid_points(load_model_grid("tiny"))
    assert len(tiny) == 3 * 2 + 2 * 2 + 2 * 3  # (3 cells + 2 + 3) × 2 objectives
    assert [p.name for p in tiny] == [p.name for p in grid_points(load_model_grid("tiny"))]
    assert {p.family for p in tiny} == {"convrnn", "feedforward", "mouse"}
    assert {(p.cell, p.objective) for p in tiny if p.family == "convrnn"} == {
        (c, o) for c in ("timedecay", "gru", "rgc") for o in ("supervised", "simclr")}
    paper = grid_points(load_model_grid("paper"))
    assert len(paper) == 2 * 7 + 5 * len(mg.OBJECTIVES) * 3  # ConvRNN-6/11 × 7 cells; 5 mouse × 8 × 3
    assert {p.params["input_size"] for p in paper if p.family == "mouse"} == {64}
    assert len({p.name for p in paper}) == len(paper)
    for point in tiny + paper:
        stem = point.params["architecture"] + ("" if point.cell == "none" else f"-{point.cell}")
        assert point.name == f"{stem}-{point.objective}-s{point.params['seed']}-{point.key}"
        assert re.fullmatch(r"[0-9a-f]{10}", point.key)


def test_point_key_is_the_hash_of_the_resolved_training_config():
    spec = ModelGridSpec("g", "convrnn", ("convrnn6", "knet4"), ("gru", "rgc"), ("supervised", "simclr"),
                         (0, 1), args={"time_steps": 6})
    points = spec.points()
    # cells apply to the ConvRNN only: convrnn6 × 2 cells × 2 objectives × 2 seeds + knet4 × 2 × 2
    assert len(points) == 8 + 4 and {p.cell for p in points if p.params["architecture"] == "knet4"} == {"none"}
    first = points[0]
    assert first.params["args"] == {"time_steps": 6, "cell": "gru"}
    config = spec.training_config("convrnn6", "gru", "supervised", 0)
    training = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("device", "out_features")}
    assert training["momentum"] == 0.9 and training["temperature"] == 0.1  # defaults are part of it
    document = json.dumps({"training": training, "stimuli": "embedded-objects", "val_fraction": 0.25},
                          sort_keys=True)
    assert first.key == hashlib.sha256(document.encode()).hexdigest()[:10]
    assert first.key == mg.point_key(config, "embedded-objects", 0.25)
    # a changed builders-side default (momentum, weight decay, temperature …) changes the key
    assert mg.point_key(dataclasses.replace(config, momentum=0.5), "embedded-objects", 0.25) != first.key
    params = first.model_params("cpu")
    assert params["objective"] == "supervised" and params["name"] == first.name
    assert json.loads(params["args"]) == {"cell": "gru", "time_steps": 6}
    assert params["embedding_dim"] == 128 and json.loads(params["objective_args"]) == {}
    simclr = next(p for p in points if p.objective == "simclr")
    assert simclr.model_params()["objective"] == "simclr" and simclr.key != first.key
    changed = ModelGridSpec("other-name", "x", ("convrnn6",), ("gru",), epochs=11,
                            args={"time_steps": 6}).points()
    same = ModelGridSpec("other-name", "x", ("convrnn6",), ("gru",), args={"time_steps": 6}).points()
    assert same[0].key == first.key  # the grid's name and family label are not part of the config
    assert changed[0].key != first.key

    def simclr_key(**fields):
        return ModelGridSpec("g", "c", ("knet4",), objectives=("simclr",), **fields).points()[0].key

    base = simclr_key()
    assert simclr_key(embedding_dim=64) != base and simclr_key(objective_args={"temperature": 0.2}) != base
    assert simclr_key(objective_args={"temperature": 0.1}) == base  # the default, spelled out


def test_grid_points_train_with_the_config_they_are_keyed_by():
    """The ``model`` recipe resolves a point's parameters to the very config its key hashes."""
    from goalstore.recipes.models import TrainModel, _config

    spec = ModelGridSpec("g", "c", ("convrnn6", "knet4"), ("gru",), ("supervised", "mocov2"),
                         args={"time_steps": 4}, embedding_dim=32, objective_args={"queue_size": 16},
                         optimiser="adam", augment=True)
    for point in spec.points():
        resolved = _config(TrainModel(**point.model_params("cpu")), 5)
        keyed = spec.training_config(point.params["architecture"], point.cell, point.objective,
                                     point.params["seed"])
        out = 5 if point.objective == "supervised" else 32
        assert resolved == dataclasses.replace(keyed, out_features=out)
        assert point.key == mg.point_key(resolved, spec.stimuli, spec.val_fraction)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_grid_file_round_trip(tmp_path, suffix):
    specs = load_model_grid("tiny")
    path = mg.write_model_grid(specs, tmp_path / f"grid{suffix}")
    again = load_model_grid(str(path))
    assert again == specs
    assert [p.name for p in grid_points(again)] == [p.name for p in grid_points(specs)]
    flat = tmp_path / f"flat{suffix}"  # one spec's fields: the name defaults to the file's stem
    flat.write_text(json.dumps({"family": "convrnn", "architectures": ["convrnn6"], "cells": "gru"}))
    (spec,) = load_model_grid(str(flat))
    assert spec.name == "flat" and spec.cells == ("gru",) and spec.objectives == ("supervised",)


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"objectives": ["supervised", "telepathy"]}, "field 'objectives': unknown objective 'telepathy'"),
    ({"cells": ["gru", "warp"]}, "field 'cells': unknown cell 'warp'"),
    ({"architectures": ["vgg99"]}, "field 'architectures': unknown architecture 'vgg99'"),
    ({"architectures": []}, "field 'architectures'"),
    ({"seeds": [0, -1]}, "field 'seeds'"),
    ({"seeds": [0, 0]}, "field 'seeds'"),
    ({"epochs": -1}, "training config of convrnn6 (supervised): epochs -1"),
    ({"epochs": 1.5}, "field 'epochs'"),
    ({"width": "wide"}, "field 'width'"),
    ({"optimiser": "lbfgs"}, "optimiser 'lbfgs'"),
    ({"embedding_dim": "128"}, "field 'embedding_dim'"),
    ({"objective_args": {"tau": 1}}, "objective_args of convrnn6 (supervised): objective parameters tau"),
    ({"objectives": ["simclr"], "objective_args": {"temperature": 0}}, "simclr): objective parameters"),
    ({"args": {"contrastive": True}}, "field 'args' sets contrastive"),
    ({"family": "a b"}, "field 'family'"),
    ({"family": None}, "field 'family'"),
    ({"args": {"width": 2}}, "field 'args' sets width"),
    ({"args": [1]}, "field 'args'"),
])
def test_bad_grid_fields_are_refused_in_one_line_naming_the_field(tmp_path, change, message):
    raw = {"family": "convrnn", "architectures": ["convrnn6"], "cells": ["gru"], **change}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        load_model_grid(str(path))
    assert "\n" not in str(info.value)


def test_bad_grid_files_are_refused(tmp_path):
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"architectures": ["knet4"]}))
    with pytest.raises(ValueError, match="field 'family' is missing"):
        load_model_grid(str(missing))
    broken = tmp_path / "broken.yaml"
    broken.write_text("family: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_model_grid(str(broken))
    with pytest.raises(ValueError, match="not a preset"):
        load_model_grid("huge")
    twice = tmp_path / "twice.json"
    twice.write_text(json.dumps({"grids": [{"family": "a", "architectures": ["knet4"]},
                                           {"family": "b", "architectures": ["knet4"]}]}))
    with pytest.raises(ValueError, match="appears twice"):
        grid_points(load_model_grid(str(twice)))


# ------------------------------------------------------------------- recipe
@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = StoreRoot(tmp_path_factory.mktemp("grid") / "store")
    root.write("stim", stimuli(n=24, size=16), kind="stimuli")
    return root


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("grids") / "two.json"
    path.write_text(json.dumps(TWO_POINTS))
    return path


def test_recipe_refuses_bad_grids_before_anything_runs(root, tmp_path, grid_file):
    recipe = get_recipe("model-grid")

    def check(**params):
        return recipe.check(recipe.resolve(params), root)

    with pytest.raises(AnalysisInputError, match="not a preset"):
        check(grid="no-such-grid")
    with pytest.raises(AnalysisInputError, match="device"):
        check(grid=str(grid_file), device="tpu")
    paper = tmp_path / "paper.json"
    paper.write_text(json.dumps({"family": "mouse", "architectures": ["knet4"], "stimuli": "imagenet-64",
                                 "data_path": "/data/imagenet/train"}))
    with pytest.raises(AnalysisInputError, match="import stimuli /data/imagenet/train --name imagenet-64"):
        check(grid=str(paper))
    bad_args = tmp_path / "bad-args.json"
    bad_args.write_text(json.dumps({"family": "c", "architectures": ["convrnn6"], "stimuli": "stim",
                                    "args": {"decoder": "psychic"}}))
    with pytest.raises(AnalysisInputError, match=r"point convrnn6-none-supervised-s0-\w+: args"):
        check(grid=str(bad_args))
    narrow = tmp_path / "narrow.json"  # a range only the model recipe checks: refused by its check_model
    narrow.write_text(json.dumps({"family": "c", "architectures": ["knet4"], "stimuli": "stim", "width": 0}))
    with pytest.raises(AnalysisInputError, match=r"point knet4-supervised-s0-\w+: .*width 0"):
        check(grid=str(narrow))
    assert check(grid=str(grid_file)).grid == str(grid_file.resolve())


def test_grid_trains_resumes_after_an_interruption_and_skips_stored_points(root, grid_file, monkeypatch,
                                                                          capsys):
    torch.set_num_threads(1)
    recipe = get_recipe("model-grid")
    params = recipe.check(recipe.resolve({"grid": str(grid_file)}), root)
    knet, convrnn = (p.name for p in grid_points(load_model_grid(str(grid_file))))
    assert knet.startswith("knet4-supervised-s0-") and convrnn.startswith("convrnn6-timedecay-supervised-s0-")
    trained = []
    real = recipe_module.produce_model

    def interrupted(store_root, p):  # the sweep is killed while training the second point
        if p.name == convrnn:
            raise KeyboardInterrupt
        trained.append(p.name)
        return real(store_root, p)

    monkeypatch.setattr(recipe_module, "produce_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        recipe.produce(root, params)
    work_dir = root.scratch / recipe_module.WORK_DIR
    assert trained == [knet] and sorted(f.name for f in work_dir.iterdir()) == [f"{knet}.safetensors"]

    def counted(store_root, p):
        trained.append(p.name)
        return real(store_root, p)

    monkeypatch.setattr(recipe_module, "produce_model", counted)
    products = recipe.produce(root, params)  # resumes: only the second point trains
    assert trained == [knet, convrnn] and sorted(products) == sorted([knet, convrnn])
    for name, product in products.items():
        meta = root.write(name, product.obj, kind=product.kind)
        training = meta["training"]
        assert (training["grid"], training["objective"]) == ("two", "supervised")
        assert (training["family"], training["cell"]) == (("feedforward", "none") if name == knet
                                                           else ("convrnn", "timedecay"))
        curve = training["loss_curve"]
        assert len(curve) == 1 and all(isinstance(v, float) and math.isfinite(v) for v in curve)
        assert name.endswith(training["grid_point"])

    def refuse(store_root, p):
        raise AssertionError(f"{p.name} trained again")

    monkeypatch.setattr(recipe_module, "produce_model", refuse)
    assert recipe.produce(root, params) == {}  # every point stored with its config: nothing to do
    assert not list(work_dir.iterdir())  # and the scratch copies of stored points are gone
    assert all(recipe.cached(params, root.metadata(name)) for name in (knet, convrnn))

    # catalog search by model family (the catalog family stays `models`), cell, objective, parameter count
    n_knet, n_conv = root.metadata(knet)["n_parameters"], root.metadata(convrnn)["n_parameters"]
    assert n_knet != n_conv

    def found(**criteria):
        return set(goalstore.search(home=root.path, **criteria)["name"])

    assert found(family="convrnn") == found(model_family="convrnn") == {convrnn}
    assert found(family="models") == {knet, convrnn}
    assert found(cell="timedecay", objective="supervised") == {convrnn}
    assert found(family="feedforward", cell="none") == {knet}
    assert found(objective="simclr") == set()
    middle = (n_knet + n_conv) / 2
    small, large = sorted([(n_knet, knet), (n_conv, convrnn)])
    assert found(n_parameters=f"<{middle}") == {small[1]} and found(n_parameters=f">={middle}") == {large[1]}
    assert found(n_parameters=f"{min(n_knet, n_conv)}..{max(n_knet, n_conv)}") == {knet, convrnn}
    assert found(n_parameters=f"..{min(n_knet, n_conv) - 1}") == set()
    assert found(n_parameters=str(n_knet)) == {knet}
    with pytest.raises(SchemaError, match="is not a number"):
        found(n_parameters="<many")
    # the same from the command line
    names = [knet, convrnn]
    n_knet = root.metadata(names[0])["n_parameters"]
    assert main(["catalog", "--home", str(root.path), "--json", "search", "kind=model",
                 f"n_parameters<={n_knet}"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == {n for n in names if root.metadata(n)["n_parameters"] <= n_knet}
    assert all(isinstance(r["n_parameters"], int) for r in rows)
    assert main(["catalog", "--home", str(root.path), "search", "family=convrnn", "cell=timedecay"]) == 0
    out = capsys.readouterr().out
    assert names[1] in out and "model_family" in out and names[0] not in out
    assert main(["catalog", "--home", str(root.path), "search", "n_parameters"]) != 0


@pytest.mark.slow
def test_build_model_grid_through_datalad_run_then_skips(tmp_path, grid_file):
    """``goalstore build model-grid`` end to end (datalad run, 2 dask workers), then again: nothing retrains."""
    home = tmp_path / "store"
    root = StoreRoot(home)
    root.write("stim", stimuli(n=24, size=16), kind="stimuli")
    assert main(["build", "model-grid", "--home", str(home), "--grid", str(grid_file), "--workers", "2"]) == 0
    names = [p.name for p in grid_points(load_model_grid(str(grid_file)))]
    first = {n: root.metadata(n) for n in names}
    assert all(m["version"] == 1 and m["training"]["grid"] == "two" for m in first.values())
    assert main(["build", "model-grid", "--home", str(home), "--grid", str(grid_file)]) == 0
    assert {n: root.metadata(n) for n in names} == first
    assert root.history(names[0])[-1].run  # recorded by datalad run: `goalstore rebuild` can redo it
