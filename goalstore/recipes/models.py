"""Model stores: a network trained on a stimuli store (``model``: the category labels, or a
self-supervised objective of :mod:`builders.objectives`), or weights made elsewhere (``model-import``,
the recipe of ``goalstore import model``).

Both record the architecture config, the input normalisation (``training.input_mean`` /
``training.input_std``, see :mod:`goalstore.activations.preprocess`), and the counts and content hash
of the weights (:func:`goalstore.activations.networks.weights_from_network`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalstore._version import __version__
from goalstore.errors import AnalysisInputError, CorruptStoreError, SchemaError
from goalstore.recipes import Product, Recipe, check_entry, param

#: the ``model`` recipe streams minibatches from the stimuli store (:mod:`goalstore.sources.store_batches`) when
#: the preprocessed images (float32) would take more bytes than this; below, it preprocesses them all at once
STREAM_BYTES = 4 << 30

#: suffixes of files that are (or usually are) pickles: never loaded
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")


# ------------------------------------------------------------------- model
@dataclass(frozen=True)
class TrainModel:
    name: str = param("knet4-objects", help="store name of the trained model")
    architecture: str = param("knet4", help="an architecture of builders.architectures (knet4, alexnet …), "
                                            "builders.convrnn (convrnn6, convrnn11) or builders.streamnet "
                                            "(streamnet1, streamnet2, streamnet6)")
    stimuli: str = param("embedded-objects", help="the stimuli store whose `category` labels are learned")
    width: float = param(0.25, help="channel/unit count scale of the architecture")
    input_size: int = param(64, help="images are resized to input_size × input_size")
    channels: int = param(3, help="input channels of the network (1: grey, 3: RGB)")
    epochs: int = param(10, help="training epochs (0: the untrained network of `seed`)")
    batch_size: int = param(32, help="minibatch size")
    optimiser: str = param("sgdm", help="sgdm (SGD with momentum 0.9) or adam")
    lr: float = param(0.01, help="learning rate")
    augment: bool = param(False, help="random flips and shifts during training (seeded)")
    seed: int = param(0, help="seed of the initial weights, batch order, augmentation and split")
    val_fraction: float = param(0.25, help="fraction of each category held out for validation")
    device: str = param("cpu", help="cpu, cuda or auto")
    args: str = param("{}", help="further architecture arguments as a JSON object (a convrnn's cell, feedback, "
                                 "time_steps, unroll, decoder …)")
    objective: str = param("supervised", help="training objective: supervised (the categories), autoencoder, "
                                              "depth (embedded-objects stimuli only), rotnet, instance, "
                                              "simclr, mocov2 or simsiam (builders.objectives)")
    embedding_dim: int = param(128, help="output width (embedding) of a self-supervised objective's network")
    objective_args: str = param("{}", help="objective hyper-parameters as a JSON object (temperature, "
                                           "queue_size, key_momentum, bank_momentum, projection_dim, sparsity, "
                                           "target_size, crop_scale; defaults: builders.stimulus_training)")


def _json_object(text: str, label: str, expected: str) -> dict[str, Any]:
    """Parameter ``label``'s JSON text as a mapping ("" is ``{}``), refused in one line unless an object."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise AnalysisInputError(f"{label} {text!r}: not a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise AnalysisInputError(f"{label} {text!r}: expected {expected}")
    return value


def _options(p: TrainModel) -> dict[str, Any]:
    """The further architecture arguments (``--param args=JSON``), refused unless a JSON object."""
    options = _json_object(p.args, "args", "a JSON object of architecture arguments")
    from builders.stimulus_training import RESERVED_ARGS

    own = sorted(set(options) & set(RESERVED_ARGS))
    if own:
        raise AnalysisInputError(f"args {p.args!r}: {', '.join(own)} cannot be set here; expected the "
                                 "recipe's own parameters (channels, input_size, width; out_features = the "
                                 "number of categories)")
    return options


