"""The recipe registry: parameters declared once, typed, and the commands generated from them."""

from __future__ import annotations

import json

import pytest

from goalstore import recipes
from goalstore.cli import build_parser
from goalstore.errors import EntryNotFoundError, SchemaError


def test_parameters_take_their_declared_types():
    spec = recipes.get_recipe("spatial-scores")
    params = spec.resolve({"field_threshold": "0.4", "n_shuffles": 5.0, "maps": "m"})
    assert params.field_threshold == 0.4 and params.n_shuffles == 5 and params.maps == "m"
    assert spec.params == {"maps": "demo-rate-maps", "field_threshold": 0.3, "min_field_bins": 8,
                           "n_shuffles": 100, "seed": 0}
    with pytest.raises(SchemaError, match=r"parameter 'n_shuffles'.*does not convert to int"):
        spec.resolve({"n_shuffles": "many"})
    with pytest.raises(SchemaError, match="unknown for recipe 'spatial-scores'"):
        spec.resolve({"shuffles": 3})


def test_every_recipe_declares_json_typed_parameters():
    for spec in recipes.RECIPES.values():
        for f, kind in spec.fields():
            assert kind in recipes.PARAM_TYPES, (spec.name, f.name)
        params = recipes.as_dict(spec.resolve({}))
        assert recipes.as_dict(spec.resolve(json.loads(json.dumps(params)))) == params  # the JSON round trip


def test_analyze_flags_map_onto_parameters():
    args = build_parser().parse_args(["analyze", "consistency", "demo-recording", "--bootstrap", "3",
                                      "--splits", "2", "--mapping", "ridge,rsa"])
    params = recipes.cli_params(recipes.get_recipe(args.recipe), args)
    assert params["n_draws"] == 3 and params["n_splits"] == 2 and params["mappings"] == "ridge,rsa"
    assert params["model"] == "" and params["stratify"] == "" and params["pooled"] is False
    args = build_parser().parse_args(["analyze", "lr-identify", "c", "--classifier", "all", "--holdout", "task",
                                      "--holdout", "curriculum", "--subsample", "5,15"])
    assert args.recipe == "lr-identification"  # the former verb runs the same recipe
    params = recipes.cli_params(recipes.get_recipe(args.recipe), args)
    assert params["classifiers"] == "rf,svm,conv1d" and params["holdouts"] == "task,curriculum"
    assert params["periods"] == "5,15" and params["workers"] == 2 and params["corpus"] == "c"


def test_verbs_are_recipe_names_and_former_verbs_still_resolve():
    for verb, name in [("spatial-scores", "spatial-scores"), ("spatial", "spatial-scores"),
                       ("synapses", "synapse-dynamics"), ("lr-identify", "lr-identification"),
                       ("lr-identification", "lr-identification"), ("consistency", "consistency")]:
        assert recipes.get_analysis(verb).name == name
    assert recipes.get_recipe("lr-identify").analysis is None  # the importer, not the analysis
    with pytest.raises(EntryNotFoundError):
        recipes.get_analysis("demo-recording")


def test_produce_takes_one_json_document_and_the_former_pairs():
    args = build_parser().parse_args(["produce", "demo-recording", "--home", ".", "--params", '{"seed": 1}'])
    assert json.loads(args.params) == {"seed": 1}
    args = build_parser().parse_args(["produce", "demo-recording", "--param", "seed=1"])
    assert args.param == ["seed=1"] and args.params is None


def test_build_help_lists_the_recipes_and_their_parameters():
    text = build_parser()._subparsers._group_actions[0].choices["build"].format_help()
    assert "spatial-scores:" in text and "field_threshold=0.3" in text and "--preset" in text


def test_comma_lists_and_repeated_names():
    """The shared parsing of MODELS / --models / --targets lists and their one-line refusal of repeats."""
    from goalstore.errors import AnalysisInputError
    from goalstore.recipes import comma_list, refuse_repeats

    assert comma_list(" a, b,,c ") == ["a", "b", "c"] and comma_list("") == []
    refuse_repeats(["a", "b"], "models")
    with pytest.raises(AnalysisInputError, match=r"^models: a given more than once$"):
        refuse_repeats(["a", "b", "a"], "models")
