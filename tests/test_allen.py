"""Allen Brain Observatory natural scenes: the pure conversion (known answer) and the clear error
without the optional AllenSDK."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from goalstore.errors import AnalysisInputError
from goalstore.schema import validate
from goalstore.sources.allen import load_allen_natural_scenes, natural_scene_responses


def test_natural_scene_responses_known_answer():
    rng = np.random.default_rng(0)
    frames = np.concatenate([np.repeat(np.arange(3), 4), [-1, -1]])  # 3 scenes × 4 repeats + blanks
    frames = frames[rng.permutation(len(frames))]
    starts = 20 + 20 * np.arange(len(frames))  # baselines never overlap an earlier presentation
    table = pd.DataFrame({"frame": frames, "start": starts, "end": starts + 7})
    dff = np.zeros((2, starts[-1] + 20))
    for f, s in zip(frames, starts, strict=True):
        if f >= 0:
            dff[0, s : s + 7] = f + 1.0  # cell 0 responds with scene index + 1
            dff[1, s - 8 : s] = 0.5  # cell 1: baseline only, no evoked response
    ds = natural_scene_responses(table, dff, [101, 102], "VISp", "donor1")
    validate(ds, "recording")
    assert ds.sizes == {"stimulus": 3, "unit": 2, "trial": 4}
    np.testing.assert_allclose(ds["response"].values[:, 0, :], np.repeat([[1.0], [2.0], [3.0]], 4, axis=1))
    np.testing.assert_allclose(ds["response"].values[:, 1, :], -0.5)
    with pytest.raises(AnalysisInputError, match="column 'end'"):
        natural_scene_responses(table.drop(columns="end"), dff, [101, 102], "VISp", "donor1")


@pytest.mark.skipif(importlib.util.find_spec("allensdk") is not None, reason="AllenSDK is installed")
def test_clear_error_without_allensdk(tmp_path):
    with pytest.raises(AnalysisInputError, match=r"pip install 'goalstore\[allen\]'"):
        load_allen_natural_scenes(tmp_path / "manifest.json")
