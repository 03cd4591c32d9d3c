"""Bad input to the consistency, RSA, OST, spatial and source functions: each refusal names the field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goalstore.analyses.consistency import inter_animal_consistency, model_predictivity
from goalstore.analyses.mappings import ElasticNetMapping
from goalstore.analyses.ost import i1_over_time
from goalstore.analyses.rsa import rsa_consistency
from goalstore.analyses.spatial import rate_maps_from_activations, rate_maps_from_spikes, spatial_scores
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
from goalstore.errors import AnalysisInputError
from goalstore.sources.allen import natural_scene_responses
from goalstore.sources.rate_maps import rate_map_recording, synthetic_rate_maps
from goalstore.sources.virtual_animals import virtual_animals, virtual_model


def test_consistency_inputs():
    ds = virtual_animals(n_stimuli=30)
    with pytest.raises(AnalysisInputError, match="coordinate 'category'"):
        inter_animal_consistency(ds, scheme=SplitScheme(2, 0.5, stratify="category"))
    with pytest.raises(AnalysisInputError, match="values for 30 stimuli"):
        stimulus_splits(30, SplitScheme(2, 0.5), np.zeros(29))
    with pytest.raises(AnalysisInputError, match="train_fraction"):
        SplitScheme(2, 1.5)
    with pytest.raises(AnalysisInputError, match="l1_ratio"):
        ElasticNetMapping(l1_ratios=(0.0,)).fit(np.zeros((10, 2)), np.zeros(10))
    model = virtual_model(n_stimuli=30, n_time_bins=3)
    with pytest.raises(AnalysisInputError, match="dim 'time_bin'"):
        model_predictivity(ds, model)
    with pytest.raises(AnalysisInputError, match="coordinate 'layer'"):
        model_predictivity(ds, virtual_model(n_stimuli=30).drop_vars("layer"))
    with pytest.raises(AnalysisInputError, match="dim 'trial'"):
        rsa_consistency(virtual_animals(n_trials=1)["response"].isel(trial=0))


def test_ost_and_allen_inputs():
    with pytest.raises(AnalysisInputError, match="features"):
        i1_over_time(np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(AnalysisInputError, match="NaN"):
        i1_over_time(np.full((4, 2, 1), np.nan), np.array([0, 1, 0, 1]))
    table = pd.DataFrame({"frame": [0, 1], "start": [10, 30], "end": [17, 37]})
    with pytest.raises(AnalysisInputError, match="dff"):
        natural_scene_responses(table, np.zeros((3, 50)), [1, 2], "VISp", "a")
    with pytest.raises(AnalysisInputError, match="outside"):
        natural_scene_responses(table, np.zeros((2, 20)), [1, 2], "VISp", "a")
    with pytest.raises(AnalysisInputError, match="no natural-scene"):
        natural_scene_responses(table.assign(frame=-1), np.zeros((2, 50)), [1, 2], "VISp", "a")


def test_spatial_inputs():
    with pytest.raises(AnalysisInputError, match="spike_counts"):
        rate_maps_from_spikes(np.zeros((5, 2)), np.zeros((4, 1)), 0.02, (100, 100))
    with pytest.raises(AnalysisInputError, match="NaN"):
        rate_maps_from_spikes(np.full((5, 2), np.nan), np.zeros((5, 1)), 0.02, (100, 100))
    with pytest.raises(AnalysisInputError, match="activations"):
        rate_maps_from_activations(np.zeros((5, 2)), np.zeros((4, 1)), (100, 100))
    bad = synthetic_rate_maps()
    bad["rate"][0, 0, 0] = np.inf
    with pytest.raises(AnalysisInputError, match="infinite"):
        spatial_scores(bad)
    with pytest.raises(AnalysisInputError, match="expected \\(x, y, cell\\)"):
        rate_map_recording({"a": np.zeros((4, 4))}, 5.0)
    with pytest.raises(AnalysisInputError, match="other animals"):
        rate_map_recording({"a": np.zeros((4, 4, 1)), "b": np.zeros((5, 4, 1))}, 5.0)
    with pytest.raises(AnalysisInputError, match="no animal"):
        rate_map_recording({}, 5.0)
