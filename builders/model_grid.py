"""Grids of trained models (architecture × cell × objective × seed) and their presets.

A :class:`ModelGridSpec` is one family of models trained alike: every architecture × (for a ConvRNN)
recurrent cell × objective × seed, with shared training settings.  A grid is one spec or several
sharing a name (a preset, or a JSON/YAML grid file holding one spec's fields or ``{"name": …,
"grids": [spec, …]}``); :func:`grid_points` expands it into :class:`GridPoint` s, each the parameters
of one ``model`` recipe run and a deterministic store name

    ``<architecture>[-<cell>]-<objective>-s<seed>-<key>``

where ``key`` is the first 10 hex digits of the sha256 of the point's training config (everything
that changes the weights: not the store name, family label or device), so the same config always
gets the same store and a changed config a new one.  ``cells`` apply to the ConvRNN architectures
(:data:`builders.convrnn.CONVRNN_ARCHITECTURES`, passed as their ``cell`` argument); any other
architecture gets one point per objective and seed, with cell ``none``.

Presets: ``tiny`` (minutes on a 2-core CPU on the 64 × 64 ``embedded-objects``: convrnn6 with the
timedecay, gru and rgc cells, knet4, ResNet-18 and the mouse StreamNets, supervised and
SimCLR, one seed, width 0.125, 32 px, 2 epochs) and ``paper`` (the thesis' families at full scale:
ConvRNN-6/11 × the seven cells on ImageNet-sized images; the mouse models StreamNet-1/2/6, AlexNet
and ResNet-18 × every objective × 3 seeds at 64 px).  Objectives are validated against
:data:`OBJECTIVES`; whether a store root can train one is the ``model`` recipe's business.

Imports nothing from goalstore.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from builders.convrnn import CONVRNN_ARCHITECTURES
from builders.networks import architectures
from builders.objectives import OBJECTIVES
from builders.rnn_cells import CELLS
from builders.stimulus_training import OPTIMISERS
from builders.streamnet import STREAMNET_ARCHITECTURES

#: the recurrent cells of the ``paper`` ConvRNN family
PAPER_CELLS = ("timedecay", "simplernn", "gru", "lstm", "ugrnn", "intersection", "rgc")

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TUPLES = ("architectures", "cells", "objectives", "seeds")


@dataclass(frozen=True)
class GridPoint:
    """One model of a grid: its store ``name``, labels and ``params`` (the ``model`` recipe's parameters
    besides ``name``, ``objective`` and ``device``; ``args`` as a dict)."""

    name: str
    grid: str
    family: str
    cell: str
    objective: str
    key: str
    params: dict[str, Any]

    def model_params(self, device: str = "cpu") -> dict[str, Any]:
        """The parameters of the ``model`` recipe that trains this point."""
        return {**self.params, "name": self.name, "device": device, "objective": self.objective,
                "args": json.dumps(self.params["args"], sort_keys=True)}


@dataclass(frozen=True)
class ModelGridSpec:
    """One family of models: every architecture × cell (ConvRNNs) × objective × seed, trained alike."""

    name: str
    family: str
    architectures: tuple[str, ...]
    cells: tuple[str, ...] = ("none",)
    objectives: tuple[str, ...] = ("supervised",)
    seeds: tuple[int, ...] = (0,)
    stimuli: str = "embedded-objects"  #: the training stimuli store (its ``category`` labels)
    #: where the training images come from (e.g. an ImageNet-style folder to import as ``stimuli``)
    data_path: str = ""
    epochs: int = 10
    width: float = 1.0
    input_size: int = 64
    channels: int = 3
    batch_size: int = 32
    optimiser: str = "sgdm"
    lr: float = 0.01
    augment: bool = False
    val_fraction: float = 0.25
    #: further architecture arguments (a ConvRNN's ``time_steps``, ``feedback`` …)
    args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"grid {self.name!r}"
        for label in ("name", "family"):
            value = getattr(self, label)
            if not isinstance(value, str) or not _LABEL.fullmatch(value):
                raise ValueError(f"{where}: field {label!r} is {value!r}; expected letters, digits, '.', "
                                 "'_' or '-' (from a letter or digit)")
        for label in _TUPLES:
            value = getattr(self, label)
            if not isinstance(value, tuple) or not value or len(set(value)) != len(value):
                raise ValueError(f"{where}: field {label!r} is {value!r}; expected a non-empty list of "
                                 "distinct values")
        known = set(architectures())
        for arch in self.architectures:
            if arch not in known:
                raise ValueError(f"{where}: field 'architectures': unknown architecture {arch!r}; expected "
                                 f"some of {', '.join(sorted(known))}")
        for cell in self.cells:
            if cell not in CELLS:
                raise ValueError(f"{where}: field 'cells': unknown cell {cell!r}; expected some of "
                                 f"{', '.join(CELLS)}")
        for objective in self.objectives:
            if objective not in OBJECTIVES:
                raise ValueError(f"{where}: field 'objectives': unknown objective {objective!r}; expected "
                                 f"some of {', '.join(OBJECTIVES)}")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ValueError(f"{where}: field 'seeds' is {list(self.seeds)!r}; expected integers ≥ 0")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"{where}: field 'optimiser' is {self.optimiser!r}; expected one of "
                             f"{', '.join(OPTIMISERS)}")
        checks = {"epochs": (int, lambda v: v >= 0, "an integer ≥ 0"),
                  "input_size": (int, lambda v: v >= 8, "an integer ≥ 8"),
                  "channels": (int, lambda v: v in (1, 3), "1 or 3"),
                  "batch_size": (int, lambda v: v >= 1, "an integer ≥ 1"),
                  "width": ((int, float), lambda v: v > 0, "a number > 0"),
                  "lr": ((int, float), lambda v: v > 0, "a number > 0"),
                  "val_fraction": ((int, float), lambda v: 0 <= v < 1, "a number in [0, 1)"),
                  "augment": (bool, lambda v: True, "true or false"),
                  "stimuli": (str, lambda v: bool(v), "a stimuli store name"),
                  "data_path": (str, lambda v: True, "a path"),
                  "args": (dict, lambda v: True, "a mapping of architecture arguments")}
        for label, (kind, ok, expected) in checks.items():
            value = getattr(self, label)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool) or not ok(value):
                raise ValueError(f"{where}: field {label!r} is {value!r}; expected {expected}")
        own = sorted(set(self.args) & {"cell", "in_channels", "input_size", "out_features", "width"})
        if own:
            raise ValueError(f"{where}: field 'args' sets {', '.join(own)}; expected them as the grid's own "
                             "fields (cells, channels, input_size, width; out_features = number of categories)")

    def points(self) -> list[GridPoint]:
        """Every model of this spec, in a fixed order (architecture, cell, objective, seed)."""
        out = []
        for arch in self.architectures:
            recurrent = arch in CONVRNN_ARCHITECTURES
            for cell, objective, seed in product(self.cells if recurrent else ("none",), self.objectives,
                                                 self.seeds):
                args = {**self.args, **({"cell": cell} if recurrent else {})}
                params = {"architecture": arch, "stimuli": self.stimuli, "width": float(self.width),
                          "input_size": self.input_size, "channels": self.channels, "epochs": self.epochs,
                          "batch_size": self.batch_size, "optimiser": self.optimiser, "lr": float(self.lr),
                          "augment": self.augment, "seed": seed, "val_fraction": float(self.val_fraction),
                          "args": args}
                key = point_key(params, objective)
                stem = f"{arch}-{cell}" if recurrent else arch
                out.append(GridPoint(f"{stem}-{objective}-s{seed}-{key}", self.name, self.family, cell,
                                     objective, key, params))
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def point_key(params: dict[str, Any], objective: str) -> str:
    """The first 10 hex digits of the sha256 of a point's training config (``params`` and ``objective``,
    as canonical JSON): what names its store and says whether a stored model is this point's."""
    document = json.dumps({**params, "objective": objective}, sort_keys=True, default=list)
    return hashlib.sha256(document.encode()).hexdigest()[:10]


