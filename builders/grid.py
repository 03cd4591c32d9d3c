"""Grid specifications of the learning-rule corpus and their presets.

The paper grid (thesis §6.3; notes §5) has 22 architecture–task pairs × 4 rules
(SGDM, Adam, FA, IA) × batch size {128, 256, 512} × 2 model seeds × 2 data-order
seeds = 1,056 runs of 100 epochs, checkpointed every 5 epochs (21 samples).
``tiny`` keeps the full rule/batch/seed grid on scikit-learn's digits with two
scaled-down architectures (96 runs × 21 checkpoints) so it trains on a CPU in
minutes (and keeps the raw matrices of its ``fc1`` layer at six checkpoints for the
measurement-realism analysis).  A grid can also be read from a JSON or YAML file with the fields of
:class:`GridSpec`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from builders.architectures import ARCHITECTURES
from builders.rules import PAPER_RULES, RULES
from builders.training import RunConfig
from builders.training_tasks import TASKS

PAPER_PAIRS: tuple[tuple[str, str], ...] = tuple(
    [(task, arch) for task in ("imagenet", "simclr", "wsn")
     for arch in ("alexnet", "alexnet-lrn", "resnet18", "resnet18v2", "resnet34", "resnet34v2")]
    + [("cifar10", arch) for arch in ("knet4", "knet4-lrn", "knet5", "knet5-lrn")]
)


@dataclass(frozen=True)
class GridSpec:
    """A grid of runs: every (task, architecture) pair × rule × batch size × seeds."""

    name: str
    pairs: tuple[tuple[str, str], ...]
    rules: tuple[str, ...] = PAPER_RULES
    batch_sizes: tuple[int, ...] = (128, 256, 512)
    model_seeds: tuple[int, ...] = (0, 1)
    data_seeds: tuple[int, ...] = (0, 1)
    epochs: int = 100
    checkpoint_every: int = 5
    width: float = 1.0
    input_size: int | None = None
    val_size: int = 512
    keep_raw_layers: tuple[str, ...] = ()
    keep_raw_epochs: tuple[int, ...] = ()
    data_paths: dict[str, str] = field(default_factory=dict)
    #: also keep every run's final weights (``weights.safetensors`` in its run directory; the
    #: ``lr-corpus`` recipe stores each as a model store ``model-<run_id>``)
    keep_final_weights: bool = False

    def __post_init__(self) -> None:
        for task, arch in self.pairs:
            if task not in TASKS:
                raise ValueError(f"grid {self.name!r}: unknown task {task!r}; expected one of "
                                 f"{', '.join(TASKS)}")
            if arch not in ARCHITECTURES:
                raise ValueError(f"grid {self.name!r}: unknown architecture {arch!r}; expected one of "
                                 f"{', '.join(ARCHITECTURES)}")
        for rule in self.rules:
            if rule not in RULES:
                raise ValueError(f"grid {self.name!r}: unknown learning rule {rule!r}; expected one of "
                                 f"{', '.join(RULES)}")
        if self.epochs % self.checkpoint_every:
            raise ValueError(f"grid {self.name!r}: epochs ({self.epochs}) must be a multiple of "
                             f"checkpoint_every ({self.checkpoint_every})")

    @property
    def n_checkpoints(self) -> int:
        return self.epochs // self.checkpoint_every + 1

    def runs(self) -> list[RunConfig]:
        """Every run of the grid, in a fixed order."""
        return [RunConfig(task, arch, rule, batch, model_seed, data_seed, self.epochs,
                          self.checkpoint_every, self.width, self.input_size, self.val_size,
                          keep_raw_layers=tuple(self.keep_raw_layers),
                          keep_raw_epochs=tuple(self.keep_raw_epochs),
                          data_path=self.data_paths.get(task), keep_final_weights=self.keep_final_weights)
                for (task, arch), rule, batch, model_seed, data_seed in product(
                    self.pairs, self.rules, self.batch_sizes, self.model_seeds, self.data_seeds)]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, GridSpec] = {
    "paper": GridSpec("paper", PAPER_PAIRS),
    # keeps fc1's raw weights, outputs and input gradients at 6 checkpoints (measurement realism)
    "tiny": GridSpec("tiny", (("digits", "knet4"), ("digits", "knet5")), epochs=20, checkpoint_every=1,
                     width=0.25, val_size=128, keep_raw_layers=("fc1",), keep_raw_epochs=(0, 4, 8, 12, 16, 20)),
}


def load_grid(spec: str) -> GridSpec:
    """A preset name (``tiny``, ``paper``) or the path of a JSON/YAML grid file."""
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"grid {spec!r}: not a preset ({', '.join(PRESETS)}) and no such file")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    raw.setdefault("name", path.stem)
    for key in ("pairs",):
        raw[key] = tuple(tuple(p) for p in raw[key])
    for key in ("rules", "batch_sizes", "model_seeds", "data_seeds", "keep_raw_layers", "keep_raw_epochs"):
        if key in raw:
            raw[key] = tuple(raw[key])
    try:
        return GridSpec(**raw)
    except TypeError as exc:
        raise ValueError(f"grid file {path}: {exc}") from None
