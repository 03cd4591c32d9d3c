"""Training a network on preprocessed stimulus images under one objective (the model stores' networks).

:func:`train_model` takes float tensors (already resized and normalised: the caller owns the
preprocessing, so the extraction of the trained network can apply exactly the same), optional integer
labels and optional dense targets (depth maps), and trains an architecture of :mod:`builders.networks`
under an objective of :mod:`builders.objectives` — ``supervised`` (the cross-entropy of the network's
output, e.g. a ConvRNN's decoded logits, :mod:`builders.convrnn`)

.. math::  L = -\\frac{1}{B}\\sum_{i} \\log \\mathrm{softmax}(f(x_i))_{y_i}

or a self-supervised one (``autoencoder``, ``depth``, ``rotnet``, ``instance``, ``simclr``, ``mocov2``,
``simsiam``: the network's output is then the embedding, ``out_features`` wide) — by SGD with
(Nesterov-free) momentum or Adam, on the network's and the objective's heads' parameters.  Only the
network is returned: the heads are training-only.  :func:`train_classifier` is the supervised case.

Everything random takes its seed from the config: ``torch.manual_seed(seed)`` before the network (then
the objective's heads, bank or queue) is built (so ``epochs=0`` is the untrained network of that seed)
and one ``torch.Generator`` seeded with ``seed`` for the batch order, the optional augmentation (random
horizontal flips and shifts of up to ``shift`` pixels, zero-padded: :func:`builders.augment.flip_shift`)
and the objective's views.  On the CPU the same config gives bit-identical weights.

The images ``x`` (and ``x_val``) are a float tensor or a :class:`BatchSource` (a set larger than memory,
read batch by batch: ``source[index]`` is the preprocessed batch).  A source may choose each epoch's order
(``epoch_order(generator)``, e.g. chunk-local for a chunked store); a source's metrics that need the whole
set at once (the contrastive objectives' ``instance_top1`` and ``val_knn_accuracy``) use its first
:data:`EVAL_LIMIT` images.  A source giving the tensor's batches, and ``torch.randperm(len(x), generator)``
as its order, trains bit-identically to the tensor.

Imports nothing from goalstore.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from builders.architectures import ARCHITECTURES
from builders.augment import flip_shift
from builders.device import resolve_device
from builders.networks import build_network
from builders.objectives import OBJECTIVES, Batch, build_objective, embed, knn_accuracy

OPTIMISERS = ("sgdm", "adam")

#: architecture arguments that :class:`ClassifierConfig` sets from its own fields (``in_channels``,
#: ``input_size``, ``out_features``, ``width``; ``contrastive`` is False: a contrastive objective's head
#: belongs to the objective), so ``options`` may not set them — the one list the ``model`` recipe and the
#: model grids (:mod:`builders.model_grid`) refuse
RESERVED_ARGS = ("in_channels", "input_size", "out_features", "width", "contrastive")


#: images of a :class:`BatchSource` that whole-set metrics (contrastive ``instance_top1``, k-NN) use
EVAL_LIMIT = 10_000


@runtime_checkable
class BatchSource(Protocol):
    """Training images read on demand: ``len(source)`` images of ``source.shape`` (N × C × H × W);
    ``source[index]`` (a LongTensor of positions, or a slice) is their preprocessed float32 batch.
    Optionally ``epoch_order(generator) -> LongTensor``: the permutation of one epoch (default
    ``torch.randperm(len(source), generator=generator)``)."""

    shape: tuple[int, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: torch.Tensor | slice) -> torch.Tensor: ...


def _whole(x: torch.Tensor | BatchSource) -> torch.Tensor:
    """``x`` as one tensor: a source's first :data:`EVAL_LIMIT` images."""
    return x if isinstance(x, torch.Tensor) else x[slice(0, min(len(x), EVAL_LIMIT))]


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
    #: the training objective (:data:`builders.objectives.OBJECTIVES`); unless "supervised",
    #: ``out_features`` is the embedding dimension
    objective: str = "supervised"
    # --- objective hyper-parameters (:data:`OBJECTIVE_PARAMS`; each used by the objectives named)
    temperature: float = 0.1  #: softmax temperature τ (instance, simclr, mocov2)
    queue_size: int = 256  #: keys in the negative queue (mocov2)
    key_momentum: float = 0.99  #: momentum m of the key encoder (mocov2)
    bank_momentum: float = 0.5  #: momentum m of the memory bank (instance)
    projection_dim: int = 64  #: output width of the projection head (simclr, mocov2, simsiam)
    sparsity: float = 1e-3  #: weight λ of the L1 penalty on the embedding (autoencoder)
    target_size: int = 16  #: side of the decoded map (autoencoder, depth)
    crop_scale: float = 0.2  #: smallest area fraction of a random crop (instance, simclr, mocov2, simsiam)

    def __post_init__(self) -> None:
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"optimiser {self.optimiser!r}: expected one of {', '.join(OPTIMISERS)}")
        if self.epochs < 0 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"epochs {self.epochs}, batch_size {self.batch_size}, lr {self.lr}: expected "
                             "epochs ≥ 0, batch_size ≥ 1, lr > 0")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if not (self.temperature > 0 and self.queue_size >= 1 and 0 <= self.key_momentum < 1
                and 0 <= self.bank_momentum < 1 and self.projection_dim >= 1 and self.sparsity >= 0
                and self.target_size >= 1 and 0 < self.crop_scale <= 1):
            raise ValueError(f"objective parameters {self.objective_params}: expected temperature > 0, "
                             "queue_size ≥ 1, 0 ≤ key_momentum, bank_momentum < 1, projection_dim ≥ 1, "
                             "sparsity ≥ 0, target_size ≥ 1, 0 < crop_scale ≤ 1")
        reserved = sorted(set(self.options or {}) & set(RESERVED_ARGS))
        if reserved:
            raise ValueError(f"options set {', '.join(reserved)}; expected them from the config's own fields "
                             "(in_channels, input_size, out_features, width; contrastive is False)")
        if self.augment and self.objective == "depth":
            raise ValueError("augment: flips and shifts would move the images off their depth targets; "
                             "expected augment False with objective depth")

    @property
    def objective_params(self) -> dict[str, Any]:
        """The objective hyper-parameters (:data:`OBJECTIVE_PARAMS`) by name."""
        return {name: getattr(self, name) for name in OBJECTIVE_PARAMS}

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


