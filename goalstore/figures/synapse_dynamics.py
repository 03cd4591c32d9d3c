"""PNG figures of a synapse-dynamics result (one set per cell type)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure


def _band(ax, x, boot: xr.DataArray, color: str, label: str | None = None) -> None:
    low, high = np.percentile(boot.values, [2.5, 97.5], axis=0)
    ax.fill_between(x, low, high, color=color, alpha=0.25, lw=0, label=label)


def write_figures(result: xr.Dataset, out: Path) -> list[Path]:
    """Write the nine figures of one cell type's result into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cell = result.attrs.get("cell_type", "cells")
    states = result["state_id"].values
    paths = []

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(result["transition_matrix"].values, cmap="viridis", origin="lower",
                      norm=matplotlib.colors.PowerNorm(0.4))
    fig.colorbar(image, ax=ax, label="P(next state | state)")
    ax.set(xlabel="next state (0 = absent)", ylabel="state", title=f"{cell}: transition matrix")
    paths.append(save_figure(fig, out / f"{cell}_transition_matrix.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, color in (("stationary", "C0"), ("empirical", "C1")):
        _band(ax, states, result[f"{name}_boot"], color)
        ax.plot(states, result[name].values, "o-", color=color, ms=3, label=name)
    ax.set(xlabel="state (0 = absent)", ylabel="probability", yscale="log",
           title=f"{cell}: stationary vs empirical (95% bootstrap bands)")
    ax.legend()
    paths.append(save_figure(fig, out / f"{cell}_stationary_vs_empirical.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    steps = result["step_index"].values
    for i, start in enumerate(result["start_name"].values):
        curve = np.maximum(result["convergence"].values[i], 1e-16)
        ax.plot(steps, curve, label=str(start))
        _band(ax, steps, np.maximum(result["convergence_boot"].isel(start=i), 1e-16), f"C{i}")
    ax.set(xlabel="iteration", ylabel="TV distance to stationary", yscale="log",
           title=f"{cell}: convergence from different starts")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / f"{cell}_convergence.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    lags = result["lag_days"].values
    ax.plot(lags, result["change_correlation_data"].values, "o-", label="data")
    ax.plot(lags, result["change_correlation_model"].values, "s--", label="Markov chain samples")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="lag (days)", ylabel="corr(Δw(t), Δw(t+lag))",
           title=f"{cell}: Markov check")
    ax.legend()
    paths.append(save_figure(fig, out / f"{cell}_change_correlation.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    days = result["day"].values
    for name, color in (("survival_data", "C0"), ("survival_model", "C1")):
        _band(ax, days, result[f"{name}_boot"], color)
        ax.plot(days, result[name].values, "o-", color=color, label=name.replace("_", " "))
    ax.set(xlabel="day", ylabel="fraction of day-0 synapses still present", ylim=(0, 1.02),
           title=f"{cell}: survival")
    ax.legend()
    paths.append(save_figure(fig, out / f"{cell}_survival.png"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    w = result["kesten_mean_weight"].values
    grid = np.linspace(0, w.max() * 1.05, 50)
    p = {k: float(result[f"kesten_{k}"]) for k in ("a", "b", "c", "d", "a_no_additive", "b_no_additive")}
    left.plot(w, result["kesten_mean_change"].values, "o", label="binned data")
    left.plot(grid, p["a"] * grid + p["c"], label=f"a·w + c (R²={float(result['kesten_r2_mean']):.2f})")
    left.plot(grid, p["a_no_additive"] * grid, "--",
              label=f"a·w (R²={float(result['kesten_r2_mean_no_additive']):.2f})")
    left.set(xlabel="mean weight", ylabel="mean Δw", title=f"{cell}: Kesten mean")
    left.legend(fontsize=8)
    right.plot(w**2, result["kesten_var_change"].values, "o", label="binned data")
    right.plot(grid**2, p["b"] * grid**2 + p["d"],
               label=f"b·w² + d (R²={float(result['kesten_r2_var']):.2f})")
    right.plot(grid**2, p["b_no_additive"] * grid**2, "--",
               label=f"b·w² (R²={float(result['kesten_r2_var_no_additive']):.2f})")
    right.set(xlabel="(mean weight)²", ylabel="var Δw", title=f"{cell}: Kesten variance")
    right.legend(fontsize=8)
    paths.append(save_figure(fig, out / f"{cell}_kesten_fits.png"))
    paths += _change_figures(result, out, cell)
    return paths


def _change_figures(result: xr.Dataset, out: Path, cell: str) -> list[Path]:
    """Relative weight change, weights aligned to addition / elimination, log-normal fits."""
    paths = []
    days = result["day"].values
    fig, ax = plt.subplots(figsize=(6, 4))
    _band(ax, days, result["relative_change_boot"], "C0", label="95% bootstrap band")
    ax.errorbar(days, result["relative_change_mean"].values, yerr=result["relative_change_sem"].values,
                fmt="o-", color="C0", capsize=3, label="mean ± s.e.m.")
    ax.set(xlabel="day", ylabel="|ln(w(t) / w(0))|",
           title=f"{cell}: relative weight change ({int(result['relative_change_selected'])} persistent "
                 "synapses, day-0 weight 25-75th pct.)")
    ax.title.set_fontsize(9)
    ax.legend()
    paths.append(save_figure(fig, out / f"{cell}_relative_change.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    offset_days = result["offset_days"].values
    for event, color, marker in (("addition", "C2", "o"), ("elimination", "C3", "s")):
        count = result[f"aligned_{event}_count"].values
        keep = count > 0
        ax.errorbar(offset_days[keep], result[f"aligned_{event}_mean"].values[keep],
                    yerr=np.nan_to_num(result[f"aligned_{event}_sem"].values[keep]), fmt=f"{marker}-",
                    color=color, capsize=3, label=f"{event} (events: {int(count[keep].max())} at the event)")
    ax.axvline(0, color="grey", lw=0.5)
    ax.axhline(float(result["data_mean_weight"].values[0]), color="grey", ls="--", lw=0.8,
               label="mean weight of all synapses on day 0")
    ax.set(xlabel="days from appearance (≥ 0) / disappearance (< 0)", ylabel="mean weight",
           title=f"{cell}: weights aligned to addition and elimination")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / f"{cell}_aligned_weights.png"))

    n_sessions = result.sizes["session"]
    fig, axes = plt.subplots(1, n_sessions, figsize=(2.2 * n_sessions, 2.8), sharey=True, squeeze=False)
    centers = result["log_weight_center"].values
    width = float(centers[1] - centers[0]) if centers.size > 1 else 1.0
    edges = np.append(centers - width / 2, centers[-1] + width / 2)
    grid = np.linspace(edges[0], edges[-1], 200)
    for i, ax in enumerate(axes[0]):
        mu, sigma = float(result["lognormal_mu"][i]), float(result["lognormal_sigma"][i])
        ax.stairs(result["log_weight_density"].values[i], edges, fill=True, color="C0", alpha=0.6)
        ax.plot(grid, np.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)), "k-")
        ax.set_title(f"day {days[i]:g}\nKS D={float(result['lognormal_ks'][i]):.3f}", fontsize=8)
        ax.set_xlabel("ln w", fontsize=8)
    axes[0][0].set_ylabel("density of ln w")
    fig.suptitle(f"{cell}: log-normal fit per session", fontsize=10)
    paths.append(save_figure(fig, out / f"{cell}_lognormal_fits.png"))
    return paths
