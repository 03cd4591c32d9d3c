"""PNG figures of a consistency / predictivity result."""

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


def write_figures(result: xr.Dataset, out: Path) -> list[Path]:
    """Consistency per area and mapping; predictivity per layer against the inter-animal ceiling;
    consistency over time bins (temporal data); RSA per area."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    areas = [str(a) for a in result["area_name"].values] if "area_name" in result.coords else []
    if "consistency" in result:
        mappings = [str(m) for m in result["mapping_name"].values]
        modes = [str(t) for t in result["temporal_mode"].values]
        labels = [m if len(modes) == 1 else f"{m} ({t})" for m in mappings for t in modes]
        median = _over_bins(result["consistency_median"]).reshape(len(labels), len(areas))
        sem = _over_bins(result["consistency_sem"]).reshape(len(labels), len(areas))
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.8 / len(labels)
        for k, label in enumerate(labels):
            ax.bar(np.arange(len(areas)) + k * width, median[k], width, yerr=sem[k], label=label, capsize=3)
        ax.set_xticks(np.arange(len(areas)) + width * (len(labels) - 1) / 2, areas)
        ax.set(
            ylabel="noise-corrected consistency\n(median ± s.e.m. over units)", title="inter-animal consistency"
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / "consistency.png"))

        if "time_bin" in result.dims and result.sizes["time_bin"] > 1:
            fig, ax = plt.subplots(figsize=(6, 4))
            t = result["time_bin_start"].values
            for m, mapping in enumerate(mappings):
                for k, mode in enumerate(modes):
                    for a, area in enumerate(areas):
                        ax.plot(
                            t,
                            result["consistency_median"].isel(mapping=m, temporal=k, area=a).values,
                            marker="o",
                            label=f"{area} {mapping} {mode}",
                        )
            ax.set(xlabel="time bin start (ms)", ylabel="median consistency", title="consistency over time")
            ax.legend(fontsize=7)
            paths.append(save_figure(fig, out / "consistency_over_time.png"))

    if "predictivity" in result:
        layers = [str(layer) for layer in result["layer_name"].values]
        fig, axes = plt.subplots(1, len(areas), figsize=(4 * len(areas), 3.6), squeeze=False)
        for a, area in enumerate(areas):
            ax = axes[0, a]
            for m, mapping in enumerate(result["mapping_name"].values):
                for k, mode in enumerate(result["temporal_mode"].values):
                    sel = dict(mapping=m, temporal=k, area=a)
                    pm = _over_bins(result["predictivity_median"].isel(**sel))
                    ps = _over_bins(result["predictivity_sem"].isel(**sel))
                    line = ax.errorbar(
                        np.arange(len(layers)), pm, yerr=ps, marker="o", capsize=3, label=f"{mapping} {mode}"
                    )
                    ceiling = float(np.mean(_over_bins(result["consistency_median"].isel(**sel))))
                    ax.axhline(ceiling, color=line[0].get_color(), ls="--", lw=1)
            ax.set_xticks(np.arange(len(layers)), layers, rotation=45)
            ax.set(title=f"{area}: model vs inter-animal ceiling (dashed)", ylabel="median predictivity")
            ax.legend(fontsize=7)
        paths.append(save_figure(fig, out / "predictivity_per_layer.png"))

    if "rsa_consistency" in result:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        values = _over_bins(result["rsa_consistency"])  # area × animal
        for a in range(len(areas)):
            ax.scatter(np.full(values.shape[1], a), values[a], label=None)
        ax.set_xticks(np.arange(len(areas)), areas)
        ax.set(ylabel="noise-corrected RSA (per target animal)", title="RSA consistency")
        paths.append(save_figure(fig, out / "rsa.png"))
    return paths
