"""Which learning rules does a random forest confuse — with IA's optimisers as in the thesis,
and with the earlier (wrong) pair?

The thesis (§6.3.8, Table 5.5) steps IA's forward weights with SGD + Nesterov momentum (the SGDM
rate) and its alignment loss with Adam; goalstore once stepped IA's forward weights with Adam
(and B with SGD + momentum at the same rate).  This script trains the ``tiny`` grid's 24 IA runs
with that earlier pair, swaps them for the corrected IA runs of a built ``lr-corpus-tiny``, and
classifies both corpora the same way (random forest, ``--fast`` grids, 10 splits × 5 folds), so
the confusion counts per observable set are compared in one run.

Needs ``goalstore build lr-corpus --preset tiny`` in the store root first.

Usage: python examples/ia_optimiser_confusions.py [--home DIR] [--workers N]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd


def _train_old_ia(work_dir: Path) -> pd.DataFrame:
    """The tiny grid's IA runs with IA's earlier optimiser pair (forward Adam, B by SGD + momentum
    at the forward rate), trained in this process (the patched rule must not leave it)."""
    from builders import rules, training
    from builders.grid import PRESETS
    from builders.sweep import load_runs, run_sweep

    rules.RULES["ia"] = dataclasses.replace(rules.RULES["ia"], forward_optimizer="adam",
                                            alignment_optimizer="sgdm")
    forward_rate = training.learning_rate

    def same_rate_for_both(config, schedule, epoch, optimizer=None):  # the earlier trainer's rates
        return forward_rate(config, schedule, epoch)

    training.learning_rate = same_rate_for_both
    grid = dataclasses.replace(PRESETS["tiny"], name="tiny-old-ia", rules=("ia",), keep_raw_layers=(),
                               keep_raw_epochs=())
    ids = run_sweep(grid.runs(), work_dir, workers=1)
    return load_runs(work_dir, ids)[0].to_pandas()


def main(argv: list[str]) -> int:
    import goalstore
    from goalstore.analyses.lr_identification import IdentificationConfig, identify_learning_rules, summary
    from goalstore.lr_corpus import FINITE_24, classifier_view
    from goalstore.store import StoreRoot

    home = argv[argv.index("--home") + 1] if "--home" in argv else None
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 2
    root = StoreRoot(home, create=False)
    corrected = goalstore.open("lr-corpus-tiny", home=home).compute()
    corrected["learning_rule"] = corrected["learning_rule"].astype(str)
    work_dir = root.scratch / "sweeps" / "tiny-old-ia" if home else Path(tempfile.mkdtemp())
    old_ia = _train_old_ia(work_dir)[list(corrected.columns)]
    others = corrected[corrected["learning_rule"] != "ia"]
    config = IdentificationConfig(classifiers=("rf",), fast=True)
    from dask.distributed import Client, LocalCluster

    report = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        for label, table in (("thesis pair (SGDM + Adam)", corrected),
                             ("earlier pair (Adam + SGDM)", pd.concat([others, old_ia], ignore_index=True))):
            view = classifier_view(table, FINITE_24)
            result = identify_learning_rules(view.cube, view.statistics, view.epochs, view.groups, config,
                                             client)
            rf = summary(result)["classifiers"]["rf"]
            report[label] = {o: {"accuracy": round(v["accuracy_mean"], 3),
                                 "confused_pairs": v["confused_pairs"]} for o, v in rf.items()}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