def _objective_args(p: TrainModel) -> dict[str, Any]:
    """The objective hyper-parameters (``--param objective_args=JSON``), refused unless a JSON object of
    known names."""
    from builders.stimulus_training import OBJECTIVE_PARAMS

    values = _json_object(p.objective_args, "objective_args", "a JSON object")
    unknown = sorted(set(values) - set(OBJECTIVE_PARAMS))
    if unknown:
        raise AnalysisInputError(f"objective_args {p.objective_args!r}: unknown {', '.join(unknown)}; expected "
                                 f"some of {', '.join(OBJECTIVE_PARAMS)}")
    return values


def _config(p: TrainModel, n_categories: int) -> Any:
    """The training config: ``out_features`` = the categories (supervised) or ``embedding_dim``."""
    from builders.stimulus_training import training_config

    return training_config(architecture=p.architecture, channels=p.channels, input_size=p.input_size,
                           width=p.width, epochs=p.epochs, batch_size=p.batch_size, optimiser=p.optimiser,
                           lr=p.lr, augment=p.augment, seed=p.seed, objective=p.objective,
                           embedding_dim=p.embedding_dim, n_categories=n_categories, options=_options(p),
                           objective_args=_objective_args(p), device=p.device)


def _stimuli(p: TrainModel, root: Any) -> Any:
    from goalstore import entries

    ds = entries.open(p.stimuli, root)
    if "image" not in ds.data_vars:
        raise AnalysisInputError(f"stimuli {p.stimuli!r}: has no variable 'image'; expected a stimuli store")
    if "category" not in ds.coords:
        raise AnalysisInputError(f"stimuli {p.stimuli!r}: coordinate 'category' is missing; the model recipe "
                                 "learns the category labels of the stimuli")
    return ds


