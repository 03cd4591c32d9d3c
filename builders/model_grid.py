"""Grids of trained models (architecture × cell × objective × seed) and their presets.

A :class:`ModelGridSpec` is one family of models trained alike: every architecture × (for a ConvRNN)
recurrent cell × objective × seed, with shared training settings.  A grid is one spec or several
sharing a name (a preset, or a JSON/YAML grid file holding one spec's fields or ``{"name": …,
"grids": [spec, …]}``); :func:`grid_points` expands it into :class:`GridPoint` s, each the parameters
of one ``model`` recipe run and a deterministic store name

    ``<architecture>[-<cell>]-<objective>-s<seed>-<key>``

where ``key`` is the first 10 hex digits of the sha256 of the point's fully resolved training config
(:func:`point_key`: the :class:`~builders.stimulus_training.ClassifierConfig` the ``model`` recipe trains
it with, every default included, plus the training stimuli and validation fraction — everything that
changes the weights, not the store name, family label or device), so the same config always gets the
same store, and a changed config — or a changed default of builders' training — a new one.  ``cells``
apply to the ConvRNN architectures (:data:`builders.convrnn.CONVRNN_ARCHITECTURES`, passed as their
``cell`` argument); any other architecture gets one point per objective and seed, with cell ``none``.

Presets: ``tiny`` (minutes on a 2-core CPU on the 64 × 64 ``embedded-objects``: convrnn6 with the
timedecay, gru and rgc cells, knet4, ResNet-18 and the mouse StreamNets, supervised and
SimCLR, one seed, width 0.125, 32 px, 15 epochs) and ``paper`` (the thesis' families at full scale:
ConvRNN-6/11 × the seven cells on ImageNet-sized images; the mouse models StreamNet-1/2/6, AlexNet
and ResNet-18 × every objective × 3 seeds at 64 px).  A spec's fields are the ``model`` recipe's parameters
(``goalstore.recipes.models.TrainModel``) that a grid sets, with the grid's own defaults (``width`` 1.0
where a single model's is 0.25; a grid file's missing field means the grid's default).  A spec checks only
what naming and keying its points needs (see :meth:`ModelGridSpec.__post_init__`); whether a store root can
train a point is the ``model`` recipe's check, which the ``model-grid`` recipe runs for every point before
anything trains.

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
from builders.stimulus_training import RESERVED_ARGS, ClassifierConfig, training_config
from builders.streamnet import STREAMNET_ARCHITECTURES

#: the recurrent cells of the ``paper`` ConvRNN family
PAPER_CELLS = ("timedecay", "simplernn", "gru", "lstm", "ugrnn", "intersection", "rgc")

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TUPLES = ("architectures", "cells", "objectives", "seeds")


@dataclass(frozen=True)
class GridPoint:
    """One model of a grid: its store ``name``, labels and ``params`` (the ``model`` recipe's parameters
    besides ``name``, ``objective`` and ``device``; ``args`` and ``objective_args`` as dicts)."""

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
                "args": json.dumps(self.params["args"], sort_keys=True),
                "objective_args": json.dumps(self.params["objective_args"], sort_keys=True)}


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
    #: output width (embedding) of a self-supervised objective's network
    embedding_dim: int = 128
    #: objective hyper-parameters (:data:`builders.stimulus_training.OBJECTIVE_PARAMS`; defaults there)
    objective_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check what naming and keying the points needs before a store root is known: the labels, the
        axes (architecture, cell, objective, seed: parts of the store names), every field's type, and the
        builders-side training config of every point (:class:`ClassifierConfig` refuses a bad optimiser,
        epochs, batch size, learning rate, objective parameter or a reserved architecture argument).  The
        ranges only the ``model`` recipe knows or checks (channels 1 or 3, input_size ≥ 8, width > 0,
        0 ≤ val_fraction < 1, the stimuli entry, the architecture arguments' values) are left to its
        ``check_model``, which the ``model-grid`` recipe runs for every point before anything trains."""
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
        types = {"epochs": (int, "an integer"), "input_size": (int, "an integer"),
                 "channels": (int, "an integer"), "batch_size": (int, "an integer"),
                 "embedding_dim": (int, "an integer"), "width": ((int, float), "a number"),
                 "lr": ((int, float), "a number"), "val_fraction": ((int, float), "a number"),
                 "augment": (bool, "true or false"), "stimuli": (str, "a stimuli store name"),
                 "data_path": (str, "a path"), "optimiser": (str, "an optimiser name"),
                 "args": (dict, "a mapping of architecture arguments"),
                 "objective_args": (dict, "a mapping of objective parameters")}
        for label, (kind, expected) in types.items():
            value = getattr(self, label)
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise ValueError(f"{where}: field {label!r} is {value!r}; expected {expected}")
        own = sorted(set(self.args) & {"cell", *RESERVED_ARGS})
        if own:
            raise ValueError(f"{where}: field 'args' sets {', '.join(own)}; expected them as the grid's own "
                             "fields (cells, channels, input_size, width; out_features = number of categories "
                             "or embedding_dim)")
        for arch in self.architectures:
            cell = self.cells[0] if arch in CONVRNN_ARCHITECTURES else "none"
            for objective in self.objectives:
                try:
                    self.training_config(arch, cell, objective, self.seeds[0])
                except (TypeError, ValueError) as exc:
                    label = "objective_args" if isinstance(exc, TypeError) else "training config"
                    raise ValueError(f"{where}: {label} of {arch} ({objective}): {exc}") from None

    def _args(self, architecture: str, cell: str) -> dict[str, Any]:
        return {**self.args, **({"cell": cell} if architecture in CONVRNN_ARCHITECTURES else {})}

    def training_config(self, architecture: str, cell: str, objective: str, seed: int) -> ClassifierConfig:
        """The builders-side training config of one point, as the ``model`` recipe resolves it
        (:func:`builders.stimulus_training.training_config`), on the CPU.  For ``supervised`` the output
        width is the training stimuli's category count, unknown before the store root is: 0 here (the
        stimuli store's name, part of the key, fixes it)."""
        return training_config(architecture=architecture, channels=self.channels, input_size=self.input_size,
                               width=float(self.width), epochs=self.epochs, batch_size=self.batch_size,
                               optimiser=self.optimiser, lr=float(self.lr), augment=self.augment, seed=seed,
                               objective=objective, embedding_dim=self.embedding_dim, n_categories=0,
                               options=self._args(architecture, cell), objective_args=self.objective_args)

    def points(self) -> list[GridPoint]:
        """Every model of this spec, in a fixed order (architecture, cell, objective, seed)."""
        out = []
        for arch in self.architectures:
            recurrent = arch in CONVRNN_ARCHITECTURES
            for cell, objective, seed in product(self.cells if recurrent else ("none",), self.objectives,
                                                 self.seeds):
                params = {"architecture": arch, "stimuli": self.stimuli, "width": float(self.width),
                          "input_size": self.input_size, "channels": self.channels, "epochs": self.epochs,
                          "batch_size": self.batch_size, "optimiser": self.optimiser, "lr": float(self.lr),
                          "augment": self.augment, "seed": seed, "val_fraction": float(self.val_fraction),
                          "args": self._args(arch, cell), "embedding_dim": self.embedding_dim,
                          "objective_args": dict(self.objective_args)}
                key = point_key(self.training_config(arch, cell, objective, seed), self.stimuli,
                                float(self.val_fraction))
                stem = f"{arch}-{cell}" if recurrent else arch
                out.append(GridPoint(f"{stem}-{objective}-s{seed}-{key}", self.name, self.family, cell,
                                     objective, key, params))
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def point_key(config: ClassifierConfig, stimuli: str, val_fraction: float) -> str:
    """The first 10 hex digits of the sha256 of a point's training: its fully resolved ``config`` (every
    :class:`ClassifierConfig` field but ``device``, defaults included, so a changed default changes the
    key; for ``supervised`` without ``out_features``, which the ``stimuli`` fix), the training ``stimuli``
    and ``val_fraction``, as canonical JSON.  It names the point's store and says whether a stored model is
    this point's."""
    training = config.as_dict()
    training.pop("device")
    if config.objective == "supervised":
        training.pop("out_features")
    document = {"training": training, "stimuli": stimuli, "val_fraction": float(val_fraction)}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=list).encode()).hexdigest()[:10]


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
    common = {"objectives": ("supervised", "simclr"), "epochs": 15, "width": 0.125, "input_size": 32,
              "batch_size": 32, "optimiser": "adam", "lr": 0.003}
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
