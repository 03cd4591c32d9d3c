"""Recipes: named, deterministic producers of the stores goalstore builds itself.

``goalstore build RECIPE`` runs ``goalstore produce RECIPE --home . --params JSON``
through ``datalad run``, so the command that made a store is in its history and
``goalstore rebuild`` can re-execute it.  A recipe returns the objects to store
(one or more, named); it never writes: the store root does, atomically and
validated.  Inputs it reads from the store root are declared to ``datalad run``.

One module of this package per recipe family (``demo``, ``synapses``,
``consistency``, ``spatial``, ``lr_corpus``, ``lr_identification`` …), each with a
module-level ``RECIPES`` list; the registry below finds them by itself.  A recipe
declares its parameters once, as a frozen dataclass whose field types (int,
float, bool, str) and defaults are the parameters' types and defaults, and whose
field metadata (:func:`param`) carries the command-line flag and help.  From
that declaration come the typed parameters of ``goalstore produce``, the
``goalstore build --help`` listing and the ``goalstore analyze VERB`` commands
(verb = recipe name).  Recipes read their inputs through :mod:`goalstore.entries`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import importlib
import json
import pkgutil
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalstore.errors import EntryNotFoundError, SchemaError

#: field types a recipe parameter may have (its values travel as one JSON document)
PARAM_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Product:
    """One store a recipe produces."""

    obj: Any
    kind: str
    fmt: str = "zarr"
    #: a zarr directory in the root's scratch that ``obj`` was opened from: moved into place instead of
    #: written again (see :meth:`goalstore.store.StoreRoot.write`)
    adopt: str | None = None


@dataclass(frozen=True)
class NoParams:
    """The parameters of a recipe without any."""


def param(default: Any, *, help: str = "", flag: str | None = None, positional: bool = False,
          choices: list[str] | None = None, cli: Callable[[Any], Any] | None = None,
          cli_default: Any = dataclasses.MISSING, append: bool = False, build_option: bool = False) -> Any:
    """A recipe parameter with its default and how the command line spells it.

    ``flag``: the ``goalstore analyze`` option when it is not ``--<name-with-dashes>``;
    ``positional``: an argument instead of an option; ``cli``: converts the parsed command-line value
    (``None`` when the option is not given) to the parameter's value; ``cli_default``: the option's
    default where it differs from the parameter's; ``append``: a repeatable option (with ``positional``:
    one or more arguments), its values joined by commas; ``build_option``: also an option of
    ``goalstore build`` (besides ``--param K=V``)."""
    metadata = {"help": help, "flag": flag, "positional": positional, "choices": choices, "cli": cli,
                "append": append, "build_option": build_option}
    if cli_default is not dataclasses.MISSING:
        metadata["cli_default"] = cli_default
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Analysis:
    """The ``goalstore analyze <recipe name>`` command of a recipe that builds result stores.

    ``report(built, root, out, params)``: the document returned (and printed under ``--json``) from the
    catalog metadata of the stores built; ``render(report, params)``: its text form."""

    help: str
    out: str
    report: Callable[..., dict[str, Any]]
    render: Callable[[dict[str, Any], Any], str]
    aliases: tuple[str, ...] = ()  #: former verbs, still accepted (deprecated)


def _unchecked(params: Any, root: Any) -> Any:
    return params


@dataclass(frozen=True)
class Recipe:
    """How to produce stores: ``produce(root, params) -> {store name: Product}``; ``outputs(params)`` names
    them (with format) before they are made, ``inputs(params)`` names the catalog entries they read, and
    ``check(params, root)`` refuses bad input before anything runs (returning the parameters to build
    with).  ``parameters`` is the frozen dataclass declaring the parameters."""

    name: str
    produce: Callable[..., dict[str, Product]]
    outputs: Callable[[Any], list[tuple[str, str]]]
    inputs: Callable[[Any], list[str]] = field(default=lambda _: [])
    parameters: type = NoParams
    description: str = ""
    check: Callable[[Any, Any], Any] = _unchecked
    analysis: Analysis | None = None
    build_check: bool = False  #: ``goalstore build`` runs ``check`` too (else only the analysis/import does)
    exclusive: tuple[str, ...] = ()  #: parameters whose command-line options exclude each other
    #: stores to have before this recipe runs, as ``[(recipe name, parameters)]`` (built, or found
    #: cached, by :func:`goalstore.api.ensure` before the recipe's own build)
    requires: Callable[[Any, Any], list[tuple[str, dict[str, Any]]]] = field(default=lambda p, root: [])
    #: content-addressed recipes: ``cached(params, metadata)`` says whether a store registered under an
    #: output's name (``metadata``: its catalog metadata) already holds what ``params`` would produce
    cached: Callable[[Any, dict[str, Any]], bool] | None = None

    def fields(self) -> list[tuple[dataclasses.Field, type]]:
        """The declared parameters with their types, in declaration order."""
        hints = typing.get_type_hints(self.parameters)
        return [(f, hints[f.name]) for f in dataclasses.fields(self.parameters)]

    @property
    def params(self) -> dict[str, Any]:
        """The parameters' defaults, by name."""
        return {f.name: f.default for f, _ in self.fields()}

    def resolve(self, params: dict[str, Any]) -> Any:
        """The declared parameters with ``params`` given, each converted to its declared type
        (bool, int, float or str); an unknown name or a value that does not convert is refused."""
        types = {f.name: kind for f, kind in self.fields()}
        unknown = sorted(set(params) - set(types))
        if unknown:
            raise SchemaError(f"parameter {unknown[0]!r}: unknown for recipe {self.name!r}; expected "
                              f"{', '.join(types) or 'none'}")
        defaults = self.params
        return self.parameters(**{k: convert(self.name, k, v, types[k], defaults[k])
                                  for k, v in params.items()})


