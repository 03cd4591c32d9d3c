"""Training one network under one learning rule while recording its observables.

:class:`RunConfig` fully determines a run; its ``run_id`` is derived from the
fields that affect the result, so the same config always has the same id and,
on the same device, gives identical statistics.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from builders.architectures import build_architecture
from builders.augment import CORPUS_VIEWS, random_views
from builders.device import resolve_device
from builders.objectives import nt_xent
from builders.observables import record_layers
from builders.rules import BASE_LR, get_rule
from builders.training_tasks import TaskData, load_task

#: NT-Xent temperature τ of the contrastive tasks (SimCLR's; the mouse objectives' is a config field)
CONTRASTIVE_TEMPERATURE = 0.5

#: SGDM base learning rates (batch 256) by architecture family (thesis Table 5.5); others use BASE_LR.
SGDM_BASE_LR = {"resnet": 0.125, "alexnet": 0.0125}


def base_learning_rate(optimizer: str, architecture: str) -> float:
    """Base learning rate (batch size 256) of ``optimizer`` for ``architecture``: SGD + Nesterov
    momentum 0.125 for ResNets, 0.0125 for AlexNets, 0.1 otherwise; Adam 1e-3."""
    if optimizer == "sgdm":
        for family, lr in SGDM_BASE_LR.items():
            if architecture.startswith(family):
                return lr
    return BASE_LR[optimizer]


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run of the grid."""

    task: str
    architecture: str
    learning_rule: str
    batch_size: int
    model_seed: int
    data_seed: int
    epochs: int = 100
    checkpoint_every: int = 5
    width: float = 1.0
    input_size: int | None = None
    val_size: int = 512
    base_lr: float | None = None  #: forward lr at batch 256; None → base_learning_rate of the rule's optimiser
    metaparameters: dict[str, float] = field(default_factory=dict)  #: primitive weights override
    keep_raw_layers: tuple[str, ...] = ()  #: layers whose raw per-unit matrices are kept
    keep_raw_epochs: tuple[int, ...] = ()  #: checkpoints at which they are kept (empty: all)
    data_path: str | None = field(default=None, compare=False)
    #: keep the final weights (``RunResult.state``); does not change the run, so not part of ``run_id``
    keep_final_weights: bool = field(default=False, compare=False)

    @property
    def run_id(self) -> str:
        """Readable prefix + a digest of every field that affects the result, including the rule's
        definition (optimiser pair, primitives), so a changed rule never reuses an old run."""
        fields = {k: v for k, v in asdict(self).items() if k not in ("data_path", "keep_final_weights")}
        rule = asdict(get_rule(self.learning_rule))
        rule.pop("description")
        fields["rule"] = rule
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=list).encode()).hexdigest()
        return f"{self.task}-{self.architecture}-{self.learning_rule}-b{self.batch_size}-" \
               f"m{self.model_seed}-d{self.data_seed}-{digest[:10]}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def learning_rate(config: RunConfig, schedule: str, epoch: float, optimizer: str | None = None) -> float:
    """Learning rate of ``optimizer`` (default: the rule's forward optimiser) at (fractional)
    ``epoch``: its base rate (``config.base_lr`` for the forward one if set, else
    :func:`base_learning_rate`) rescaled linearly with the batch size; constant (CIFAR-10, digits)
    or a linear warm-up over the first 5% of training then ×0.1 at 30%, 60% and 80% of it (the
    100-epoch ImageNet-style schedule)."""
    rule = get_rule(config.learning_rule)
    forward = optimizer is None or optimizer == rule.forward_optimizer
    optimizer = optimizer or rule.forward_optimizer
    base = config.base_lr if forward and config.base_lr else base_learning_rate(optimizer, config.architecture)
    lr = base * config.batch_size / 256
    if schedule == "constant":
        return lr
    fraction = epoch / config.epochs
    if fraction < 0.05:
        return lr * max(fraction / 0.05, 1e-3)
    return lr * 0.1 ** sum(fraction >= m for m in (0.3, 0.6, 0.8))


@dataclass
class RunResult:
    config: RunConfig
    rows: list[dict]
    record: dict[str, Any]
    raw: dict[int, dict[str, dict[str, torch.Tensor]]]
    #: the final state dict (CPU copies) when ``config.keep_final_weights``, else None
    state: dict[str, torch.Tensor] | None = None
    #: ``{"architecture", "architecture_args", "input_shape"}`` (what rebuilds the network) and, for
    #: image tasks, ``input_mean`` / ``input_std`` (its input normalisation)
    network: dict[str, Any] | None = None


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start: start + batch_size]


def _loss(model, data: TaskData, x, y, generator):
    if data.contrastive:  # two views (CORPUS_VIEWS) through the network and its projection head
        first, second = (model(random_views(x, generator, **CORPUS_VIEWS)) for _ in range(2))
        return nt_xent(first, second, CONTRASTIVE_TEMPERATURE), None
    logits = model(x)
    return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()


