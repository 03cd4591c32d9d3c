"""PNG figures of ``goalstore analyze mec`` (:mod:`goalstore.analyses.mec_result`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure


def write_figures(result: xr.Dataset, out_dir: Path) -> list[Path]:
    """``mec_rate_maps.png`` (each model's top grid-score units), ``mec_scores.png`` (grid and border score
    distributions, models vs the real cells), and for networks ``mec_knockouts.png`` (error increase per
    knockout, mean ± s.e.m. over held-out repeats) and ``mec_error_by_step.png`` (decoding error vs time)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [_rate_maps(result, out), _scores(result, out)]
    networks = np.isfinite(result["decoding_error"].values)
    if networks.any():
        paths += [_knockouts(result.isel(model=np.flatnonzero(networks)), out),
                  _error_by_step(result.isel(model=np.flatnonzero(networks)), out)]
    return paths


def _rate_maps(result: xr.Dataset, out: Path) -> Path:
    models = [str(m) for m in result["model_name"].values]
    n_ex = result.sizes["example"]
    fig, axes = plt.subplots(len(models), n_ex, figsize=(1.9 * n_ex, 1.9 * len(models) + 0.4), squeeze=False)
    for i, model in enumerate(models):
        for j in range(n_ex):
            ax = axes[i, j]
            m = result["example_maps"].isel(model=i, example=j).values
            if np.isfinite(m).any():
                ax.imshow(m.T, origin="lower", cmap="jet")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(model, fontsize=7)
        order = np.argsort(-np.nan_to_num(result["grid_score"].isel(model=i).values, nan=-np.inf))[:n_ex]
        for j, u in enumerate(order):
            axes[i, j].set_title(f"grid {result['grid_score'].values[i, u]:.2f}", fontsize=7)
    fig.suptitle("rate maps of each model's top grid-score units", fontsize=9)
    return save_figure(fig, out / "mec_rate_maps.png")


def _scores(result: xr.Dataset, out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, name, threshold in ((axes[0], "grid", 0.3), (axes[1], "border", 0.5)):
        for i, model in enumerate(result["model_name"].values):
            v = result[f"{name}_score"].isel(model=i).values
            v = np.sort(v[np.isfinite(v)])
            if len(v):
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=str(model))
        if f"data_{name}_score" in result:
            v = np.sort(result[f"data_{name}_score"].values[np.isfinite(result[f"data_{name}_score"].values)])
            if len(v):
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", color="k", lw=2.2,
                        label=f"MEC ({result.attrs.get('recording', 'data')})")
        ax.axvline(threshold, color="grey", ls="--", lw=1)
        ax.set(xlabel=f"{name} score", ylabel="cumulative fraction of units", title=f"{name} scores")
    axes[0].legend(fontsize=6)
    return save_figure(fig, out / "mec_scores.png")


def _knockouts(result: xr.Dataset, out: Path) -> Path:
    kinds = [str(k) for k in result["knockout_name"].values if k != "none"]
    inc = result["knockout_increase"].isel(knockout=[i for i, k in enumerate(result["knockout_name"].values)
                                                     if k != "none"])
    mean = inc.mean("repeat").values
    sem = inc.std("repeat", ddof=1).values / np.sqrt(result.sizes["repeat"])
    models = [str(m) for m in result["model_name"].values]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(models) + 1.5), 3.4))
    width = 0.8 / len(kinds)
    x = np.arange(len(models))
    for k, kind in enumerate(kinds):
        ax.bar(x + (k - (len(kinds) - 1) / 2) * width, mean[:, k], width, yerr=sem[:, k], capsize=2, label=kind)
    ax.set_xticks(x, models, rotation=30, ha="right", fontsize=7)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(ylabel="decoding error increase (m)",
           title="knockouts (mean ± s.e.m. over repeats)")
    ax.legend(fontsize=7)
    return save_figure(fig, out / "mec_knockouts.png")


def _error_by_step(result: xr.Dataset, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for i, model in enumerate(result["model_name"].values):
        mean = result["error_by_step"].isel(model=i).values
        sem = result["error_by_step_sem"].isel(model=i).values
        t = result["time_s"].values
        ok = np.isfinite(mean)
        ax.errorbar(t[ok], mean[ok], yerr=sem[ok], capsize=1.5, label=str(model))
    ax.set(xlabel="time along the path (s)", ylabel="decoding error (m)",
           title="position decoding error vs path length")
    ax.legend(fontsize=6)
    return save_figure(fig, out / "mec_error_by_step.png")
