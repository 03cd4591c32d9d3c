"""Training a classifier network on preprocessed stimulus images (the demo models of the store).

:func:`train_classifier` takes float tensors (already resized and normalised: the caller owns the
preprocessing, so the extraction of the trained network can apply exactly the same) and integer
labels, and trains an architecture of :mod:`builders.networks` with a cross-entropy loss on its
output (a ConvRNN's output is its decoded logits, :mod:`builders.convrnn`)

.. math::  L = -\\frac{1}{B}\\sum_{i} \\log \\mathrm{softmax}(f(x_i))_{y_i}

by SGD with (Nesterov-free) momentum or Adam.  Everything random takes its seed from the config:
``torch.manual_seed(seed)`` before the network is built (so ``epochs=0`` is the untrained network
of that seed) and one ``torch.Generator`` seeded with ``seed`` for the batch order and the optional
augmentation (random horizontal flips and shifts of up to ``shift`` pixels, zero-padded).  On the
CPU the same config gives bit-identical weights.

Imports nothing from goalstore.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from builders.architectures import ARCHITECTURES
from builders.device import resolve_device
from builders.networks import build_network

OPTIMISERS = ("sgdm", "adam")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that defines one classifier training run (besides the data)."""

    architecture: str = "knet4"
    in_channels: int = 3
    input_size: int = 64
    out_features: int = 8
    width: float = 0.25
    epochs: int = 10
    batch_size: int = 32
    optimiser: str = "sgdm"  #: "sgdm" (SGD, momentum ``momentum``) or "adam"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    augment: bool = False  #: random flips and shifts (seeded)
    shift: int = 4  #: largest shift (pixels) of the augmentation
    seed: int = 0
    device: str = "cpu"  #: cpu, cuda or auto
    #: further architecture arguments (e.g. a ConvRNN's ``cell``, ``feedback``, ``time_steps``)
    options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"optimiser {self.optimiser!r}: expected one of {', '.join(OPTIMISERS)}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"epochs {self.epochs}, batch_size {self.batch_size}, lr {self.lr}: expected "
                             "epochs ≥ 0, batch_size ≥ 1, lr > 0")

    @property
    def architecture_args(self) -> dict[str, Any]:
        """The keyword arguments :func:`builders.networks.build_network` builds the network with."""
        args: dict[str, Any] = {"in_channels": self.in_channels, "input_size": self.input_size,
                                "out_features": self.out_features, "width": self.width}
        if self.architecture.lower() in ARCHITECTURES:  # the learning-rule grid's (not a ConvRNN)
            args["contrastive"] = False
        return {**args, **(self.options or {})}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _augment(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and integer shifts (zero-padded) of a batch, drawn from ``generator``."""
    n = x.shape[0]
    flips = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flips.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
    if shift <= 0:
        return x
    offsets = torch.randint(-shift, shift + 1, (n, 2), generator=generator).tolist()
    padded = F.pad(x, (shift, shift, shift, shift))
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, shift + dy: shift + dy + h, shift + dx: shift + dx + w]
                        for i, (dy, dx) in enumerate(offsets)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` (eval mode) on ``(x, y)``."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            xb, yb = x[start: start + batch_size].to(device), y[start: start + batch_size].to(device)
            logits = model(xb)
            loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    return loss / max(len(y), 1), correct / max(len(y), 1)


def train_classifier(config: ClassifierConfig, x: torch.Tensor, y: torch.Tensor,
                     x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None,
                     progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``config.architecture`` on ``x`` (float, N × C × H × W, preprocessed) and labels ``y``
    (int64 in ``[0, out_features)``); return the module (eval mode, on the CPU) and its metrics:
    ``train_loss``, ``train_accuracy`` (and ``val_loss``, ``val_accuracy`` with validation data),
    evaluated after training, plus ``epochs``, ``chance`` (1 / number of classes) and ``loss_curve``
    (the training curve: each epoch's mean minibatch loss, a list of ``epochs`` floats)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != (config.in_channels, config.input_size, config.input_size):
        raise ValueError(f"x: shape {list(x.shape)}; expected N × {config.in_channels} × {config.input_size} × "
                         f"{config.input_size}")
    if len(y) != len(x) or (len(y) and (int(y.min()) < 0 or int(y.max()) >= config.out_features)):
        raise ValueError(f"y: {len(y)} labels for {len(x)} images; expected one label in "
                         f"[0, {config.out_features}) per image")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = build_network(config.architecture, **config.architecture_args).to(device)
    if config.optimiser == "sgdm":
        optimiser: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=config.lr,
                                                           momentum=config.momentum,
                                                           weight_decay=config.weight_decay)
    else:
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    x, y = x.float(), y.long()
    epochs: Any = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"train {config.architecture}", leave=False)
    model.train()
    curve: list[float] = []
    for _ in epochs:
        order = torch.randperm(len(y), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(y), config.batch_size):
            index = order[start: start + config.batch_size]
            xb = x[index]
            if config.augment:
                xb = _augment(xb, config.shift, generator)
            logits = model(xb.to(device))
            loss = F.cross_entropy(logits, y[index].to(device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss {float(loss)}); lower the learning rate "
                                         f"(lr {config.lr})")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
        curve.append(total / max(count, 1))
        if progress and count:
            epochs.set_postfix(loss=f"{total / count:.3f}")
    model = model.cpu().eval()
    metrics: dict[str, float] = {"epochs": float(config.epochs), "chance": 1.0 / config.out_features}
    metrics["train_loss"], metrics["train_accuracy"] = evaluate(model, x, y)
    if x_val is not None and y_val is not None and len(y_val):
        metrics["val_loss"], metrics["val_accuracy"] = evaluate(model, x_val.float(), y_val.long())
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"metric {key} is {value}: training diverged")
    return model, {**metrics, "loss_curve": curve}