def _evaluate(model, data: TaskData, device, generator) -> tuple[float, float]:
    model.eval()
    losses, correct, count = [], 0.0, 0
    with torch.no_grad():
        for index in _batches(len(data.val), 512, torch.Generator().manual_seed(0)):
            x, y = (t.to(device) for t in data.val.batch(index))
            loss, acc = _loss(model, data, x, y, generator)
            losses.append(float(loss) * len(index))
            correct += float(acc) * len(index) if acc is not None else math.nan
            count += len(index)
    model.train()
    return sum(losses) / count, correct / count


def train_run(config: RunConfig, device: str = "cpu", data: TaskData | None = None,
              progress: bool = False) -> RunResult:
    """Train one network and record its observables at every checkpoint (epoch 0 included)."""
    torch_device = resolve_device(device)
    rule = get_rule(config.learning_rule)
    if config.metaparameters:
        rule = rule.with_metaparameters(**config.metaparameters)
    data = data or load_task(config.task, config.data_path, config.input_size)
    torch.manual_seed(config.model_seed)
    model = build_architecture(config.architecture, data.in_channels, data.input_size,
                               128 if data.contrastive else data.n_classes, config.width,
                               contrastive=data.contrastive).to(torch_device)
    from builders.rules import RuleTrainer

    alignment_lr = learning_rate(config, data.schedule, 0.0, rule.alignment_optimizer) \
        if rule.alignment_optimizer else None
    trainer = RuleTrainer(model, rule, learning_rate(config, data.schedule, 0.0), alignment_lr=alignment_lr)
    generator = torch.Generator().manual_seed(config.data_seed)
    val_index = torch.randperm(len(data.val), generator=torch.Generator().manual_seed(1))[: config.val_size]
    stimuli = data.val.batch(val_index)[0].to(torch_device)
    keep = set(config.keep_raw_layers)
    rows, raw = [], {}
    curves: dict[str, list[float]] = {"train_loss": [], "train_accuracy": [], "val_loss": [],
                                      "val_accuracy": []}
    status, diverged_epoch = "completed", None

    def checkpoint(epoch: int) -> None:
        wanted = keep if not config.keep_raw_epochs or epoch in config.keep_raw_epochs else set()
        layer_rows, layer_raw = record_layers(model, model.observed, stimuli, wanted)
        rows.extend({**r, "epoch": epoch} for r in layer_rows)
        if layer_raw:
            raw[epoch] = layer_raw

    started = time.perf_counter()
    checkpoint(0)
    n_train, steps_per_epoch = len(data.train), math.ceil(len(data.train) / config.batch_size)
    epochs = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=config.run_id, leave=False)
    for epoch in epochs:
        losses, accs = [], []
        for step, index in enumerate(_batches(n_train, config.batch_size, generator)):
            trainer.set_lr(learning_rate(config, data.schedule, epoch + step / steps_per_epoch))
            x, y = (t.to(torch_device) for t in data.train.batch(index))
            loss, acc = _loss(model, data, x, y, generator)
            if not torch.isfinite(loss):
                status, diverged_epoch = "diverged", epoch
                break
            trainer.step(loss)
            losses.append(float(loss.detach()))
            accs.append(float(acc) if acc is not None else math.nan)
        if status == "diverged":
            break
        val_loss, val_acc = _evaluate(model, data, torch_device, generator)
        for key, value in (("train_loss", sum(losses) / len(losses)), ("train_accuracy", sum(accs) / len(accs)),
                           ("val_loss", val_loss), ("val_accuracy", val_acc)):
            curves[key].append(value)
        if (epoch + 1) % config.checkpoint_every == 0:
            checkpoint(epoch + 1)
    record = {**config.as_dict(), "run_id": config.run_id, "status": status,
              "diverged_epoch": diverged_epoch, "wall_time_s": time.perf_counter() - started,
              "device": str(torch_device), **curves}
    run_fields = {k: getattr(config, k) for k in ("task", "architecture", "learning_rule", "batch_size",
                                                  "model_seed", "data_seed")}
    rows = [{"run_id": config.run_id, **run_fields, **r} for r in rows]
    network = {"architecture": config.architecture,
               "architecture_args": {"in_channels": data.in_channels, "input_size": data.input_size,
                                     "out_features": 128 if data.contrastive else data.n_classes,
                                     "width": config.width, "contrastive": data.contrastive},
               "input_shape": [data.in_channels, data.input_size, data.input_size],
               **({"input_mean": list(data.normalisation[0]), "input_std": list(data.normalisation[1])}
                  if data.normalisation else {})}
    state = {name: t.detach().cpu().clone().contiguous() for name, t in model.state_dict().items()} \
        if config.keep_final_weights else None
    return RunResult(config, rows, record, raw, state, network)
