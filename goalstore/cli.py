"""The ``goalstore`` command line.

Every command that prints results takes ``--json``.  Errors a user can cause
exit non-zero with one message on stderr (a traceback only with ``--debug``);
nothing stored is changed by a failed command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from goalstore.errors import ERROR_REPORT_ENV, GoalstoreError, SchemaError, report_error
from goalstore.recipes import table as _table


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _criteria(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` criteria; ``KEY<V``, ``KEY<=V``, ``KEY>V``, ``KEY>=V`` become ``{KEY: "<V"}`` … (a
    numeric field's comparison, see :func:`goalstore.catalog.search`)."""
    out = {}
    for pair in pairs:
        match = re.fullmatch(r"([A-Za-z_]+)\s*(<=|>=|<|>|=)(.*)", pair, re.DOTALL)
        if match is None:
            raise SchemaError(f"search criterion {pair!r}: expected KEY=VALUE (KEY<V, KEY>=V … for "
                              "a number)")
        key, op, value = match.groups()
        out[key] = value if op == "=" else op + value
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
    elif rows and all(row["kind"] == "model" for row in rows):
        print(_table(rows, ["name", "model_family", "architecture", "cell", "objective", "n_parameters",
                            "origin", "version"]))
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
    elif hasattr(obj, "tensors"):  # a model store: attrs, and the tensors' shapes (read from the header)
        summary = {"reference": args.reference, "attrs": obj.attrs,
                   "tensors": {name: list(obj.tensors[name].shape) for name in obj.tensors}}
        text = "\n".join([repr(obj), *(f"  {name}: {shape}" for name, shape in summary["tensors"].items())])
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

    report = goalstore.verify(args.name, home=args.home, all_versions=args.all_versions,
                              recheck=args.recheck, recheck_seed=args.recheck_seed)
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
    from goalstore import api, recipes

    spec = recipes.get_recipe(args.recipe)
    params = {**_params(args.param), **recipes.build_options(args)}
    build = api._build_checked if spec.build_check else api.build  # e.g. lr-corpus refuses a bad device first
    built = build(spec.name, home=args.home, **params)
    if args.json:
        _print_json(built)
    else:
        for name, meta in built.items():
            print(f"built {name} (version {meta['version']}, {meta['checksum']})")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from goalstore.api import extract
    from goalstore.recipes.extract import TIMING_PARAMS

    options = {k: getattr(args, k) for k in ("layers", "time_steps", "batch_size", "device", "reduce",
                                             "pca_fit", "seed", "workers", "scheduler", *TIMING_PARAMS)
               if getattr(args, k) is not None}
    result = extract(args.model, args.stimuli, home=args.home, **options)
    if args.json:
        _print_json(result)
    else:
        print(f"{'cached' if result['cached'] else 'extracted'} {result['store']}")
    return 0


def _print_imported(args: argparse.Namespace, built: dict[str, dict[str, Any]]) -> None:
    if args.json:
        _print_json(built)
        return
    for name, meta in built.items():
        size = " × ".join(f"{v} {k}" for k, v in meta.get("sizes", {}).items())
        print(f"imported {name} (version {meta['version']}{': ' + size if size else ''})")


def cmd_import_lr_identify(args: argparse.Namespace) -> int:
    from goalstore.api import import_lr_identify

    _print_imported(args, import_lr_identify(args.path, args.trust_pickle, name=args.name, home=args.home))
    return 0


def cmd_import_stimuli(args: argparse.Namespace) -> int:
    from goalstore.api import import_stimuli

    built = import_stimuli(args.path, name=args.name or "", source=args.source_kind or "", csv=args.csv,
                           size=args.size, subset=args.subset, home=args.home)
    if args.json:
        _print_json(built)
        return 0
    for name, meta in built.items():
        sizes = meta["sizes"]
        print(f"imported {name} (version {meta['version']}, {sizes['stimulus']} images of {sizes['channel']} x "
              f"{sizes['height']} x {sizes['width']})")
    return 0


def cmd_import_rate_maps(args: argparse.Namespace) -> int:
    from goalstore.api import import_rate_maps

    _print_imported(args, import_rate_maps(args.path, name=args.name or "", box_size_cm=args.box_size_cm,
                                           home=args.home))
    return 0