#: the :class:`ClassifierConfig` fields that are objective hyper-parameters
OBJECTIVE_PARAMS = ("temperature", "queue_size", "key_momentum", "bank_momentum", "projection_dim", "sparsity",
                    "target_size", "crop_scale")


def training_config(*, architecture: str, channels: int, input_size: int, width: float, epochs: int,
                    batch_size: int, optimiser: str, lr: float, augment: bool, seed: int, objective: str,
                    embedding_dim: int, n_categories: int, options: dict[str, Any] | None = None,
                    objective_args: dict[str, Any] | None = None, device: str = "cpu") -> ClassifierConfig:
    """The :class:`ClassifierConfig` of one run of the ``model`` recipe (and so of one model-grid point),
    from the recipe's parameters: ``out_features`` is ``n_categories`` (``supervised``: the stimuli's
    categories) or ``embedding_dim`` (the embedding of any other objective); every field not given keeps
    its default here.  Raises ``ValueError`` for a bad value and ``TypeError`` for an unknown objective
    parameter (``objective_args`` takes :data:`OBJECTIVE_PARAMS`)."""
    unknown = sorted(set(objective_args or {}) - set(OBJECTIVE_PARAMS))
    if unknown:
        raise TypeError(f"objective parameters {', '.join(unknown)}: unknown; expected some of "
                        f"{', '.join(OBJECTIVE_PARAMS)}")
    out = n_categories if objective == "supervised" else embedding_dim
    return ClassifierConfig(architecture, channels, input_size, out, width, epochs, batch_size, optimiser, lr,
                            augment=augment, seed=seed, device=device, options=options or None,
                            objective=objective, **(objective_args or {}))


def _check_data(config: ClassifierConfig, x: torch.Tensor | BatchSource, y: torch.Tensor | None,
                target: torch.Tensor | None, label: str) -> None:
    if len(x.shape) != 4 or tuple(x.shape[1:]) != (config.in_channels, config.input_size, config.input_size):
        raise ValueError(f"{label}: shape {list(x.shape)}; expected N × {config.in_channels} × "
                         f"{config.input_size} × {config.input_size}")
    if config.objective == "supervised" and y is None:
        raise ValueError(f"{label}: no labels; objective supervised learns one label per image")
    if config.objective == "supervised" and y is not None and len(y) and (
            int(y.min()) < 0 or int(y.max()) >= config.out_features):
        raise ValueError(f"y: labels in [{int(y.min())}, {int(y.max())}]; expected one label in "
                         f"[0, {config.out_features}) per image")
    if y is not None and len(y) != len(x):
        raise ValueError(f"y: {len(y)} labels for {len(x)} images; expected one label per image")
    if config.objective == "depth" and (target is None or len(target) != len(x) or target.ndim not in (3, 4)):
        raise ValueError(f"{label}: objective depth needs one depth map (N × H × W or N × 1 × H × W) per "
                         f"image; got {None if target is None else list(target.shape)}")


