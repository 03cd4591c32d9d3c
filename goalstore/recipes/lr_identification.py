"""Learning-rule identification: classifiers on a corpus' observable trajectories
(``goalstore analyze lr-identification``; formerly ``analyze lr-identify``, a name now left to the
importer ``goalstore import lr-identify``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalstore.errors import AnalysisInputError, GoalstoreError
from goalstore.lr_corpus import corpus_stores
from goalstore.recipes import Analysis, Product, Recipe, param, result_lines, result_report, table

ALL_CLASSIFIERS = "rf,svm,conv1d"


@dataclass(frozen=True)
class LrIdentification:
    corpus: str = param("lr-corpus-tiny", positional=True,
                        help="an lr_observables corpus store, e.g. lr-corpus-tiny")
    classifiers: str = param("rf,svm", flag="--classifier",
                             cli=lambda v: ALL_CLASSIFIERS if v == "all" else v,
                             help="rf, svm, conv1d, a comma-separated list, or all (default rf,svm)")
    observables: str = param("all,weights,activations,activity_change",
                             help="observable sets (comma-separated)")
    holdouts: str = param("", flag="--holdout", append=True, choices=["architecture", "curriculum", "task"],
                          help="hold out one group at a time (repeatable)")
    periods: str = param("", flag="--subsample", help="trajectory sampling periods in epochs, e.g. 5,15,25")
    n_samples: str = param("3", flag="--samples",
                           help="samples per trajectory for --subsample (comma-separated)")
    noise: str = param("", help="measurement noise s.d. levels, e.g. 0,0.1,1 (needs CORPUS-units)")
    fractions: str = param("", flag="--unit-fractions",
                           help="fractions of synapses / units kept, e.g. 0.05,0.25,1 (with --noise)")
    relative_noise: bool = param(False, help="--noise in units of each measured quantity's own s.d. "
                                             "(default: absolute)")
    fast: bool = param(False, help="reduced grids for quick looks")
    protocol: str = param("exhaustive", choices=["exhaustive", "pruned"],
                          help="grid search: exhaustive (default; every grid point by CV, the paper's "
                               "protocol) or pruned (out-of-bag forest rungs, SVM fold racing; the rule is "
                               "stored with the result)")
    margin_se: float = param(2.0, help="pruned search: prune grid points below the best by more than this many "
                                       "binomial standard errors (default 2)")
    n_splits: int = param(10, flag="--splits", help="category-balanced 75/25 splits (default 10)")
    cv: int = param(5, help="cross-validation folds inside each split (default 5)")
    seed: int = param(0)
    workers: int = param(1, cli_default=2, help="local dask.distributed workers (default 2)")
    scheduler: str = param("", help="address of an existing dask.distributed scheduler")


def _items(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _config(p: LrIdentification) -> Any:
    from goalstore.analyses.lr_identification import IdentificationConfig

    return IdentificationConfig(classifiers=_items(p.classifiers), observable_sets=_items(p.observables),
                                holdouts=_items(p.holdouts),
                                periods_epochs=tuple(int(x) for x in _items(p.periods)),
                                n_samples=tuple(int(n) for n in _items(p.n_samples)), fast=p.fast,
                                unit_fractions=tuple(float(f) for f in _items(p.fractions)),
                                noise_levels=tuple(float(s) for s in _items(p.noise)),
                                relative_noise=p.relative_noise, seed=p.seed, n_splits=p.n_splits, cv=p.cv,
                                protocol=p.protocol, margin_se=p.margin_se)


def check(p: LrIdentification, root: Any) -> LrIdentification:
    from goalstore.analyses.lr_identification import IdentificationConfig

    try:  # refuse bad names before anything runs
        IdentificationConfig(classifiers=_items(p.classifiers), observable_sets=_items(p.observables),
                             holdouts=_items(p.holdouts),
                             periods_epochs=tuple(int(x) for x in _items(p.periods)),
                             n_samples=tuple(int(n) for n in _items(p.n_samples)), n_splits=p.n_splits,
                             cv=p.cv, protocol=p.protocol, margin_se=p.margin_se)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    meta = root.metadata(p.corpus)
    if meta.get("table_kind") != "lr_observables":
        raise AnalysisInputError(f"store {p.corpus!r} is not a learning-rule corpus (lr_observables)")
    if bool(_items(p.fractions)) != bool(_items(p.noise)):
        raise AnalysisInputError("measurement realism needs both unit fractions and noise levels")
    if _items(p.fractions) and root.registered(corpus_stores(p.corpus).units) is None:
        raise AnalysisInputError(f"corpus {p.corpus!r} has no raw per-unit matrices ({p.corpus}-units); build "
                                 "it with keep_raw_layers in its grid to run unit subsampling and noise")
    return p


def produce(root: Any, p: LrIdentification) -> dict[str, Product]:
    from goalstore import entries
    from goalstore.analyses.lr_identification import identify_learning_rules

    config = _config(p)
    view = entries.classifier_view(p.corpus, root)
    performance = None
    try:
        runs = entries.open(corpus_stores(p.corpus).runs, root).compute().set_index("run_id")
        measures = ["train_loss", "val_loss", "train_accuracy", "val_accuracy"]
        final = runs[measures].map(lambda curve: float(curve[-1]) if len(curve) else float("nan"))
        performance = final.reindex(view.groups["run_id"]).to_numpy(dtype=float)
    except GoalstoreError:  # no runs table (e.g. an imported corpus): the control is not defined
        performance = None
    units = entries.open(corpus_stores(p.corpus).units, root) if config.unit_fractions else None
    from builders.dask_client import dask_client

    with dask_client(p.workers, p.scheduler or None) as executor:
        result = identify_learning_rules(view.cube, view.statistics, view.epochs, view.groups, config, executor,
                                         performance, units)
    result.attrs["corpus"] = p.corpus
    return {f"lr-identification-{p.corpus}": Product(result, "result")}


def report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
           p: LrIdentification) -> dict[str, Any]:
    from goalstore.analyses.lr_identification import summary
    from goalstore.figures.lr_identification import write_figures

    return result_report(built, root, out, summary, write_figures)


def render(report: dict[str, Any], p: LrIdentification) -> str:
    import json

    rows = [{"classifier": c, "observables": o,
             "accuracy": f"{v['accuracy_mean']:.3f} ± {v['accuracy_sem']:.3f}",
             "trajectory-averaged": "" if v["accuracy_trajectory_averaged"] is None
             else f"{v['accuracy_trajectory_averaged']:.3f}"}
            for c, per in report["classifiers"].items() for o, v in per.items()]
    first = next(iter(next(iter(report["classifiers"].values())).values()))
    lines = [f"Learning-rule identification on {p.corpus}: {report['n_examples']} examples, "
             f"{report['n_features']} features, chance = 1/{len(first['confusion']['labels'])}",
             table(rows, ["classifier", "observables", "accuracy", "trajectory-averaged"])]
    lines += [f"\n{section}: " + json.dumps(report[section], indent=1)
              for section in ("performance_control", "holdouts", "subsampling", "thirds", "noise")
              if section in report]
    return "\n".join([*lines, *result_lines(report)])


RECIPES = [
    Recipe("lr-identification", produce,
           outputs=lambda p: [(f"lr-identification-{p.corpus}", "zarr")],
           inputs=lambda p: [corpus_stores(p.corpus).view, p.corpus],
           parameters=LrIdentification, check=check, exclusive=("workers", "scheduler"),
           description="classify learning rules from a corpus' observable trajectories",
           analysis=Analysis(help="classify learning rules from a corpus' observable trajectories",
                             out="goalstore-out/lr-identify", report=report, render=render,
                             aliases=("lr-identify",))),
]