def convert(recipe: str, key: str, value: Any, kind: type, default: Any) -> Any:
    """``value`` as the declared type ``kind`` of parameter ``key`` (also from its text form:
    "true"/"false"/"1"/"0"… for a bool, "3" or 3.0 for an int; a mapping as its JSON text for a str);
    :class:`SchemaError` if it does not convert."""
    try:
        if kind is bool:
            text = str(value).strip().lower()
            if isinstance(value, bool) or text in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                return value if isinstance(value, bool) else text in ("true", "1", "yes", "on")
            raise ValueError
        if kind is int and not isinstance(value, bool):
            number = float(value) if not isinstance(value, int) else value
            if float(number) != int(number):
                raise ValueError
            return int(number)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        if kind is str and isinstance(value, dict):  # a JSON-object parameter given as a parsed mapping
            return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, OverflowError):
        pass
    raise SchemaError(f"parameter {key!r} of recipe {recipe!r}: {value!r} does not convert to {kind.__name__} "
                      f"(default {default!r})")


def as_dict(params: Any) -> dict[str, Any]:
    return dataclasses.asdict(params)


def hashed_name(stem: str, config: dict[str, Any]) -> str:
    """``<stem>-<hash>``: the name of a result store, ``hash`` = the first 10 hex digits of the SHA-256 of
    ``config`` (the parameters that change the result) as sorted-key JSON — other parameters, another
    store."""
    return f"{stem}-{hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]}"


