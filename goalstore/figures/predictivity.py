"""PNG figures of a model-vs-brain leaderboard (:mod:`goalstore.analyses.predictivity`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure


def _over_bins(da: xr.DataArray) -> np.ndarray:
    return da.mean("time_bin").values if "time_bin" in da.dims else da.values


def write_figures(result: xr.Dataset, out_dir: Path) -> list[Path]:
    """``predictivity_per_layer.png``: median predictivity per layer per model (± s.e.m., averaged over
    time bins), one panel per area, the inter-animal ceiling as a band (median ± s.e.m.);
    ``ranking.png``: per area, the models' fraction of the ceiling (best layer), best first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    areas = [str(a) for a in result["area_name"].values]
    models = [str(m) for m in result["model_name"].values]
    layers = [str(layer) for layer in result["layer_name"].values]
    paths = []

    fig, axes = plt.subplots(1, len(areas), figsize=(4.5 * len(areas), 3.8), squeeze=False)
    for a, area in enumerate(areas):
        ax = axes[0, a]
        ceiling = float(np.mean(_over_bins(result["ceiling"].isel(area=a))))
        spread = float(np.mean(_over_bins(result["ceiling_sem"].isel(area=a))))
        ax.axhspan(ceiling - spread, ceiling + spread, color="grey", alpha=0.3, label="inter-animal ceiling")
        ax.axhline(ceiling, color="grey", lw=1)
        for m, model in enumerate(models):
            pm = _over_bins(result["predictivity_median"].isel(model=m, area=a))
            ps = _over_bins(result["predictivity_sem"].isel(model=m, area=a))
            have = np.isfinite(pm)
            ax.errorbar(np.flatnonzero(have), pm[have], yerr=ps[have], marker="o", capsize=3, label=model)
        ax.set_xticks(np.arange(len(layers)), layers, rotation=45, ha="right")
        ax.axhline(0, color="black", lw=0.5)
        ax.set(title=f"{area}", ylabel="median noise-corrected predictivity")
        ax.legend(fontsize=7)
    fig.suptitle("predictivity per layer against the inter-animal ceiling (band: median ± s.e.m.)")
    paths.append(save_figure(fig, out / "predictivity_per_layer.png"))

    fig, axes = plt.subplots(1, len(areas), figsize=(4.5 * len(areas), 3.6), squeeze=False)
    for a, area in enumerate(areas):
        ax = axes[0, a]
        fraction = result["mean_fraction_of_ceiling"].isel(area=a).values
        order = np.argsort(result["rank"].isel(area=a).values, kind="stable")
        best = result["best_layer_index"].isel(area=a).values
        ax.bar(np.arange(len(models)), np.nan_to_num(fraction[order]), color="C0")
        ax.axhline(1.0, color="grey", ls="--", lw=1)
        ax.set_xticks(np.arange(len(models)),
                      [f"{models[i]}\n({layers[int(best[i])]})" for i in order], rotation=45, ha="right")
        ax.set(title=f"{area}: ranking", ylabel="fraction of the inter-animal ceiling")
    fig.suptitle("models ranked by best-layer predictivity / inter-animal ceiling (dashed: 1)")
    paths.append(save_figure(fig, out / "ranking.png"))
    return paths
