"""PNG figures of an object-solution-time analysis (:func:`goalstore.analyses.ost.ost_model_analysis`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure


def write_figures(result: xr.Dataset, out_dir: Path) -> list[Path]:
    """``ost_scatter.png``: each model's OST against the recording's, per image solved by both (one
    panel per model, Spearman ρ ± bootstrap s.d. in the title); ``i1_over_time.png``: the median I1
    over images per time bin, recording and models, with the median behavioural I1 as a dashed line;
    ``size_vs_consistency.png``: OST consistency (± bootstrap s.d.) against parameter count and
    against task accuracy (models whose catalog metadata lacks them are left out of that panel)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models = [str(m) for m in result["model_name"].values]
    area = result.attrs.get("area", "recording")
    neural = result["ost_neural"].values
    paths = []

    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.8), squeeze=False)
    for m, model in enumerate(models):
        ax = axes[0, m]
        ost = result["ost_model"].isel(model=m).values
        both = np.isfinite(ost) & np.isfinite(neural)
        ax.scatter(neural[both], ost[both], s=12, alpha=0.7)
        rho = float(result["ost_consistency"].isel(model=m))
        sem = float(result["ost_consistency_sem"].isel(model=m))
        ax.set(xlabel=f"{area} OST (ms)", ylabel=f"{model} OST (ms)",
               title=f"{model}: ρ = {rho:.2f} ± {sem:.2f} (n = {int(both.sum())})")
    fig.suptitle("object solution times, images solved by both")
    paths.append(save_figure(fig, out / "ost_scatter.png"))

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    times = result["time_bin_start"].values
    ax.plot(times, np.nanmedian(result["i1_neural"].values, axis=0), color="black", lw=2, label=area)
    for m, model in enumerate(models):
        ax.plot(times, np.nanmedian(result["i1_model"].isel(model=m).values, axis=0), marker="o", ms=3,
                label=model)
    ax.axhline(float(np.nanmedian(result["behaviour_i1"].values)), color="grey", ls="--", lw=1,
               label="behavioural I1 (median)")
    ax.set(xlabel="time bin start (ms)", ylabel="median normalised I1", title="I1 over time")
    ax.legend(fontsize=7)
    paths.append(save_figure(fig, out / "i1_over_time.png"))

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), squeeze=False)
    rho = result["ost_consistency"].values
    sem = result["ost_consistency_sem"].values
    for ax, key, label in ((axes[0, 0], "n_parameters", "parameters"), (axes[0, 1], "task_accuracy",
                                                                          "task accuracy")):
        x = result[key].values.astype(float)
        have = np.isfinite(x) & np.isfinite(rho)
        ax.errorbar(x[have], rho[have], yerr=np.nan_to_num(sem[have]), fmt="o", capsize=3)
        for i in np.flatnonzero(have):
            ax.annotate(models[i], (x[i], rho[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if key == "n_parameters" and have.any() and (x[have] > 0).all():
            ax.set_xscale("log")
        ax.axhline(0, color="black", lw=0.5)
        ax.set(xlabel=label, ylabel="OST consistency (Spearman ρ)")
    fig.suptitle("size and performance against OST consistency")
    paths.append(save_figure(fig, out / "size_vs_consistency.png"))
    return paths