def comma_list(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated parameter (``"a, b,"`` → ``["a", "b"]``)."""
    return [item.strip() for item in str(text).split(",") if item.strip()]


def refuse_repeats(names: list[str], field: str) -> None:
    """Refuse, in one line naming ``field``, a list that names an item more than once."""
    from goalstore.errors import AnalysisInputError

    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise AnalysisInputError(f"{field}: {', '.join(duplicated)} given more than once")


def check_entry(name: str, kind: str, root: Any) -> None:
    """Refuse an entry of the wrong kind up front, and download a remote entry (saving it in the store
    root) before the analysis runs inside ``datalad run``."""
    from goalstore import entries
    from goalstore.errors import AnalysisInputError

    meta = entries.describe(name, root)  # raises, with close names, for an unknown entry
    if meta.get("kind") not in (None, kind):
        raise AnalysisInputError(f"entry {name!r} is a {meta.get('kind')!r} entry; expected {kind}")
    if meta.get("remote"):
        entries.fetch(name, root)


def result_report(built: dict[str, dict[str, Any]], root: Any, out: str | Path | None,
                  summary: Callable[[Any], dict[str, Any]],
                  write_figures: Callable[[Any, Path], list[Path]]) -> dict[str, Any]:
    """The report of an analysis that built one result store: its name, version, ``summary`` of it,
    and (with ``out``) the PNGs ``write_figures`` writes there."""
    from goalstore import entries

    name, store = next(iter(built.items()))
    result = entries.open(name, root).load()
    report = {"store": name, "version": store["version"], **summary(result), "figures": []}
    if out is not None:
        report["figures"] = [str(p) for p in write_figures(result, Path(out))]
    return report


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: list[dict[str, Any]], columns: list[str], max_width: int = 48) -> str:
    """``rows`` as a plain-text table of ``columns`` (cells cut at ``max_width``)."""
    cells = [[_cell(r.get(c), max_width) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def result_lines(report: dict[str, Any]) -> list[str]:
    """The closing lines of a :func:`result_report`'s text: the result store, and where its figures are."""
    lines = [f"result store {report['store']}: version {report['version']}"]
    if report["figures"]:
        lines.append(f"{len(report['figures'])} figures in {Path(report['figures'][0]).parent}")
    return lines


# ------------------------------------------------------------------ registry
def _collect() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            for recipe in importlib.import_module(f"{__name__}.{info.name}").RECIPES:
                if recipe.name in recipes:
                    raise RuntimeError(f"recipe {recipe.name!r} is defined twice")
                recipes[recipe.name] = recipe
    return recipes


RECIPES: dict[str, Recipe] = _collect()


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise EntryNotFoundError(name, difflib.get_close_matches(name, list(RECIPES), n=5, cutoff=0.3)
                                 or list(RECIPES))
    return RECIPES[name]


def recipe_names() -> list[str]:
    return list(RECIPES)


def analyses() -> dict[str, Recipe]:
    """The recipes with a ``goalstore analyze`` command, by verb (the recipe name) and former verb."""
    out = {}
    for recipe in RECIPES.values():
        if recipe.analysis is not None:
            out[recipe.name] = recipe
            out.update({alias: recipe for alias in recipe.analysis.aliases})
    return out


def get_analysis(verb: str) -> Recipe:
    """The recipe behind ``goalstore analyze VERB`` (a recipe name, or a former verb)."""
    known = analyses()
    if verb not in known:
        raise EntryNotFoundError(verb, difflib.get_close_matches(verb, list(known), n=5, cutoff=0.3)
                                 or list(known))
    return known[verb]


# ------------------------------------------------------------- command line
def build_epilog() -> str:
    """``goalstore build --help``: every recipe with its parameters (name=default)."""
    lines = ["recipes (parameters as --param NAME=VALUE):"]
    for recipe in RECIPES.values():
        lines.append(f"  {recipe.name}: {recipe.description}")
        if recipe.params:
            lines.append("      " + " ".join(f"{k}={v!r}" for k, v in recipe.params.items()))
    return "\n".join(lines)


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``goalstore build`` declared by recipes (``param(..., build_option=True)``)."""
    seen: dict[str, argparse._ActionsContainer] = {}
    for recipe in RECIPES.values():
        declared = [(f, kind) for f, kind in recipe.fields() if f.metadata.get("build_option")]
        group = parser.add_mutually_exclusive_group() if any(f.name in recipe.exclusive
                                                              for f, _ in declared) else None
        for f, kind in declared:
            if f.name in seen:
                continue
            target = group if group is not None and f.name in recipe.exclusive else parser
            seen[f.name] = target
            target.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name,
                                type=None if kind is str else kind,
                                help=f"{recipe.name}: {f.metadata['help']}")


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    """The values of the ``goalstore build`` options given."""
    names = {f.name for recipe in RECIPES.values() for f, _ in recipe.fields()
             if f.metadata.get("build_option")}
    return {name: getattr(args, name) for name in sorted(names) if getattr(args, name, None) is not None}


def add_analyze_commands(subparsers: Any, common: argparse.ArgumentParser, func: Callable[..., int]) -> None:
    """One ``goalstore analyze VERB`` sub-command per analysis recipe, generated from its declaration."""
    for recipe in RECIPES.values():
        analysis = recipe.analysis
        if analysis is None:
            continue
        a = subparsers.add_parser(recipe.name, aliases=list(analysis.aliases), parents=[common],
                                  help=analysis.help + (f" (deprecated alias: {', '.join(analysis.aliases)})"
                                                        if analysis.aliases else ""))
        group = a.add_mutually_exclusive_group() if recipe.exclusive else None
        for f, kind in recipe.fields():
            meta = f.metadata
            target = group if group is not None and f.name in recipe.exclusive else a
            options: dict[str, Any] = {"help": meta.get("help") or None}
            if meta.get("positional"):
                if meta.get("append"):  # MODELS…: one or more values, joined by commas
                    options["nargs"] = "+"
                target.add_argument(f.name, **options)
                continue
            options["dest"] = f.name
            if kind is bool:
                options["action"] = "store_true"
            elif meta.get("append"):
                options.update(action="append", default=[])
            else:
                options["default"] = meta.get("cli_default", None if kind is str else f.default)
                if kind is not str:
                    options["type"] = kind
            if meta.get("choices"):
                options["choices"] = meta["choices"]
            shown = f.default if kind is str else options.get("default")
            if options["help"] and shown not in (None, "", []) and "default" not in options["help"]:
                options["help"] += f" (default: {shown})"
            target.add_argument(meta.get("flag") or f"--{f.name.replace('_', '-')}", **options)
        a.add_argument("--out", default=analysis.out, help="directory for the PNG figures")
        a.set_defaults(func=func, recipe=recipe.name)


def cli_params(recipe: Recipe, args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of ``recipe`` from its parsed ``goalstore analyze`` command line."""
    params = {}
    for f, _ in recipe.fields():
        value = getattr(args, f.name)
        if f.metadata.get("append"):
            value = ",".join(value)
        if f.metadata.get("cli") is not None:
            value = f.metadata["cli"](value)
        params[f.name] = f.default if value is None else value
    return params
