"""A model store ↔ a ``torch.nn.Module``.

:func:`network_from_weights` rebuilds the architecture a model store names (through
:mod:`builders.networks`) and loads its weights, refusing (:class:`~goalstore.errors.SchemaError`,
exit 3) weights that do not fit — naming the first tensor that is missing, unexpected or of another
shape.  :func:`weights_from_network` makes the model store of a trained module (tensors, counts,
content hash).  :func:`resolve_layers` turns requested layer names into the network's, listing the
available ones for a name it lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from goalstore.errors import AnalysisInputError, SchemaError
from goalstore.schema.models import ModelWeights, model_attrs, weights_hash


def build_untrained(architecture: str, architecture_args: Mapping[str, Any]) -> Any:
    """The untrained module ``architecture(**architecture_args)``; an unknown name or bad arguments are
    refused with :class:`SchemaError`."""
    from builders.networks import build_network

    try:
        return build_network(architecture, **dict(architecture_args))
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"attr 'architecture': {exc}") from None


def with_aliases(module: Any, tensors: Mapping[str, Any]) -> dict[str, Any]:
    """``tensors`` with the names the module shares between modules filled in (e.g. knet's ``out`` is its
    last ``fc`` layer, so ``out.layer.weight`` and ``fc2.layer.weight`` are one tensor): files written by
    ``safetensors.torch.save_model`` keep only one name of each shared tensor."""
    state = module.state_dict()
    by_storage: dict[tuple[int, tuple[int, ...]], list[str]] = {}
    for name, tensor in state.items():
        by_storage.setdefault((tensor.data_ptr(), tuple(tensor.shape)), []).append(name)
    out = dict(tensors)
    for names in by_storage.values():
        given = [n for n in names if n in out]
        for name in names:
            if name not in out and given:
                out[name] = out[given[0]]
    return out


def check_weights(module: Any, tensors: Mapping[str, Any], label: str = "weights") -> None:
    """Refuse ``tensors`` unless they are exactly ``module``'s state dict (names and shapes); the message
    names the first mismatching tensor (in the module's order)."""
    expected = {name: tuple(t.shape) for name, t in module.state_dict().items()}
    for name, shape in expected.items():
        if name not in tensors:
            raise SchemaError(f"{label}: tensor {name!r} of the architecture is missing "
                              f"({len(tensors)} tensors given, {len(expected)} expected)")
        got = tuple(np.shape(tensors[name]))
        if got != shape:
            raise SchemaError(f"{label}: tensor {name!r} has shape {list(got)}; the architecture expects "
                              f"{list(shape)}")
    extra = [name for name in tensors if name not in expected]
    if extra:
        raise SchemaError(f"{label}: tensor {extra[0]!r} is not a tensor of the architecture "
                          f"({len(extra)} unexpected)")


def network_from_weights(weights: ModelWeights, device: Any = "cpu") -> Any:
    """The module a model store describes, with its weights loaded, in eval mode on ``device``."""
    import torch

    module = build_untrained(weights.attrs["architecture"], weights.attrs["architecture_args"])
    tensors = with_aliases(module, weights.tensors)
    check_weights(module, tensors)
    state = {name: torch.from_numpy(np.array(tensors[name])) for name in module.state_dict()}
    module.load_state_dict(state, strict=True)
    return module.to(device).eval()


def available_layers(module: Any) -> list[str]:
    """The layer names of ``module`` activations can be extracted from, in forward order."""
    from builders.networks import observed_layers

    return list(observed_layers(module))


def resolve_layers(module: Any, requested: list[str] | tuple[str, ...] | None) -> list[str]:
    """``requested`` (None or empty: every available layer) checked against the module's layers, in the
    module's order; an unknown name is refused listing the available ones."""
    available = available_layers(module)
    if not requested:
        return available
    for name in requested:
        if name not in available:
            raise AnalysisInputError(f"layer {name!r}: the model has no such layer; available: "
                                     f"{', '.join(available)}")
    return [name for name in available if name in set(requested)]


def count_units(module: Any, input_shape: list[int]) -> int:
    """Units of the observed layers (output elements per stimulus) for one input of ``input_shape``; a
    recurrent layer that fires once per time step counts its units once."""
    import torch

    from builders.networks import observed_layers

    sizes: dict[str, int] = {}
    def hook(name: str) -> Any:
        def record(_m: Any, _a: Any, out: Any) -> None:  # returns None: the output is left as it is
            sizes.setdefault(name, int(out[0].numel()))
        return record

    hooks = [m.register_forward_hook(hook(name)) for name, m in observed_layers(module).items()]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(1, *input_shape, device=next(module.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        module.train(was_training)
    return int(sum(sizes.values()))


def weights_from_network(module: Any, architecture: str, architecture_args: Mapping[str, Any],
                         input_shape: list[int], *, training: dict[str, Any] | None = None,
                         metrics: dict[str, float] | None = None, source: str, license: str,
                         citation: str, description: str = "", **extra: Any) -> ModelWeights:
    """The model store of a (trained) ``module``: its state dict as arrays, counts (``n_parameters``: of
    the forward computation, :func:`builders.networks.count_parameters`) and content hash."""
    tensors = {name: t.detach().cpu().numpy().copy() for name, t in module.state_dict().items()}
    from builders.networks import count_parameters

    n_parameters = count_parameters(module)
    attrs = model_attrs(species="model", modality="model weights", source=source, license=license,
                        citation=citation, description=description, architecture=architecture,
                        architecture_args=dict(architecture_args), training=dict(training or {}),
                        metrics={k: float(v) for k, v in (metrics or {}).items()},
                        input_shape=[int(v) for v in input_shape], n_parameters=n_parameters,
                        n_units=count_units(module, list(input_shape)), weights_hash=weights_hash(tensors),
                        **extra)
    return ModelWeights(tensors, attrs)
