"""The ``goalstore`` command line.

Every command that prints results takes ``--json``.  Errors a user can cause
exit non-zero with one message on stderr (a traceback only with ``--debug``);
nothing stored is changed by a failed command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from goalstore.errors import ERROR_REPORT_ENV, GoalstoreError, SchemaError, report_error


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 48) -> str:
    cells = [[_cell(r.get(c), max_width) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _criteria(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SchemaError(f"search criterion {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SchemaError(f"parameter {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# ------------------------------------------------------------------ commands
def cmd_catalog(args: argparse.Namespace) -> int:
    import goalstore

    if args.action == "show":
        if not args.terms:
            raise SchemaError("catalog show: expected an entry NAME")
        meta = goalstore.describe(args.terms[0], home=args.home)
        if args.json:
            _print_json(meta)
        else:
            width = max(len(k) for k in meta)
            print("\n".join(f"{k.ljust(width)}  {v}" for k, v in meta.items()))
        return 0
    criteria = _criteria(args.terms) if args.action == "search" else {}
    frame = goalstore.search(home=args.home, **criteria)
    rows = frame.to_dict(orient="records")
    if args.json:
        _print_json(rows)
    elif rows:
        for row in rows:
            row["areas"] = ",".join(row["areas"] or [])
            row["sizes"] = " × ".join(f"{k}={v}" for k, v in (row["sizes"] or {}).items())
        print(_table(rows, ["name", "family", "kind", "species", "areas", "modality", "sizes",
                            "origin", "version"]))
    else:
        print("no matching entries")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    import goalstore

    obj = goalstore.open(args.reference, home=args.home, check=args.check)
    if hasattr(obj, "data_vars"):
        summary = {"reference": args.reference, "dims": dict(obj.sizes),
                   "coords": list(obj.coords), "data_vars": {
                       k: {"dims": list(v.dims), "dtype": str(v.dtype),
                           "units": v.attrs.get("units"), "lazy": v.chunks is not None}
                       for k, v in obj.data_vars.items()},
                   "attrs": {k: v for k, v in obj.attrs.items()}}
        text = str(obj)
    else:
        summary = {"reference": args.reference, "columns": list(obj.columns),
                   "npartitions": obj.npartitions}
        text = f"dask DataFrame with {obj.npartitions} partitions\n{obj.dtypes.to_string()}"
    if args.json:
        _print_json(summary)
    else:
        print(text)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    import goalstore

    versions = goalstore.history(args.name, home=args.home)
    if args.json:
        _print_json(versions)
        return 0
    rows = [{"version": v["version"], "commit": v["commit"][:10], "date": v["date"],
             "message": v["message"],
             "command": (v["provenance"] or {}).get("cmd", "(written directly)")} for v in versions]
    print(_table(rows, ["version", "commit", "date", "message", "command"]))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import goalstore

    report = goalstore.verify(args.name, home=args.home, all_versions=args.all_versions)
    if args.json:
        _print_json(report)
    else:
        for item in report:
            checked = f" ({len(item['versions'])} version(s))" if "versions" in item else ""
            print(f"{item['name']}: {'ok' if item['ok'] else 'FAILED'}{checked}")
            for problem in item["problems"]:
                print(f"    {problem}")
            for note in item.get("notes", []):
                print(f"    note: {note}")
        if not report:
            print("no stores to verify")
    return 0 if all(item["ok"] for item in report) else 11


def cmd_repair(args: argparse.Namespace) -> int:
    import goalstore

    report = goalstore.repair(home=args.home)
    if args.json:
        _print_json(report)
    else:
        if not report["repaired"] and report["catalog"] == "ok":
            print(f"{report['home']}: the catalog is healthy; nothing to repair (nothing written)")
        elif report["repaired"]:
            saved = f"saved in {report['commit'][:10]}" if report["commit"] else "same as the committed one"
            print(f"{report['home']}: catalog {report['catalog']} ({report['problem']}); rebuilt, {saved}")
        else:
            print(f"{report['home']}: catalog {report['catalog']} ({report['problem']}); nothing could be "
                  "rebuilt (nothing written)")
        for item in report["stores"]:
            print(f"    {item['name']}: {item['source']} (version {item['version']}, {item['checksum']})")
        for item in report["skipped"]:
            print(f"    {item['name']}: SKIPPED ({item['path']}): {item['reason']}")
    return 7 if report["skipped"] else 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    import goalstore

    result = goalstore.rebuild(args.name, home=args.home)
    if args.json:
        _print_json(result)
    else:
        verdict = "identical to" if result["identical"] else "DIFFERENT from"
        print(f"{result['name']}: re-executed `{result['command']}` (from {result['rerun_of'][:10]}); "
              f"result {verdict} version {result['reproduces']} ({result['checksum_after']}); now version "
              f"{result['version']}")
        if result.get("note"):
            print(f"  note: {result['note']}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    import goalstore
    from goalstore.api import build_lr_corpus

    params = _params(args.param)
    for option in ("preset", "device", "workers", "scheduler"):
        if getattr(args, option) is not None:
            params[option] = getattr(args, option)
    if args.recipe == "lr-corpus":
        built = build_lr_corpus(home=args.home, **params)
    else:
        built = goalstore.build(args.recipe, home=args.home, **params)
    if args.json:
        _print_json(built)
    else:
        for name, meta in built.items():
            print(f"built {name} (version {meta['version']}, {meta['checksum']})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from goalstore.api import import_lr_identify

    built = import_lr_identify(args.path, args.trust_pickle, name=args.name, home=args.home)
    if args.json:
        _print_json(built)
    else:
        for name, meta in built.items():
            print(f"imported {name} (version {meta['version']}, {meta['sizes']['row']} rows)")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from goalstore.api import produce

    produced = produce(args.recipe, home=args.home, **_params(args.param))
    for name, meta in produced.items():  # to stderr: under `datalad run` this is the recorded
        # command's output, and the caller's stdout must stay one JSON document under --json
        print(f"produced {name} ({meta['checksum']})", file=sys.stderr)
    return 0


def cmd_add_file(args: argparse.Namespace) -> int:
    import goalstore

    path = goalstore.add_file(args.name, args.path, home=args.home, force=args.force)
    if args.json:
        _print_json({"name": args.name, "path": str(path)})
    else:
        print(f"{args.name}: verified and stored at {path}")
    return 0


def cmd_analyze_synapses(args: argparse.Namespace) -> int:
    from goalstore.api import analyze_synapses

    report = analyze_synapses(args.cell_type, args.bootstrap, args.seed, args.out, home=args.home)
    if args.json:
        _print_json(report)
        return 0
    rows = []
    for cell, r in report["cell_types"].items():
        k = r["kesten"]
        rows.append({"cell type": cell, "synapses": r["n_synapses"], "states": r["n_states"],
                     "TV(stat,emp)": f"{r['stationary_vs_empirical_tv']:.3f}",
                     "survival end data/model": f"{r['survival_data'][-1]:.3f}/"
                                                f"{r['survival_model'][-1]:.3f}",
                     "a": f"{k['a']:.4f}", "b": f"{k['b']:.4f}", "c": f"{k['c']:.4f}",
                     "d": f"{k['d']:.4f}",
                     "R² mean (no add.)": f"{k['r2_mean']:.3f} ({k['r2_mean_no_additive']:.3f})",
                     "R² var (no add.)": f"{k['r2_var']:.3f} ({k['r2_var_no_additive']:.3f})",
                     "n": k["n_values"]})
    print(f"Synaptic weight dynamics ({next(iter(report['cell_types'].values()))['n_bootstrap']} "
          "bootstrap resamples over synapses)")
    print(_table(rows, list(rows[0])))
    print(_table(_synapse_change_rows(report), ["cell type", "never-present rows dropped", "π₀",
                                                "|ln w(t)/w(0)| (n)", "w at addition",
                                                "w before elimination", "log-normal σ", "max KS D"]))
    for name, store in report["stores"].items():
        print(f"result store {name}: version {store['version']}")
    if report["figures"]:
        print(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return 0


def _mean_sem(aligned: dict, index: int) -> str:
    if not aligned["n"]:
        return "-"
    sem = aligned["sem"][index]
    return f"{aligned['mean'][index]:.3f}" + ("" if sem is None else f" ± {sem:.3f}")


def _synapse_change_rows(report: dict) -> list[dict]:
    rows = []
    for cell, r in report["cell_types"].items():
        change, logn = r["relative_change"], r["lognormal"]
        add, elim = r["aligned_addition"], r["aligned_elimination"]
        i = change["day"].index(24) if 24 in change["day"] else -1  # the thesis reports day 24
        rows.append({"cell type": cell, "never-present rows dropped": r["n_never_present_dropped"],
                     "π₀": f"{r['stationary'][0]:.4f}",
                     "|ln w(t)/w(0)| (n)": f"day {change['day'][i]:g}: {change['mean'][i]:.3f} ± "
                                           f"{change['sem'][i]:.3f} ({r['relative_change_n_synapses']})",
                     "w at addition": _mean_sem(add, 0),
                     "w before elimination": _mean_sem(elim, -1),
                     "log-normal σ": f"{min(logn['sigma']):.3f}-{max(logn['sigma']):.3f}",
                     "max KS D": f"{max(logn['ks_statistic']):.3f}"})
    return rows


def cmd_analyze_lr_identify(args: argparse.Namespace) -> int:
    from goalstore.api import analyze_lr_identify

    classifiers = "rf,svm,conv1d" if args.classifier == "all" else args.classifier
    report = analyze_lr_identify(args.corpus, classifiers, args.observables, ",".join(args.holdout),
                                 args.subsample or "", args.samples, args.fast, args.seed, args.workers,
                                 args.scheduler or "", args.out, home=args.home,
                                 fractions=args.unit_fractions or "", noise=args.noise or "",
                                 n_splits=args.splits, cv=args.cv, relative_noise=args.relative_noise)
    if args.json:
        _print_json(report)
        return 0
    rows = [{"classifier": c, "observables": o,
             "accuracy": f"{v['accuracy_mean']:.3f} ± {v['accuracy_sem']:.3f}",
             "trajectory-averaged": "" if v["accuracy_trajectory_averaged"] is None
             else f"{v['accuracy_trajectory_averaged']:.3f}"}
            for c, per in report["classifiers"].items() for o, v in per.items()]
    first = next(iter(next(iter(report["classifiers"].values())).values()))
    print(f"Learning-rule identification on {args.corpus}: {report['n_examples']} examples, "
          f"{report['n_features']} features, chance = 1/{len(first['confusion']['labels'])}")
    print(_table(rows, ["classifier", "observables", "accuracy", "trajectory-averaged"]))
    for section in ("performance_control", "holdouts", "subsampling", "thirds", "noise"):
        if section in report:
            print(f"\n{section}: " + json.dumps(report[section], indent=1))
    print(f"result store {report['store']}: version {report['version']}")
    if report["figures"]:
        print(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return 0


def cmd_analyze_consistency(args: argparse.Namespace) -> int:
    from goalstore.api import analyze_consistency

    report = analyze_consistency(args.recording, args.mapping, args.pooled, args.splits, args.bootstrap,
                                 args.model or "", args.temporal, args.train_fraction, args.stratify or "",
                                 args.seed, args.out, home=args.home)
    if args.json:
        _print_json(report)
        return 0

    def fmt(values: Any) -> str:
        values = values if isinstance(values, list) else [values]
        finite = [v for v in values if v is not None]
        return f"{sum(finite) / len(finite):.3f}" if finite else "n/a"

    rows = []
    for area, entry in report["areas"].items():
        for mapping, v in entry.get("consistency", {}).items():
            pred = entry.get("predictivity", {}).get(mapping)
            best = pred["layers"][pred["best_layer"]] if pred and pred["best_layer"] else None
            rows.append({"area": area, "mapping": mapping, "units": v["n_units"],
                         "consistency": f"{fmt(v['median'])} ± {fmt(v['sem'])}",
                         "best layer": pred["best_layer"] if best else "",
                         "predictivity": f"{fmt(best['median'])} ± {fmt(best['sem'])}" if best else ""})
        if "rsa" in entry:
            rows.append({"area": area, "mapping": "rsa", "units": "",
                         "consistency": fmt(entry["rsa"]["median"]), "best layer": "", "predictivity": ""})
    bins = report["time_bins_ms"]
    print(f"Noise-corrected consistency of {args.recording} (median ± s.e.m. over target units"
          + (f", averaged over {len(bins)} time bins" if bins and len(bins) > 1 else "") + ")")
    print(_table(rows, ["area", "mapping", "units", "consistency", "best layer", "predictivity"]))
    print(f"result store {report['store']}: version {report['version']}")
    if report["figures"]:
        print(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return 0


def cmd_analyze_spatial(args: argparse.Namespace) -> int:
    from goalstore.api import analyze_spatial

    report = analyze_spatial(args.maps, args.field_threshold, args.min_field_bins, args.out, home=args.home,
                             n_shuffles=args.shuffles, seed=args.seed)
    if args.json:
        _print_json(report)
        return 0

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    columns = {"grid score": "grid_score", "border score": "border_score"}
    if report["n_shuffles"]:
        columns = {"grid score": "grid_score", "grid 95%": "grid_threshold", "grid p": "grid_p",
                   "border score": "border_score", "border 95%": "border_threshold", "border p": "border_p"}
    rows = [{"cell": c, **{k: fmt(v[n]) for k, n in columns.items()}} for c, v in report["cells"].items()]
    print(f"Spatial scores of {args.maps}: {report['n_grid_cells']} grid cells (score > "
          f"{report['thresholds']['grid']}), {report['n_border_cells']} border cells (score > "
          f"{report['thresholds']['border']}) of {report['n_cells']}")
    if report["n_shuffles"]:
        print(f"shuffle test ({report['n_shuffles']} shuffled maps per cell; score > their 95th percentile): "
              f"{report['n_grid_cells_shuffle']} grid cells, {report['n_border_cells_shuffle']} border cells")
    print(_table(rows, ["cell", *columns]))
    print(f"result store {report['store']}: version {report['version']}")
    if report["figures"]:
        print(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from goalstore import schema

    info = {"schema_version": schema.SCHEMA_VERSION, "kinds": list(schema.KINDS),
            "required_attrs": list(schema.REQUIRED_ATTRS), "dims": schema.describe(),
            "tables": {k: {"columns": {f.name: str(f.type) for f in v.schema},
                           "partition_by": list(v.partition_by)} for k, v in schema.TABLES.items()}}
    if args.json:
        _print_json(info)
        return 0
    print(f"schema version {info['schema_version']}; kinds: {', '.join(info['kinds'])}")
    print(f"required attrs: {', '.join(info['required_attrs'])}\n")
    rows = [{"dim": d["dim"], "required coords": ", ".join(
        f"{c} [{u}]" if u else c for c, u in d["required_coords"].items()),
        "description": d["description"]} for d in info["dims"]]
    print(_table(rows, ["dim", "required coords", "description"]))
    return 0


# -------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    def options(suppress: bool) -> argparse.ArgumentParser:
        # the same options before or after the subcommand; the subcommand's copies must
        # not overwrite a value given before it, hence SUPPRESS defaults there
        extra = {"default": argparse.SUPPRESS} if suppress else {}
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--json", action="store_true", help="print machine-readable JSON", **extra)
        common.add_argument("--home", help="store root (default: $GOALSTORE_HOME or ~/.goalstore)",
                            **({"default": None} | extra))
        common.add_argument("--debug", action="store_true", help="show tracebacks", **extra)
        return common

    common = options(suppress=True)
    parser = argparse.ArgumentParser(prog="goalstore", parents=[options(suppress=False)],
                                     description="versioned dataset and feature store for "
                                                 "goal-driven systems neuroscience")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("catalog", parents=[common], help="list, search or show catalog entries")
    p.add_argument("action", choices=["list", "search", "show"])
    p.add_argument("terms", nargs="*", help="KEY=VALUE criteria (search) or NAME (show)")
    p.set_defaults(func=cmd_catalog)

    p = sub.add_parser("open", parents=[common], help="open NAME[@VERSION] lazily, print a summary")
    p.add_argument("reference")
    p.add_argument("--check", action="store_true",
                   help="verify the content against its recorded checksum before opening (exit 8 if changed)")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("history", parents=[common], help="versions of a store with provenance")
    p.add_argument("name")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("verify", parents=[common], help="check checksums and annex integrity")
    p.add_argument("name", nargs="?")
    p.add_argument("--all-versions", action="store_true",
                   help="also check every older version's content against its recorded checksum")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("repair", parents=[common],
                       help="rebuild a missing or corrupt catalog.yaml from the stores on disk")
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser("rebuild", parents=[common], help="re-execute the recorded command")
    p.add_argument("name")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("build", parents=[common], help="build a store (recorded with datalad run)")
    p.add_argument("recipe")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--preset", help="lr-corpus: tiny, paper or a grid file (JSON/YAML)")
    p.add_argument("--device", help="lr-corpus: cpu, cuda or auto")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, help="lr-corpus: local dask.distributed workers")
    group.add_argument("--scheduler", help="lr-corpus: address of a dask.distributed scheduler")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("import", parents=[common], help="import a published data set into the store")
    p.add_argument("source", choices=["lr-identify"])
    p.add_argument("path")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow unpickling the file (a pickle can run code: only for trusted files)")
    p.add_argument("--name", default="lr-corpus-lr-identify",
                   help="store name of the imported corpus (its classifier view is NAME-view); "
                        "default lr-corpus-lr-identify")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("produce", parents=[common],
                       help="low level: write a recipe's store without saving (what datalad run records)")
    p.add_argument("recipe")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("add-file", parents=[common], help="register a downloaded file for a remote entry")
    p.add_argument("name")
    p.add_argument("path")
    p.add_argument("--force", action="store_true",
                   help="replace a kept copy by a different file (entries without a published checksum)")
    p.set_defaults(func=cmd_add_file)

    p = sub.add_parser("analyze", help="run an analysis into a versioned result store")
    analyses = p.add_subparsers(dest="analysis", required=True)
    a = analyses.add_parser("synapses", parents=[common],
                            help="Markov-chain and Kesten-process fits of synaptic weights")
    a.add_argument("--cell-type", default="all", choices=["pyr", "pv", "all"])
    a.add_argument("--bootstrap", type=int, default=30, help="bootstrap resamples over synapses")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default="goalstore-out/synapses", help="directory for the PNG figures")
    a.set_defaults(func=cmd_analyze_synapses)
    a = analyses.add_parser("lr-identify", parents=[common],
                            help="classify learning rules from a corpus' observable trajectories")
    a.add_argument("corpus", help="an lr_observables corpus store, e.g. lr-corpus-tiny")
    a.add_argument("--classifier", default="rf,svm",
                   help="rf, svm, conv1d, a comma-separated list, or all (default rf,svm)")
    a.add_argument("--observables", default="all,weights,activations,activity_change",
                   help="observable sets (comma-separated)")
    a.add_argument("--holdout", action="append", default=[], choices=["architecture", "curriculum", "task"],
                   help="hold out one group at a time (repeatable)")
    a.add_argument("--subsample", help="trajectory sampling periods in epochs, e.g. 5,15,25")
    a.add_argument("--samples", default="3", help="samples per trajectory for --subsample (comma-separated)")
    a.add_argument("--noise", help="measurement noise s.d. levels, e.g. 0,0.1,1 (needs CORPUS-units)")
    a.add_argument("--unit-fractions",
                   help="fractions of synapses / units kept, e.g. 0.05,0.25,1 (with --noise)")
    a.add_argument("--relative-noise", action="store_true",
                   help="--noise in units of each measured quantity's own s.d. (default: absolute)")
    a.add_argument("--fast", action="store_true", help="reduced grids for quick looks")
    a.add_argument("--splits", type=int, default=10, help="category-balanced 75/25 splits (default 10)")
    a.add_argument("--cv", type=int, default=5, help="cross-validation folds inside each split (default 5)")
    a.add_argument("--seed", type=int, default=0)
    group = a.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, default=2, help="local dask.distributed workers (default 2)")
    group.add_argument("--scheduler", help="address of an existing dask.distributed scheduler")
    a.add_argument("--out", default="goalstore-out/lr-identify", help="directory for the PNG figures")
    a.set_defaults(func=cmd_analyze_lr_identify)

    a = analyses.add_parser("consistency", parents=[common],
                            help="noise-corrected inter-animal consistency and model predictivity")
    a.add_argument("recording", help="a recording store, e.g. demo-recording")
    a.add_argument("--mapping", default="ridge",
                   help="one_to_one, ridge, lasso, elasticnet, pls, rsa, or a comma-separated list "
                        "(default ridge)")
    a.add_argument("--pooled", action="store_true", help="pool all other animals into one source animal")
    a.add_argument("--splits", type=int, default=10, help="train/test stimulus splits (default 10)")
    a.add_argument("--bootstrap", type=int, default=100, help="split-half draws of the trials (default 100)")
    a.add_argument("--model", help="an activations store: also score the model's layers")
    a.add_argument("--temporal", default="per_bin", choices=["per_bin", "fixed", "both"],
                   help="per-time-bin or temporally fixed mapping (default per_bin)")
    a.add_argument("--train-fraction", type=float, default=0.5, help="fraction of stimuli to train on")
    a.add_argument("--stratify", help="stimulus coordinate to stratify splits by (e.g. category)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default="goalstore-out/consistency", help="directory for the PNG figures")
    a.set_defaults(func=cmd_analyze_consistency)

    a = analyses.add_parser("spatial", parents=[common], help="grid and border scores of rate maps")
    a.add_argument("maps", help="a rate-map store (unit × x × y), e.g. demo-rate-maps")
    a.add_argument("--field-threshold", type=float, default=0.3, help="field = bins above this × peak rate")
    a.add_argument("--min-field-bins", type=int, default=8, help="minimum field area in bins")
    a.add_argument("--shuffles", type=int, default=100,
                   help="shuffled maps per cell for the shuffle test (default 100; 0 = thresholds only)")
    a.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    a.add_argument("--out", default="goalstore-out/spatial", help="directory for the PNG figures")
    a.set_defaults(func=cmd_analyze_spatial)

    p = sub.add_parser("schema", parents=[common], help="print the canonical schema")
    p.set_defaults(func=cmd_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GoalstoreError as exc:
        if args.debug:
            raise
        report = os.environ.get(ERROR_REPORT_ENV)
        if report and args.func is cmd_produce:  # a recorded command: hand the cause to the caller
            report_error(exc, report)
        print(f"goalstore: error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):  # one JSON document on stdout, also for an error
            error = {"error": str(exc), "exit_code": exc.exit_code, "error_type": type(exc).__name__}
            if getattr(exc, "name", None):
                error["entry"] = exc.name
            _print_json(error)
        return exc.exit_code
    except KeyboardInterrupt:
        print("goalstore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
