"""Every network a model store can name: architecture name + keyword arguments → ``torch.nn.Module``.

A model store records ``architecture`` and ``architecture_args``; :func:`build_network` rebuilds the
(untrained) module from them, and the store's weights are then loaded into it.  The names are

* the learning-rule grid's architectures (:data:`builders.architectures.ARCHITECTURES`: ``knet4``,
  ``alexnet``, ``resnet18`` …), arguments ``in_channels``, ``input_size``, ``out_features``, ``width``
  and ``contrastive``;
* the ConvRNNs of thesis ch. 2 (:mod:`builders.convrnn`: ``convrnn6``, ``convrnn11``), arguments
  ``in_channels``, ``input_size``, ``out_features``, ``width``, ``cell``, ``feedback``, ``time_steps``,
  ``unroll``, ``decoder``, ``threshold``, ``cell_kernel``;
* the StreamNets of thesis §3.4 (:mod:`builders.streamnet`: ``streamnet1``, ``streamnet2``,
  ``streamnet6``), arguments ``in_channels``, ``input_size``, ``out_features``, ``width``;
* the path integrators of thesis ch. 4 (:mod:`builders.path_integrator`: ``path-integrator``),
  arguments ``hidden``, ``cell``, ``nonlinearity``, ``loss``, ``inputs``, ``head_direction`` and the
  place-cell ``n_place_cells``, ``place_cell_sigma``, ``place_cell_surround``, ``box``, ``place_cell_seed``;
* architectures registered at run time with :func:`register_architecture` (e.g. a test's toy
  recurrent network), built with their own keyword arguments;
* ``torchvision:<name>`` (e.g. ``torchvision:resnet18``) when torchvision is installed (optional;
  never downloads weights: they come from the store).

:func:`observed_layers` names the layers whose outputs are a network's activations: a grid network's
observed blocks (each convolution or linear layer with its normalisation and nonlinearity), else
every leaf module that is not a no-op.

Imports nothing from goalstore.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

from torch import nn

from builders.architectures import ARCHITECTURES, build_architecture
from builders.convrnn import CONVRNN_ARCHITECTURES, build_convrnn
from builders.path_integrator import ARCHITECTURE as PATH_INTEGRATOR
from builders.path_integrator import build_path_integrator
from builders.streamnet import STREAMNET_ARCHITECTURES, build_streamnet

TORCHVISION_PREFIX = "torchvision:"

#: keyword arguments of the grid architectures, with their defaults where they have one
GRID_ARGS = {"in_channels": None, "input_size": None, "out_features": None, "width": 1.0, "contrastive": False}

_SKIPPED_LEAVES = (nn.Dropout, nn.Identity)

#: architectures registered with :func:`register_architecture`: name → factory(**args) → module
REGISTERED: dict[str, Callable[..., nn.Module]] = {}
#: comma-separated modules imported (for their :func:`register_architecture` calls) before an unknown
#: name is refused — how a registration reaches subprocesses such as ``goalstore produce`` or workers
MODULES_ENV = "BUILDERS_ARCHITECTURE_MODULES"


def register_architecture(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make ``name`` buildable by :func:`build_network` (``factory(**architecture_args)``) in this process."""
    REGISTERED[name] = factory


def architectures() -> list[str]:
    """The architecture names :func:`build_network` knows (torchvision's when it is installed)."""
    names = (list(ARCHITECTURES) + list(CONVRNN_ARCHITECTURES) + list(STREAMNET_ARCHITECTURES)
             + [PATH_INTEGRATOR] + list(REGISTERED))
    try:
        import torchvision.models as tvm
    except ImportError:
        return names
    return names + [TORCHVISION_PREFIX + n for n in sorted(tvm.list_models(module=tvm))]


def build_network(architecture: str, **args: Any) -> nn.Module:
    """The untrained network ``architecture`` built with ``args``.

    Raises ``ValueError`` naming the known architectures for an unknown name, and naming the
    missing or unexpected arguments for a grid architecture."""
    if architecture not in REGISTERED:
        for module in filter(None, (m.strip() for m in os.environ.get(MODULES_ENV, "").split(","))):
            importlib.import_module(module)
    if architecture in REGISTERED:
        return REGISTERED[architecture](**args)
    if architecture.lower() in CONVRNN_ARCHITECTURES:
        return build_convrnn(architecture.lower(), **args)
    if architecture.lower() in STREAMNET_ARCHITECTURES:
        return build_streamnet(architecture.lower(), **args)
    if architecture.lower() == PATH_INTEGRATOR:
        return build_path_integrator(**args)
    if architecture.startswith(TORCHVISION_PREFIX):
        try:
            import torchvision.models as tvm
        except ImportError:
            raise ValueError(f"architecture {architecture!r} needs torchvision (pip install torchvision)") \
                from None
        name = architecture[len(TORCHVISION_PREFIX):]
        if name not in tvm.list_models(module=tvm):
            raise ValueError(f"architecture {architecture!r}: torchvision has no model {name!r}")
        return tvm.get_model(name, weights=None, **args)
    if architecture.lower() not in ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r}: unknown; expected one of "
                         f"{', '.join(architectures())}")
    missing = [k for k, default in GRID_ARGS.items() if default is None and k not in args]
    unexpected = sorted(set(args) - set(GRID_ARGS))
    if missing or unexpected:
        raise ValueError(f"architecture {architecture!r}: " + "; ".join(
            ([f"missing argument(s) {', '.join(missing)}"] if missing else [])
            + ([f"unexpected argument(s) {', '.join(unexpected)}"] if unexpected else []))
            + f"; expected {', '.join(GRID_ARGS)}")
    return build_architecture(architecture, **{k: args.get(k, d) for k, d in GRID_ARGS.items()})


def observed_layers(module: nn.Module) -> dict[str, nn.Module]:
    """The layers whose outputs are the network's activations, by name, in forward (definition) order."""
    observed = getattr(module, "observed", None)
    if observed is not None:
        return {layer.name: layer.block for layer in observed}
    return {name: m for name, m in module.named_modules()
            if name and not list(m.children()) and not isinstance(m, _SKIPPED_LEAVES)}


def count_parameters(module: nn.Module) -> int:
    """Scalar parameters of the forward computation.

    A rule-aware layer's backward weights ``B`` (``backward_weight``, :mod:`builders.layers`) only
    carry errors backwards during learning: they are part of the state dict (and of a model store)
    but not of the function the network computes, so they are not counted."""
    return int(sum(p.numel() for name, p in module.named_parameters()
                   if not name.endswith("backward_weight")))


def recurrent_by_name(architecture: str) -> bool | None:
    """Whether the built-in ``architecture`` is unrolled in time (the ConvRNNs are; the grid's networks,
    the StreamNets and torchvision's are not), known from its name alone; ``None`` for a registered or
    unknown name (build it and ask :func:`accepts_time_steps`)."""
    if architecture in REGISTERED:
        return None
    if architecture.lower() in CONVRNN_ARCHITECTURES:
        return True
    if architecture.lower() in (*ARCHITECTURES, *STREAMNET_ARCHITECTURES) or architecture.startswith(
            TORCHVISION_PREFIX):
        return False
    return None


def accepts_time_steps(module: nn.Module) -> bool:
    """Whether ``module.forward`` takes a ``time_steps`` argument (a recurrent network unrolled in time)."""
    return "time_steps" in inspect.signature(module.forward).parameters
