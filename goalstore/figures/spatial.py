"""PNG figures of a spatial-score result: grid and border score distributions."""

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
    return [save_figure(fig, out / "spatial_scores.png")]
