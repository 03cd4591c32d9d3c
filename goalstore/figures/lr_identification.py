"""PNG figures of a learning-rule identification result."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from goalstore.figures import save_figure


def write_figures(result: xr.Dataset, out: Path) -> list[Path]:
    """Accuracy per observable set × classifier, confusion matrices, importances and, when
    run, holdout accuracies, subsampling curves and train/test-third accuracies."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classifiers = [str(c) for c in result["classifier_name"].values]
    subsets = [str(o) for o in result["observable_set_name"].values]
    rules = [str(r) for r in result["rule_name"].values]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(classifiers)
    for c, name in enumerate(classifiers):
        acc = result["accuracy"].values[c]
        mean = np.nanmean(acc, axis=1)
        sem = np.nanstd(acc, axis=1, ddof=1) / np.sqrt(acc.shape[1])
        ax.bar(np.arange(len(subsets)) + c * width, mean, width, yerr=sem, label=name, capsize=3)
    ax.axhline(1 / len(rules), color="grey", ls="--", lw=1, label="chance")
    ax.set_xticks(np.arange(len(subsets)) + width * (len(classifiers) - 1) / 2, subsets)
    ax.set(ylabel="test accuracy (mean ± s.e.m. over splits)", ylim=(0, 1.05),
           title="learning-rule identification")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "accuracy.png"))

    all_index = subsets.index("all") if "all" in subsets else 0
    fig, axes = plt.subplots(1, len(classifiers), figsize=(4 * len(classifiers), 3.6), squeeze=False)
    for c, name in enumerate(classifiers):
        matrix = result["confusion"].values[c, all_index]
        normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axes[0, c].imshow(normalised, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(rules)):
            for j in range(len(rules)):
                axes[0, c].text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", fontsize=8)
        axes[0, c].set(xticks=range(len(rules)), yticks=range(len(rules)), xticklabels=rules, yticklabels=rules,
                       xlabel="predicted", ylabel="true", title=f"{name}, {subsets[all_index]} observables")
    paths.append(save_figure(fig, out / "confusion.png"))

    keys = [str(k) for k in result["statistic_key"].values]
    fig, ax = plt.subplots(figsize=(8, 5))
    y = np.arange(len(keys))
    gini = np.nan_to_num(result["gini_importance"].values)
    ax.barh(y - 0.2, gini / max(gini.sum(), 1e-12), 0.4, label="Gini (random forest, normalised)")
    perm = np.nan_to_num(result["permutation_importance"].values[0])
    ax.barh(y + 0.2, perm, 0.4, label=f"permutation ({classifiers[0]}, accuracy drop)")
    ax.set_yticks(y, keys, fontsize=7)
    ax.set(xlabel="importance", title="feature importance per statistic (all checkpoints)")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, out / "importances.png"))

    if "holdout_accuracy" in result:
        fig, ax = plt.subplots(figsize=(8, 4))
        holdouts = [str(k) for k in result["holdout_key"].values]
        for c, name in enumerate(classifiers):
            ax.plot(holdouts, result["holdout_accuracy"].values[c], "o", label=name)
        ax.axhline(1 / len(rules), color="grey", ls="--", lw=1)
        ax.set(ylabel="accuracy on the held-out group", ylim=(0, 1.05),
               title="generalisation to held-out groups")
        ax.tick_params(axis="x", rotation=45)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, out / "holdouts.png"))
    if "subsample_accuracy" in result:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        for p, period in enumerate(result["period_epochs"].values):
            left.plot(result["n_samples"].values, np.nanmean(result["subsample_accuracy"].values[p], axis=1),
                      "o-", label=f"every {int(period)} epochs")
        left.set(xlabel="samples per trajectory", ylabel="accuracy (random forest)", ylim=(0, 1.05),
                 title="trajectory subsampling")
        left.legend(fontsize=8)
        thirds = np.nanmean(result["third_accuracy"].values, axis=2)
        right.imshow(thirds, vmin=0, vmax=1, cmap="viridis")
        names = [str(t) for t in result["train_third_name"].values]
        for i in range(3):
            for j in range(3):
                right.text(j, i, f"{thirds[i, j]:.2f}", ha="center", va="center", color="w")
        right.set(xticks=range(3), yticks=range(3), xticklabels=names, yticklabels=names,
                  xlabel="test third", ylabel="train third", title="train on one third, test on another")
        paths.append(save_figure(fig, out / "subsampling.png"))
    if "realism_accuracy" in result:
        names = [str(o) for o in result["realism_observable_name"].values]
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.8), squeeze=False)
        for i, name in enumerate(names):
            surface = np.nanmean(result["realism_accuracy"].values[i], axis=-1)
            image = axes[0, i].imshow(surface, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
            axes[0, i].set(xticks=range(surface.shape[1]), yticks=range(surface.shape[0]),
                           xticklabels=[f"{s:g}" for s in result["noise_sigma"].values],
                           yticklabels=[f"{f:g}" for f in result["unit_fraction_value"].values],
                           xlabel=f"noise s.d. ({result['realism_accuracy'].attrs.get('noise', 'absolute')})",
                           ylabel="fraction kept (synapses / units)", title=name)
            fig.colorbar(image, ax=axes[0, i], label="accuracy")
        paths.append(save_figure(fig, out / "noise_units.png"))
    return paths