def grid_points(specs: tuple[ModelGridSpec, ...]) -> list[GridPoint]:
    """Every point of a grid (its specs in order); two points with one store name are refused."""
    points = [p for spec in specs for p in spec.points()]
    seen: set[str] = set()
    for point in points:
        if point.name in seen:
            raise ValueError(f"grid {point.grid!r}: point {point.name!r} appears twice; expected distinct "
                             "architectures, cells, objectives and seeds across the grid's families")
        seen.add(point.name)
    return points


def _tiny() -> tuple[ModelGridSpec, ...]:
    common = {"objectives": ("supervised", "simclr"), "epochs": 2, "width": 0.125, "input_size": 32,
              "batch_size": 32, "optimiser": "adam", "lr": 0.001}
    specs = [ModelGridSpec("tiny", "convrnn", ("convrnn6",), ("timedecay", "gru", "rgc"),
                           args={"time_steps": 6}, **common),
             ModelGridSpec("tiny", "feedforward", ("knet4", "resnet18"), **common),
             ModelGridSpec("tiny", "mouse", STREAMNET_ARCHITECTURES, **common)]
    return tuple(specs)


def _paper() -> tuple[ModelGridSpec, ...]:
    return (ModelGridSpec("paper", "convrnn", ("convrnn6", "convrnn11"), PAPER_CELLS, stimuli="imagenet-224",
                          data_path="imagenet/train", epochs=50, input_size=224, batch_size=256, lr=0.1),
            ModelGridSpec("paper", "mouse", (*STREAMNET_ARCHITECTURES, "alexnet", "resnet18"),
                          objectives=OBJECTIVES, seeds=(0, 1, 2), stimuli="imagenet-64",
                          data_path="imagenet/train", epochs=50, input_size=64, batch_size=256, lr=0.1))


