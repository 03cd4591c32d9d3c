"""PNG figures of a spatial-score result: grid and border score distributions, and (after a shuffle
test) each cell's scores against the 95th percentile of its shuffles."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.analyses.spatial import BORDER_THRESHOLD, GRID_THRESHOLD
from goalstore.figures import save_figure


def write_figures(result: xr.Dataset, out: Path) -> list[Path]:
    """Histograms of grid and border scores with the classification thresholds, and their scatter."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid, border = result["grid_score"].values, result["border_score"].values
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, values, threshold, name in (
        (axes[0], grid, GRID_THRESHOLD, "grid score"),
        (axes[1], border, BORDER_THRESHOLD, "border score"),
    ):
        ax.hist(values[np.isfinite(values)], bins=20, color="tab:blue")
        ax.axvline(threshold, color="tab:red", ls="--", label=f"threshold {threshold}")
        ax.set(xlabel=name, ylabel="cells")
        ax.legend(fontsize=8)
    axes[2].scatter(grid, border, s=12)
    axes[2].axvline(GRID_THRESHOLD, color="grey", ls="--", lw=0.8)
    axes[2].axhline(BORDER_THRESHOLD, color="grey", ls="--", lw=0.8)
    axes[2].set(xlabel="grid score", ylabel="border score")
    paths = [save_figure(fig, out / "spatial_scores.png")]
    if "grid_p" in result.data_vars:
        paths.append(_shuffle_figure(result, out))
    return paths


def _shuffle_figure(result: xr.Dataset, out: Path) -> Path:
    """Each cell's score against the 95th percentile of its shuffles (above the diagonal: a grid or
    border cell by the shuffle test), with the fixed threshold for comparison."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    for ax, name, fixed in ((axes[0], "grid", GRID_THRESHOLD), (axes[1], "border", BORDER_THRESHOLD)):
        score, threshold = result[f"{name}_score"].values, result[f"{name}_threshold"].values
        passed = result[f"is_{name}_cell_shuffle"].values
        ax.scatter(threshold[passed], score[passed], s=14, color="tab:red", label="> shuffle 95%")
        ax.scatter(threshold[~passed], score[~passed], s=14, color="tab:blue", label="not")
        finite = np.concatenate([score[np.isfinite(score)], threshold[np.isfinite(threshold)]])
        lo, hi = (finite.min(), finite.max()) if finite.size else (-1.0, 1.0)
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.axhline(fixed, color="grey", ls="--", lw=0.8, label=f"threshold {fixed}")
        ax.set(xlabel=f"95th percentile of shuffles ({result.attrs.get('n_shuffles', '?')})",
               ylabel=f"{name} score")
        ax.legend(fontsize=7)
    return save_figure(fig, out / "spatial_shuffles.png")