def cmd_import_model(args: argparse.Namespace) -> int:
    from goalstore.api import import_model

    arch_args = {}
    for pair in args.arg:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SchemaError(f"--arg {pair!r}: expected KEY=VALUE (an argument of architecture "
                              f"{args.architecture!r})")
        try:
            arch_args[key] = json.loads(value)
        except json.JSONDecodeError:
            arch_args[key] = value
    _print_imported(args, import_model(args.architecture, args.weights, name=args.name, args=arch_args,
                                       input_shape=args.input_shape, input_mean=args.input_mean,
                                       input_std=args.input_std, license=args.license, citation=args.citation,
                                       home=args.home))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from goalstore.api import produce

    params = _params(args.param)  # the form of the commands recorded before the parameters were one document
    if args.params is not None:
        try:
            document = json.loads(args.params)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"--params: not a JSON document ({exc})") from None
        if not isinstance(document, dict):
            raise SchemaError(f"--params: expected a JSON object of parameters; got {args.params!r}")
        params.update(document)
    produced = produce(args.recipe, home=args.home, **params)
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


def cmd_analyze(args: argparse.Namespace) -> int:
    from goalstore import recipes
    from goalstore.api import analyze

    spec = recipes.get_recipe(args.recipe)
    params = recipes.cli_params(spec, args)
    report = analyze(spec.name, home=args.home, out=args.out, **params)
    if args.json:
        _print_json(report)
    else:
        print(spec.analysis.render(report, spec.resolve(params)))
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
def _timing_options(p: argparse.ArgumentParser) -> None:
    """The extract recipe's time-axis options, as its parameters declare them."""
    import dataclasses

    from goalstore.recipes.extract import TIMING_PARAMS, Extract

    for f in dataclasses.fields(Extract):
        if f.name in TIMING_PARAMS:
            p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                           choices=f.metadata.get("choices"),
                           help=f"{f.metadata['help']} (default: {f.default})")