def check_model(p: TrainModel, root: Any) -> TrainModel:
    """Refuse an unknown architecture or architecture argument, stimuli entry, optimiser or device, and bad
    sizes, before anything runs."""
    from builders.architectures import ARCHITECTURES
    from builders.convrnn import CONVRNN_ARCHITECTURES
    from builders.device import resolve_device
    from builders.networks import build_network
    from builders.objectives import OBJECTIVES
    from builders.stimulus_training import OPTIMISERS, ClassifierConfig
    from builders.streamnet import STREAMNET_ARCHITECTURES
    from goalstore.store import check_name

    check_name(p.name)
    trainable = ARCHITECTURES + CONVRNN_ARCHITECTURES + STREAMNET_ARCHITECTURES
    if p.architecture not in trainable:
        raise AnalysisInputError(f"architecture {p.architecture!r}: unknown (or not trainable here); expected "
                                 f"one of {', '.join(trainable)}")
    if p.optimiser not in OPTIMISERS:
        raise AnalysisInputError(f"optimiser {p.optimiser!r}: expected one of {', '.join(OPTIMISERS)}")
    try:
        resolve_device(p.device)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None
    if p.channels not in (1, 3) or p.input_size < 8 or p.epochs < 0 or p.batch_size < 1 or not p.lr > 0 \
            or not 0 <= p.val_fraction < 1 or not p.width > 0:
        raise AnalysisInputError(f"model {p.name!r}: channels {p.channels}, input_size {p.input_size}, "
                                 f"epochs {p.epochs}, batch_size {p.batch_size}, lr {p.lr}, width {p.width}, "
                                 f"val_fraction {p.val_fraction}; expected channels 1 or 3, input_size ≥ 8, "
                                 "epochs ≥ 0, batch_size ≥ 1, lr > 0, width > 0, 0 ≤ val_fraction < 1")
    if p.objective not in OBJECTIVES:
        raise AnalysisInputError(f"objective {p.objective!r}: unknown; expected one of {', '.join(OBJECTIVES)}")
    if p.embedding_dim < 1:
        raise AnalysisInputError(f"embedding_dim {p.embedding_dim}: expected at least 1")
    options = _options(p)
    if options:
        try:  # the arguments are checked by building the (small, untrained) network once
            small = ClassifierConfig(p.architecture, p.channels, p.input_size, 2, p.width, options=options)
            build_network(p.architecture, **small.architecture_args)
        except (TypeError, ValueError) as exc:
            raise AnalysisInputError(f"args {p.args!r}: {exc}") from None
    objective_args = _objective_args(p)
    try:
        config = _config(p, 2)
    except (TypeError, ValueError) as exc:
        raise AnalysisInputError(f"objective_args {json.dumps(objective_args)} (objective {p.objective!r}, "
                                 f"augment {p.augment}): {exc}") from None
    check_entry(p.stimuli, "stimuli", root)
    ds = _stimuli(p, root)
    if len(np.unique(ds["category"].values)) < 2:
        raise AnalysisInputError(f"stimuli {p.stimuli!r}: coordinate 'category' has fewer than 2 values; "
                                 "expected at least 2 categories to learn")
    if p.objective == "depth":
        from goalstore.sources.objects import depth_config

        try:
            depth_config(ds.attrs)
        except SchemaError as exc:
            raise AnalysisInputError(f"stimuli {p.stimuli!r}: objective depth: {exc}") from None
    if p.objective == "mocov2":
        labels = np.unique(np.asarray(ds["category"].values).astype(str), return_inverse=True)[1]
        n_train = len(stratified_split(labels, p.val_fraction, p.seed)[0])
        if config.queue_size > n_train - p.batch_size:
            raise AnalysisInputError(f"objective_args: queue_size {config.queue_size} with {n_train} training "
                                     f"images and batch_size {p.batch_size}; expected queue_size ≤ "
                                     f"{n_train - p.batch_size} (else the queue holds each image's own "
                                     "earlier key as a negative)")
    return p


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: ``round(n_c · val_fraction)`` stimuli of each category ``c`` (drawn with
    ``seed``) are held out, sorted, the rest trained on."""
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        val.extend(rng.permutation(members)[: round(len(members) * val_fraction)].tolist())
    val_index = np.sort(np.asarray(val, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), val_index), val_index


def produce_model(root: Any, p: TrainModel) -> dict[str, Product]:
    import torch

    from builders.stimulus_training import train_model
    from goalstore import entries
    from goalstore.activations.networks import weights_from_network
    from goalstore.activations.preprocess import preprocess

    ds = _stimuli(p, root)
    meta = entries.describe(p.stimuli, root)
    categories_raw = np.asarray(ds["category"].values)
    categories = sorted({str(c) for c in categories_raw})
    labels = np.array([categories.index(str(c)) for c in categories_raw], dtype=np.int64)
    train, val = stratified_split(labels, p.val_fraction, p.seed)
    shape = [p.channels, p.input_size, p.input_size]
    y = torch.from_numpy(labels)
    config = _config(p, len(categories))
    train_t, val_t = torch.from_numpy(train), torch.from_numpy(val)
    streamed = len(labels) * 4 * int(np.prod(shape)) > STREAM_BYTES
    norm_sample = len(train)
    if streamed:  # a large set: minibatches read from the store; statistics on (a sample of) the training set
        from goalstore.sources.store_batches import StoreBatches, normalisation_stats

        mean, std, norm_sample = normalisation_stats(StoreBatches(ds["image"], train, shape, [0.0], [1.0]),
                                                     p.seed)
        x_train: Any = StoreBatches(ds["image"], train, shape, mean, std)
        x_val: Any = StoreBatches(ds["image"], val, shape, mean, std)
    else:
        images = np.asarray(ds["image"].values)
        # normalisation: per-channel mean and standard deviation of the training images in [0, 1]
        unit = preprocess(images[train], shape, 0.0, 1.0).double()
        mean = [float(v) for v in unit.mean((0, 2, 3))]
        std = [max(float(v), 1e-6) for v in unit.std((0, 2, 3))]
        x = preprocess(images, shape, mean, std)
        x_train, x_val = x[train_t], x[val_t]
    depth = None
    if p.objective == "depth":
        from goalstore.sources.objects import depth_maps

        depth = torch.from_numpy(depth_maps(ds)).unsqueeze(1)
    module, metrics, curve = train_model(config, x_train, y[train_t], x_val, y[val_t],
                                         None if depth is None else depth[train_t],
                                         None if depth is None else depth[val_t])
    supervised = p.objective == "supervised"
    task = "category classification" if supervised else f"self-supervised ({p.objective})"
    training = {"recipe": "model", "task": task, "objective": p.objective, "stimuli": p.stimuli,
                "stimuli_checksum": meta.get("checksum", ""), "stimuli_version": meta.get("version", ""),
                "categories": categories, "epochs": p.epochs, "seed": p.seed, "optimiser": p.optimiser,
                "lr": p.lr, "momentum": config.momentum if p.optimiser == "sgdm" else 0.0,
                "batch_size": p.batch_size, "augment": p.augment, "val_fraction": p.val_fraction,
                "n_train": len(train), "n_val": len(val), "input_mean": mean, "input_std": std,
                "loss_curve": curve, "goalstore_version": __version__}
    if norm_sample < len(train):
        training["input_norm_images"] = norm_sample  # mean/std from a seeded sample of the training images
    if not supervised:
        training.update(embedding_dim=p.embedding_dim, objective_params=config.objective_params)
    weights = weights_from_network(
        module, p.architecture, config.architecture_args, shape, training=training, metrics=metrics,
        source="goalstore recipe model (builders.stimulus_training)", license="CC0-1.0",
        citation="goalstore (this store root's history)",
        description=f"{p.architecture} (width {p.width}) trained {p.epochs} epochs on "
                    + (f"the categories of {p.stimuli}" if supervised else f"{p.stimuli} ({p.objective})"))
    return {p.name: Product(weights, "model", "safetensors")}


# ------------------------------------------------------------ model-import
@dataclass(frozen=True)
class ImportModel:
    architecture: str = param("", help="architecture name (builders.networks; torchvision:NAME if installed)")
    weights: str = param("", help="the .safetensors file of the weights")
    name: str = param("", help="store name (default: the file's name without suffix)")
    args: str = param("{}", help="the architecture's keyword arguments as a JSON object")
    input_shape: str = param("", help="C,H,W of the network's input (default: from the arguments)")
    input_mean: str = param("", help="per-channel normalisation mean, comma-separated (default 0.5)")
    input_std: str = param("", help="per-channel normalisation std, comma-separated (default 0.25)")
    license: str = param("unspecified", help="license of the weights")
    citation: str = param("unspecified", help="how to cite the weights")


def _floats(text: str, label: str, channels: int, default: float) -> list[float]:
    if not text.strip():
        return [default] * channels
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SchemaError(f"--{label} {text!r}: expected comma-separated numbers") from None
    if len(values) == 1:
        values *= channels
    if len(values) != channels or not all(np.isfinite(values)) or (label == "input-std" and min(values) <= 0):
        raise SchemaError(f"--{label} {text!r}: expected {channels} finite numbers (one per input channel)"
                          + (", all positive" if label == "input-std" else ""))
    return values


def read_weights_file(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file; any other file is refused without being loaded (a pickle
    can run code), with the one line saying how to convert it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise SchemaError(
            f"weights {path.name}: a {suffix} file is a pickle, which goalstore never loads (it can run code); "
            f"convert its state dict where you trust it: python -c \"import torch, safetensors.torch as st; "
            f"st.save_file({{k: v.clone().contiguous() for k, v in torch.load('{path.name}', "
            f"weights_only=True).items()}}, '{path.stem}.safetensors')\"")
    if suffix != ".safetensors":
        raise SchemaError(f"weights {path.name}: suffix {suffix or '(none)'!r}; expected a .safetensors file")
    if not path.is_file():
        raise CorruptStoreError(f"weights {path}: no such file")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            return {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise SchemaError(f"weights {path.name}: not a readable safetensors file ({exc})") from None


def _imported_module(p: ImportModel) -> tuple[Any, dict[str, Any], list[int], dict[str, np.ndarray]]:
    """The architecture (untrained), its arguments, input shape and the file's tensors, all checked."""
    from builders.networks import TORCHVISION_PREFIX
    from goalstore.activations.networks import build_untrained, check_weights, with_aliases

    tensors = read_weights_file(p.weights)
    try:
        args = json.loads(p.args or "{}")
    except json.JSONDecodeError as exc:
        raise SchemaError(f"--arg: the architecture arguments are not a JSON object ({exc})") from None
    if not isinstance(args, dict):
        raise SchemaError(f"--arg: the architecture arguments are {args!r}; expected KEY=VALUE pairs")
    module = build_untrained(p.architecture, args)
    if p.input_shape.strip():
        try:
            shape = [int(v) for v in p.input_shape.split(",")]
        except ValueError:
            shape = []
        if len(shape) != 3 or min(shape) < 1:
            raise SchemaError(f"--input-shape {p.input_shape!r}: expected C,H,W (three positive integers)")
    elif p.architecture.startswith(TORCHVISION_PREFIX):
        shape = [3, 224, 224]
    else:
        shape = [int(args["in_channels"]), int(args["input_size"]), int(args["input_size"])]
    tensors = with_aliases(module, tensors)
    check_weights(module, tensors, label=f"weights {Path(p.weights).name}")
    return module, args, shape, tensors


