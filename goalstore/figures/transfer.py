"""PNG figures of transfer read-outs (:mod:`goalstore.analyses.transfer`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure

METRIC_LABELS = {"accuracy": "accuracy", "pearson_r": "Pearson r", "circular_r": "circular correlation"}


def write_figures(result: xr.Dataset, out_dir: Path) -> list[Path]:
    """``transfer_per_layer.png``: one panel per target, its held-out read-out score over the layers
    (input to output; mean ± s.e.m. over splits, one line per time bin where decoded per bin), chance
    as a dashed line."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = [str(v) for v in result["layer_name"].values]
    targets = [str(v) for v in result["target_name"].values]
    per_bin = "time_bin" in result["score"].dims
    n_cols = min(len(targets), 3)
    n_rows = int(np.ceil(len(targets) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.4 * n_rows), squeeze=False)
    x = np.arange(len(layers))
    for i, target in enumerate(targets):
        ax = axes.flat[i]
        score, sem = result["score"].isel(target=i), result["score_sem"].isel(target=i)
        if per_bin:
            starts = (result["time_bin_start"].values if "time_bin_start" in result.coords
                      else np.arange(result.sizes["time_bin"]))
            colours = plt.cm.viridis(np.linspace(0, 0.9, len(starts)))
            for b, start in enumerate(starts):
                ax.errorbar(x, score.isel(time_bin=b).values, yerr=sem.isel(time_bin=b).values, marker="o",
                            ms=3, capsize=2, color=colours[b], label=f"{start:g} ms")
            ax.legend(fontsize=6, ncol=2)
        else:
            ax.errorbar(x, score.values, yerr=sem.values, marker="o", capsize=3, color="C0")
        ax.axhline(float(result["chance"].values[i]), color="grey", ls="--", lw=1)
        metric = str(result["target_metric"].values[i])
        ax.set_xticks(x, layers, rotation=45, ha="right")
        kind = str(result["target_kind"].values[i])
        ax.set(title=target if kind == "category" else f"{target} ({kind})",
               ylabel=METRIC_LABELS.get(metric, metric))
    for ax in axes.flat[len(targets):]:
        ax.set_visible(False)
    fig.suptitle("transfer read-outs per layer on held-out images (dashed: chance)")
    return [save_figure(fig, out / "transfer_per_layer.png")]