def build_parser() -> argparse.ArgumentParser:
    from goalstore import recipes

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
    p.add_argument("--recheck", type=int, default=0, metavar="N",
                   help="activations stores: re-extract a random sample of N stimuli and compare")
    p.add_argument("--recheck-seed", type=int, default=0, help="seed of the --recheck sample (default 0)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("extract", parents=[common],
                       help="a model's activations on a stimulus set (content-addressed, cached)")
    p.add_argument("model", help="model store")
    p.add_argument("stimuli", help="stimuli store")
    p.add_argument("--layers", help="comma-separated layer names (default: every observed layer)")
    p.add_argument("--time-steps", type=int, help="time steps of a recurrent model")
    p.add_argument("--batch-size", type=int, help="stimuli per forward pass (default 64; not in the key)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default auto (not in the key)")
    p.add_argument("--reduce", help="none (default), pca:K or random:K, per layer")
    p.add_argument("--pca-fit", help="stimuli store the PCA is fitted on (default embedded-objects)")
    p.add_argument("--seed", type=int, help="seed of the reduction / the time mapping (default 0)")
    _timing_options(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local dask.distributed workers (default 1)")
    where.add_argument("--scheduler", help="address of a dask.distributed scheduler")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("repair", parents=[common],
                       help="rebuild a missing or corrupt catalog.yaml from the stores on disk")
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser("rebuild", parents=[common], help="re-execute the recorded command")
    p.add_argument("name")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("build", parents=[common], help="build a store (recorded with datalad run)",
                       epilog=recipes.build_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a recipe parameter (repeatable); converted to the parameter's declared type")
    recipes.add_build_options(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("import", help="import data made elsewhere into the store (one sub-command per source)")
    imports = p.add_subparsers(dest="source", required=True)
    i = imports.add_parser("lr-identify", parents=[common], help="the published lr-identify dataset.pkl")
    i.add_argument("path")
    i.add_argument("--trust-pickle", action="store_true",
                   help="allow unpickling the file (a pickle can run code: only for trusted files)")
    i.add_argument("--name", default="lr-corpus-lr-identify",
                   help="store name of the imported corpus (its classifier view is NAME-view); "
                        "default lr-corpus-lr-identify")
    i.set_defaults(func=cmd_import_lr_identify)
    i = imports.add_parser("stimuli", parents=[common],
                           help="a stimulus set: a folder of images, class folders (ImageNet's train/), "
                                "binary CIFAR-10, a brainio CSV + zip, or a .npy array")
    i.add_argument("path", help="a folder of image files, a folder of class folders, the binary CIFAR-10 "
                                "folder, a brainio .zip (its CSV beside it) or a .npy file")
    i.add_argument("--name", help="store name (default: stimuli-<PATH's stem>)")
    i.add_argument("--source", dest="source_kind",
                   choices=["folder", "class-folders", "cifar10", "brainio", "npy"],
                   help="how to read PATH (default: cifar10 for a folder with batches.meta.txt, class-folders "
                        "for a folder whose subfolders hold the images, folder for another folder, brainio "
                        "for .zip, npy for .npy)")
    i.add_argument("--subset", choices=["train", "test", "all"], default="train",
                   help="cifar10 only: the training batches (default), the test batch or all (coordinate "
                        "subset)")
    i.add_argument("--csv", help="metadata CSV (default: the brainio CSV beside the zip; a folder's "
                                 "metadata.csv or <folder>.csv)")
    i.add_argument("--size", type=int, help="resize every image to SIZE x SIZE pixels")
    i.set_defaults(func=cmd_import_stimuli)
    i = imports.add_parser("rate-maps", parents=[common],
                           help="recorded rate maps: an .npz with firing_maps (cell × x × y), e.g. the Gerlei "
                                "open-field example")
    i.add_argument("path", help="an .npz with firing_maps (cell × x × y, Hz, NaN = unvisited), optional "
                                "cluster_id and session_id")
    i.add_argument("--name", help="store name (default: rate-maps-<PATH's stem>)")
    i.add_argument("--box-size-cm", type=float, default=100.0,
                   help="side of the square box the maps tile, in cm (default 100)")
    i.set_defaults(func=cmd_import_rate_maps)
    i = imports.add_parser("model", parents=[common],
                           help="network weights (.safetensors) of a known architecture")
    i.add_argument("architecture", help="architecture name (knet4, alexnet …; torchvision:NAME if installed)")
    i.add_argument("--weights", required=True, metavar="FILE",
                   help="the .safetensors file (pickles are refused)")
    i.add_argument("--name", default=None, help="store name (default: the file's name without suffix)")
    i.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                   help="an argument of the architecture (repeatable), e.g. in_channels=3 input_size=64")
    i.add_argument("--input-shape", default=None, metavar="C,H,W",
                   help="the network's input (default: in_channels,input_size,input_size)")
    i.add_argument("--input-mean", default=None, metavar="M[,M,M]",
                   help="per-channel mean of (image/255 − mean)/std (default 0.5)")
    i.add_argument("--input-std", default=None, metavar="S[,S,S]",
                   help="per-channel std of (image/255 − mean)/std (default 0.25)")
    i.add_argument("--license", default="unspecified", help="license of the weights")
    i.add_argument("--citation", default="unspecified", help="how to cite the weights")
    i.set_defaults(func=cmd_import_model)

    p = sub.add_parser("produce", parents=[common],
                       help="low level: write a recipe's store without saving (what datalad run records)")
    p.add_argument("recipe")
    p.add_argument("--params", metavar="JSON", help="the recipe's parameters as one JSON object")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="one parameter (repeatable; the form of commands recorded before --params)")
    p.set_defaults(func=cmd_produce)

    p = sub.add_parser("add-file", parents=[common], help="register a downloaded file for a remote entry")
    p.add_argument("name")
    p.add_argument("path")
    p.add_argument("--force", action="store_true",
                   help="replace a kept copy by a different file (entries without a published checksum)")
    p.set_defaults(func=cmd_add_file)

    p = sub.add_parser("analyze", help="run an analysis into a versioned result store")
    analyses = p.add_subparsers(dest="analysis", required=True)
    recipes.add_analyze_commands(analyses, common, cmd_analyze)

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