def train_model(config: ClassifierConfig, x: torch.Tensor | BatchSource, y: torch.Tensor | None = None,
                x_val: torch.Tensor | BatchSource | None = None, y_val: torch.Tensor | None = None,
                target: torch.Tensor | None = None, target_val: torch.Tensor | None = None,
                progress: bool = True) -> tuple[nn.Module, dict[str, float], list[float]]:
    """Train ``config.architecture`` under ``config.objective`` on ``x`` (float, N × C × H × W,
    preprocessed; or a :class:`BatchSource` of such images), labels ``y`` (int64 in ``[0, out_features)``;
    needed by ``supervised``, else optional and
    used for the k-NN metric) and dense targets ``target`` (``depth``).  Return the network (eval mode, on
    the CPU, without the objective's heads), its metrics and the training curve (the mean loss of every
    epoch).

    Metrics (evaluated after training, deterministic): ``epochs``; the objective's own on the training and
    the validation data, prefixed ``train_`` / ``val_`` (supervised: ``loss``, ``accuracy``, and
    ``chance`` = 1 / classes; rotnet: ``loss``, ``rotation_accuracy``; autoencoder and depth: ``loss``;
    instance, simclr, mocov2, simsiam: ``instance_top1``); and for the self-supervised objectives with
    labelled validation data ``val_knn_accuracy`` (cosine 1-nearest neighbour in the training set) with its
    ``chance``."""
    _check_data(config, x, y, target, "x")
    if x_val is not None:
        _check_data(config, x_val, y_val, target_val, "x_val")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = build_network(config.architecture, **config.architecture_args).to(device)
    objective = build_objective(config.objective, model, embedding_dim=config.out_features,
                                in_channels=config.in_channels, n_samples=len(x), **config.objective_params)
    objective = objective.to(device)
    parameters = [p for p in (*model.parameters(), *objective.parameters()) if p.requires_grad]
    if config.optimiser == "sgdm":
        optimiser: torch.optim.Optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                                                           weight_decay=config.weight_decay)
    else:
        optimiser = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    x = x.float() if isinstance(x, torch.Tensor) else x
    y = y.long() if y is not None else None
    ordered = getattr(x, "epoch_order", None)
    epochs: Any = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc=f"train {config.architecture} ({config.objective})", leave=False)
    model.train()
    objective.train()
    curve: list[float] = []
    for _ in epochs:
        order = ordered(generator) if ordered is not None else torch.randperm(len(x), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(x), config.batch_size):
            index = order[start: start + config.batch_size]
            if len(index) < objective.min_batch:
                continue
            xb = x[index]
            if config.augment:
                xb = flip_shift(xb, config.shift, generator)
            batch = Batch(xb.to(device), index, None if y is None else y[index].to(device),
                          None if target is None else target[index].to(device))
            loss = objective.loss(model, batch, generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged (loss {float(loss)}); lower the learning rate "
                                         f"(lr {config.lr})")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
        if count:
            curve.append(total / count)
        if progress and count:
            epochs.set_postfix(loss=f"{total / count:.3f}")
    model = model.cpu().eval()
    objective = objective.cpu().eval()
    metrics: dict[str, float] = {"epochs": float(config.epochs)}
    if config.objective == "supervised":
        metrics["chance"] = 1.0 / config.out_features
    splits = [("train", x, y, target)]
    if x_val is not None and len(x_val):
        splits.append(("val", x_val.float() if isinstance(x_val, torch.Tensor) else x_val,
                       None if y_val is None else y_val.long(), target_val))
    for split, xs, ys, ts in splits:
        if objective.whole_set_metrics and not isinstance(xs, torch.Tensor):
            xs = _whole(xs)
            ys, ts = (None if v is None else v[: len(xs)] for v in (ys, ts))
        metrics.update({f"{split}_{k}": v for k, v in objective.evaluate(model, xs, ys, ts).items()})
    if config.objective != "supervised" and len(splits) > 1 and y is not None and splits[1][2] is not None:
        reference, query = _whole(x), _whole(splits[1][1])
        metrics["val_knn_accuracy"] = knn_accuracy(embed(model, reference), y[: len(reference)],
                                                   embed(model, query), splits[1][2][: len(query)])
        metrics["chance"] = 1.0 / len(torch.unique(y))
    for key, value in metrics.items():
        if not math.isfinite(value):
            raise FloatingPointError(f"metric {key} is {value}: training diverged")
    return model, metrics, curve


def train_classifier(config: ClassifierConfig, x: torch.Tensor | BatchSource, y: torch.Tensor,
                     x_val: torch.Tensor | BatchSource | None = None, y_val: torch.Tensor | None = None,
                     progress: bool = True) -> tuple[nn.Module, dict[str, float]]:
    """:func:`train_model` without the curve: with the default ``supervised`` objective, the classifier of
    labels ``y`` and its metrics ``train_loss``, ``train_accuracy`` (and ``val_loss``, ``val_accuracy`` with
    validation data), ``epochs`` and ``chance`` (1 / number of classes)."""
    module, metrics, _ = train_model(config, x, y, x_val, y_val, progress=progress)
    return module, metrics
