"""Allen Brain Observatory natural-scene responses → the canonical recording.

Reads through AllenSDK's ``BrainObservatoryCache`` (its manifest and cache layout) when
the user has AllenSDK installed (``pip install goalstore[allen]``); without it the loader
raises a clear error.  The conversion itself, :func:`natural_scene_responses`, is a pure
function of a stimulus table and ΔF/F traces, so it is tested without AllenSDK.

Response of a cell to one presentation = mean ΔF/F over the presentation's frames
(``start`` ≤ frame < ``end``) minus the mean over the ``baseline_frames`` before it.
The 118 scenes are the stimuli (the blank, frame −1, is left out); repeats are trials
(cut to the smallest repeat count over scenes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from goalstore.errors import AnalysisInputError
from goalstore.schema import recording_attrs

CITATION = (
    "de Vries SEJ et al. (2020). A large-scale standardized physiological survey reveals functional "
    "organization of the mouse visual cortex. Nat Neurosci 23:138-151."
)


def natural_scene_responses(
    stimulus_table: pd.DataFrame,
    dff: np.ndarray,
    cell_ids: list[Any],
    area: str,
    animal: str,
    baseline_frames: int = 8,
) -> xr.Dataset:
    """Canonical stimulus × unit × trial recording from a natural-scenes stimulus table (columns
    ``frame``, ``start``, ``end``) and ΔF/F traces (cells × imaging frames)."""
    for column in ("frame", "start", "end"):
        if column not in stimulus_table.columns:
            raise AnalysisInputError(
                f"stimulus table: column {column!r} missing (have "
                f"{', '.join(map(str, stimulus_table.columns))})"
            )
    dff = np.asarray(dff, dtype=np.float64)
    if dff.ndim != 2 or dff.shape[0] != len(cell_ids):
        raise AnalysisInputError(f"dff: shape {dff.shape}; expected ({len(cell_ids)} cells, frames)")
    table = stimulus_table[stimulus_table["frame"] >= 0].sort_values("start")
    if table.empty:
        raise AnalysisInputError("stimulus table: no natural-scene presentation (frame >= 0)")
    starts, ends = table["start"].to_numpy(int), table["end"].to_numpy(int)
    if (starts < baseline_frames).any() or (ends > dff.shape[1]).any():
        raise AnalysisInputError("stimulus table: presentations reach outside the ΔF/F traces")
    cumulative = np.concatenate([np.zeros((dff.shape[0], 1)), np.cumsum(dff, axis=1)], axis=1)
    evoked = (cumulative[:, ends] - cumulative[:, starts]) / (ends - starts)
    baseline = (cumulative[:, starts] - cumulative[:, starts - baseline_frames]) / baseline_frames
    response = (evoked - baseline).T  # presentation × cell
    frames = table["frame"].to_numpy(int)
    scenes, counts = np.unique(frames, return_counts=True)
    n_trials = int(counts.min())
    index = np.stack([np.flatnonzero(frames == s)[:n_trials] for s in scenes])  # scene × trial
    values = response[index].transpose(0, 2, 1)  # scene × cell × trial
    return xr.Dataset(
        {
            "response": (
                ("stimulus", "unit", "trial"),
                values,
                {
                    "units": "dF/F",
                    "description": "mean ΔF/F during the presentation minus the "
                    f"mean over the {baseline_frames} frames before",
                },
            )
        },
        coords={
            "stimulus_id": ("stimulus", [f"scene{s:03d}" for s in scenes]),
            "unit_id": ("unit", [f"{animal}_{c}" for c in cell_ids]),
            "animal": ("unit", [str(animal)] * len(cell_ids)),
            "area": ("unit", [str(area)] * len(cell_ids)),
            "trial_id": ("trial", np.arange(n_trials)),
        },
        attrs=recording_attrs(
            species="mouse",
            modality="two-photon calcium imaging",
            source="Allen Brain Observatory (AllenSDK BrainObservatoryCache)",
            license="Allen Institute terms of use (https://alleninstitute.org/terms-of-use/)",
            citation=CITATION,
            dropped_presentations=int(len(frames) - len(scenes) * n_trials),
        ),
    )


def load_allen_natural_scenes(
    manifest_file: str | Path,
    experiment_ids: list[int] | None = None,
    targeted_structures: list[str] | None = None,
    cre_lines: list[str] | None = None,
    max_experiments: int | None = None,
) -> xr.Dataset:
    """Natural-scene responses of Allen Brain Observatory experiments, one animal per experiment's
    donor, concatenated along ``unit`` (experiments share the 118 scenes)."""
    try:
        from allensdk.core.brain_observatory_cache import BrainObservatoryCache
    except ImportError:
        raise AnalysisInputError(
            "the Allen Brain Observatory loader needs AllenSDK, an optional dependency: "
            "pip install 'goalstore[allen]' (or pip install allensdk)"
        ) from None
    cache = BrainObservatoryCache(manifest_file=str(manifest_file))
    experiments = cache.get_ophys_experiments(
        ids=experiment_ids,
        targeted_structures=targeted_structures,
        cre_lines=cre_lines,
        stimuli=["natural_scenes"],
    )
    if not experiments:
        raise AnalysisInputError(
            "no Allen Brain Observatory experiment with natural scenes matches the filters"
        )
    parts = []
    for meta in experiments[:max_experiments]:
        data = cache.get_ophys_experiment_data(meta["id"])
        _, dff = data.get_dff_traces()
        parts.append(
            natural_scene_responses(
                data.get_stimulus_table("natural_scenes"),
                dff,
                list(data.get_cell_specimen_ids()),
                meta["targeted_structure"],
                f"donor{meta.get('donor_name', meta['id'])}",
            )
        )
    trials = min(p.sizes["trial"] for p in parts)
    return xr.concat([p.isel(trial=slice(0, trials)) for p in parts], dim="unit", combine_attrs="override")