#: preset name → its specs (built on use)
PRESETS = {"tiny": _tiny, "paper": _paper}


def _spec(raw: Any, name: str, where: str) -> ModelGridSpec:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a grid is {type(raw).__name__}; expected a mapping of grid fields")
    raw = {"name": name, **raw}
    fields = {f.name for f in dataclasses.fields(ModelGridSpec)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; expected {', '.join(sorted(fields))}")
    missing = [f for f in ("family", "architectures") if f not in raw]
    if missing:
        raise ValueError(f"{where}: field {missing[0]!r} is missing")
    for key in _TUPLES:
        if key in raw:
            value = raw[key]
            raw[key] = tuple(value) if isinstance(value, list) else (value,) if isinstance(value, (str, int)) \
                else value
    return ModelGridSpec(**raw)


def load_model_grid(spec: str) -> tuple[ModelGridSpec, ...]:
    """A preset name (``tiny``, ``paper``) or the path of a JSON/YAML grid file: one spec's fields, or
    ``{"name": …, "grids": [spec fields, …]}`` (the name defaults to the file's stem)."""
    if spec in PRESETS:
        return PRESETS[spec]()
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"grid {spec!r}: not a preset ({', '.join(PRESETS)}) and no such file")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"grid file {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"grid file {path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"grid file {path}: is a {type(raw).__name__}; expected a mapping of grid fields")
    name = raw.pop("name", path.stem)
    where = f"grid file {path}"
    if "grids" in raw:
        parts = raw.pop("grids")
        if raw:
            raise ValueError(f"{where}: field {sorted(raw)[0]!r} beside 'grids'; expected only name and grids")
        if not isinstance(parts, list) or not parts:
            raise ValueError(f"{where}: field 'grids' is {parts!r}; expected a non-empty list of grids")
        return tuple(_spec(part, name, f"{where} grids[{i}]") for i, part in enumerate(parts))
    return (_spec(raw, name, where),)


def write_model_grid(specs: tuple[ModelGridSpec, ...], path: str | Path) -> Path:
    """Write ``specs`` as a grid file (YAML for a ``.yaml``/``.yml`` path, else JSON) that
    :func:`load_model_grid` reads back to equal specs."""
    path = Path(path)
    names = {s.name for s in specs}
    if len(names) != 1:
        raise ValueError(f"grid: specs named {sorted(names)}; expected one grid name")
    parts = [{k: list(v) if isinstance(v, tuple) else v for k, v in s.as_dict().items() if k != "name"}
             for s in specs]
    document = {"name": specs[0].name, "grids": parts}
    if path.suffix in (".yaml", ".yml"):
        import yaml

        path.write_text(yaml.safe_dump(document, sort_keys=False))
    else:
        path.write_text(json.dumps(document, indent=2))
    return path
