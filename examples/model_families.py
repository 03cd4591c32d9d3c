"""The thesis' model families at CPU scale: train the ``tiny`` model grid and compare every model to the
embedded virtual recordings (the README's results table).

Steps, all through goalstore's recipes (so every store is versioned with the command that made it):

1. the embedded stimuli (``embedded-objects``, and ``embedded-objects-fit`` for the extraction PCA) and the
   virtual recordings ``demo-objects-recording`` (V4/IT, 4 bins) and ``demo-objects-timecourse`` (IT over
   70–260 ms with planted solution times and a behavioural I1);
2. ``goalstore build model-grid --grid tiny`` (ConvRNNs with three cells, knet4, ResNet-18 and
   StreamNet-1/2/6, each supervised and SimCLR; resumable);
3. ``goalstore analyze predictivity`` of every model against ``demo-objects-recording`` (best layer per area,
   as a fraction of the inter-animal ceiling);
4. ``goalstore analyze ost`` of every model against ``demo-objects-timecourse`` (recurrent models aligned to
   the recording's bins, feed-forward ones spread over them uniformly);

then prints one Markdown table (task accuracy: validation accuracy for supervised models, cosine 1-NN
category accuracy of the embedding for SimCLR ones; chance 0.125) and the mean fraction of the ceiling of
shallow contrastive models (StreamNets, SimCLR) and deep supervised ones (ResNet-18), the comparison of
thesis ch. 3 — here on virtual animals, not mouse data.  Writes the numbers as JSON to ``--out``.

Usage: python examples/model_families.py [--home DIR] [--out DIR] [--splits N]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from goalstore import api

RECORDING, TIMECOURSE = "demo-objects-recording", "demo-objects-timecourse"


def _option(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def _fmt(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str]) -> int:
    home = Path(_option(argv, "--home", str(Path(tempfile.mkdtemp()) / "store")))
    out = Path(_option(argv, "--out", "goalstore-out/model-families"))
    splits = _option(argv, "--splits", "3")
    api.ensure("embedded-objects", home=home)
    api.ensure("embedded-objects", home=home, seed=1, name="embedded-objects-fit")
    api.ensure("demo-objects-recording", home=home)
    api.ensure("demo-objects-timecourse", home=home)
    api.build("model-grid", home=home, grid="tiny")
    models = api.search(home=home, kind="model")
    names = sorted(str(n) for n in models["name"])
    leaderboard = api.analyze("predictivity", home=home, out=out / "predictivity", recording=RECORDING,
                              models=",".join(names), reduce="pca:100", pca_fit="embedded-objects-fit",
                              n_draws=20, n_splits=int(splits))
    ost = api.analyze("ost", home=home, out=out / "ost", recording=TIMECOURSE, model=",".join(names),
                      n_components=50, n_splits=int(splits), n_draws=3, n_boot=200)
    best = {area: {r["model"]: r for r in entry["ranking"]} for area, entry in leaderboard["areas"].items()}
    ceilings = {area: entry["ceiling"]["median"] for area, entry in leaderboard["areas"].items()}
    osts = {r["model"]: r for r in ost["models"]}
    rows = []
    for name in names:
        meta = api.describe(name, home=home)
        training, metrics = meta.get("training") or {}, meta.get("metrics") or {}
        rows.append({
            "model": name, "family": training.get("family"), "architecture": meta.get("architecture"),
            "cell": training.get("cell"), "objective": training.get("objective"),
            "task_accuracy": metrics.get("val_accuracy", metrics.get("val_knn_accuracy")),
            "n_parameters": meta.get("n_parameters"), "n_units": meta.get("n_units"),
            **{f"{area}_fraction_of_ceiling": best[area][name]["fraction_of_ceiling"] for area in best},
            **{f"{area}_best_layer": best[area][name]["best_layer"] for area in best},
            "ost_consistency": osts[name]["ost_consistency"],
            "ost_consistency_sem": osts[name]["ost_consistency_sem"],
        })
    areas = sorted(best)
    print("| model | cell | objective | task accuracy | parameters | units | "
          + " | ".join(f"{a} (fraction of ceiling, best layer)" for a in areas) + " | OST consistency |")
    print("|---" * (7 + len(areas)) + "|")
    for r in rows:
        label = r["architecture"] + ("" if r["cell"] in (None, "none") else f"-{r['cell']}")
        print(f"| {label} | {r['cell']} | {r['objective']} | {_fmt(r['task_accuracy'])} | "
              f"{r['n_parameters']:,} | {r['n_units']:,} | "
              + " | ".join(f"{_fmt(r[f'{a}_fraction_of_ceiling'])} ({r[f'{a}_best_layer']})" for a in areas)
              + f" | {_fmt(r['ost_consistency'])} ± {_fmt(r['ost_consistency_sem'])} |")
    print("\ninter-animal ceilings: " + ", ".join(f"{a} {_fmt(ceilings[a], 3)}" for a in areas))
    groups = {"shallow contrastive (StreamNets, SimCLR)":
              [r for r in rows if str(r["architecture"]).startswith("streamnet")
               and r["objective"] == "simclr"],
              "deep supervised (ResNet-18)":
              [r for r in rows if r["architecture"] == "resnet18" and r["objective"] == "supervised"]}
    comparison = {}
    for label, members in groups.items():
        comparison[label] = {a: sum(r[f"{a}_fraction_of_ceiling"] for r in members) / len(members)
                             for a in areas} if members else {}
        print(f"{label}: mean fraction of ceiling "
              + ", ".join(f"{a} {_fmt(v)}" for a, v in comparison[label].items()))
    out.mkdir(parents=True, exist_ok=True)
    document = {"rows": rows, "ceilings": ceilings, "comparison": comparison, "home": str(home)}
    (out / "model_families.json").write_text(json.dumps(document, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