def check_import_model(p: ImportModel, root: Any) -> ImportModel:
    """Read and check the weights file against the architecture first, so a bad file, argument or shape
    is refused (naming the first mismatching tensor) before anything runs."""
    from goalstore.activations.networks import count_units
    from goalstore.store import check_name

    if not p.architecture:
        raise SchemaError("architecture: none given; expected an architecture name (e.g. knet4)")
    name = p.name or Path(p.weights).stem
    check_name(name)
    module, args, shape, _ = _imported_module(p)
    mean = _floats(p.input_mean, "input-mean", shape[0], 0.5)
    std = _floats(p.input_std, "input-std", shape[0], 0.25)
    try:
        count_units(module, shape)
    except (RuntimeError, ValueError) as exc:
        raise SchemaError(f"--input-shape {shape}: the architecture cannot take it "
                          f"({str(exc).splitlines()[0]})") from None
    return dataclasses.replace(p, weights=str(Path(p.weights).resolve()), name=name,
                               args=json.dumps(args, sort_keys=True), input_shape=",".join(map(str, shape)),
                               input_mean=",".join(map(repr, mean)), input_std=",".join(map(repr, std)))


def produce_import_model(root: Any, p: ImportModel) -> dict[str, Product]:
    import torch

    from goalstore.activations.networks import weights_from_network

    p = check_import_model(p, root)
    module, args, shape, tensors = _imported_module(p)
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    module.eval()
    digest = hashlib.sha256(Path(p.weights).read_bytes()).hexdigest()
    training = {"recipe": "model-import", "file": Path(p.weights).name, "file_sha256": digest,
                "input_mean": [float(v) for v in p.input_mean.split(",")],
                "input_std": [float(v) for v in p.input_std.split(",")], "goalstore_version": __version__}
    weights = weights_from_network(module, p.architecture, args, shape, training=training, metrics={},
                                   source=f"imported weights file {Path(p.weights).name}", license=p.license,
                                   citation=p.citation, description=f"{p.architecture} weights imported from "
                                                                    f"{Path(p.weights).name}")
    return {p.name: Product(weights, "model", "safetensors")}


RECIPES = [
    Recipe("model", produce_model, outputs=lambda p: [(p.name, "safetensors")], inputs=lambda p: [p.stimuli],
           parameters=TrainModel, check=check_model, build_check=True,
           description="a model store: an architecture trained on a stimuli store (its category labels or a "
                       "self-supervised objective)"),
    Recipe("model-import", produce_import_model, outputs=lambda p: [(p.name or Path(p.weights).stem,
                                                                      "safetensors")],
           parameters=ImportModel, check=check_import_model, build_check=True,
           description="register weights made elsewhere (.safetensors) as a model store "
                       "(goalstore import model)"),
]
