"""Model stores: a trained network's weights (safetensors) with what is needed to rebuild and trust it.

A model store is not an array store: it is one ``.safetensors`` file holding the network's tensors
(its ``state_dict``: parameters and buffers, by name) and, in the file's header, the attrs below as
one JSON document (one header key, so identical content gives identical bytes).  In memory it is a
:class:`ModelWeights`; :func:`validate_model` is its schema check, run on every write.

Required attrs (besides the descriptive ``species``, ``modality``, ``source``, ``license`` and
``citation`` every store carries):

* ``kind`` = ``"model"``, ``schema_version``;
* ``architecture`` (a name the builders know, e.g. ``knet4`` or ``convnet-small``) and
  ``architecture_args`` (a dict: the keyword arguments that build it, e.g. input size, channels,
  width) — together the *architecture config*;
* ``training`` (a dict: the training recipe — task, stimuli, epochs, seed …; ``{}`` for an
  untrained network) and ``metrics`` (a dict of numbers, e.g. final validation accuracy);
* ``input_shape``: ``[channels, height, width]`` of the images the network takes (extraction resizes
  stimuli to it), or ``[steps, inputs]`` of a sequence network (a path integrator: velocity inputs per
  time step; not extracted on stimuli);
* ``n_parameters`` (the number of scalar parameters) and ``n_units`` (units of the observed layers
  for an input of ``input_shape``);
* ``weights_hash``: ``"sha256:<hex>"`` of the tensors (:func:`weights_hash`): names, dtypes, shapes
  and bytes, in name order.  It is recomputed and compared on write, so a model store never claims
  weights it does not hold, and it is what keys every activation cache (see
  :mod:`goalstore.activations.key`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalstore.errors import SchemaError
from goalstore.schema.vocabulary import MODEL_KIND, REQUIRED_ATTRS, SCHEMA_VERSION

#: attrs a model store carries besides :data:`~goalstore.schema.vocabulary.REQUIRED_ATTRS`, with their type
MODEL_ATTRS: dict[str, type | tuple[type, ...]] = {
    "architecture": str,
    "architecture_args": dict,
    "training": dict,
    "metrics": dict,
    "input_shape": list,
    "n_parameters": int,
    "n_units": int,
    "weights_hash": str,
}

#: dtypes a weight tensor may have
WEIGHT_DTYPES = ("float16", "float32", "float64", "bfloat16", "int64", "int32", "uint8", "bool")


def weights_hash(tensors: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of ``tensors``: each tensor's name, dtype, shape and C-order bytes, in name order.

    Independent of the file (header layout, metadata): two stores hold the same weights iff their
    hashes are equal."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(json.dumps([name, str(array.dtype), list(array.shape)]).encode())
        digest.update(array.tobytes())
    return "sha256:" + digest.hexdigest()


class LazyTensors(Mapping[str, np.ndarray]):
    """The tensors of a ``.safetensors`` file, read (memory-mapped) one at a time on access."""

    def __init__(self, path: Any):
        from safetensors import safe_open

        self.path = path
        with safe_open(str(path), framework="numpy") as handle:
            self._names = sorted(handle.keys())

    def __getitem__(self, name: str) -> np.ndarray:
        from safetensors import safe_open

        if name not in self._names:
            raise KeyError(name)
        with safe_open(str(self.path), framework="numpy") as handle:
            return handle.get_tensor(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class ModelWeights:
    """A network's tensors (name → array) and its attrs: the in-memory form of a model store."""

    tensors: Mapping[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture_config(self) -> dict[str, Any]:
        """``{"architecture": …, "architecture_args": {…}}``: what builds the network."""
        return {"architecture": self.attrs["architecture"],
                "architecture_args": self.attrs["architecture_args"]}

    def state_dict(self) -> dict[str, Any]:
        """The tensors as a torch ``state_dict`` (copies; for ``module.load_state_dict``)."""
        import torch

        return {name: torch.from_numpy(np.array(self.tensors[name])) for name in self.tensors}

    def __repr__(self) -> str:
        a = self.attrs
        return (f"<ModelWeights {a.get('architecture')} {a.get('n_parameters')} parameters "
                f"{len(self.tensors)} tensors {str(a.get('weights_hash', ''))[:19]}>")


def model_attrs(**attrs: Any) -> dict[str, Any]:
    """``{"kind": "model", **attrs, "schema_version": …}``: the attrs of a model store."""
    return {"kind": MODEL_KIND, **attrs, "schema_version": SCHEMA_VERSION}


def _fail(where: str, problem: str, expected: str) -> SchemaError:
    return SchemaError(f"{where}: {problem}; expected {expected}")


def _dtype_name(array: Any) -> str:
    dtype = getattr(array, "dtype", None)
    return str(dtype).removeprefix("torch.")


def validate_model(obj: Any, *, check_hash: bool = True) -> None:
    """Raise :class:`SchemaError` unless ``obj`` is a canonical :class:`ModelWeights`.

    Checks: at least one tensor; tensor names are non-empty strings; every tensor is an array of a
    :data:`WEIGHT_DTYPES` dtype with only finite values; the required attrs are present with their
    types (:data:`MODEL_ATTRS`), ``kind`` is ``"model"`` and ``schema_version`` current; the dict attrs
    are JSON-serialisable; ``n_parameters`` equals the tensors' floating-point element count; and (with
    ``check_hash``) ``weights_hash`` is the hash of the tensors."""
    if not isinstance(obj, ModelWeights):
        raise _fail("object", f"is a {type(obj).__name__}", "a ModelWeights (tensors + attrs)")
    attrs = obj.attrs
    for attr in REQUIRED_ATTRS:
        value = attrs.get(attr)
        if not isinstance(value, str) or not value.strip():
            raise _fail(f"attr {attr!r}", "is missing or empty", "a non-empty string")
    if attrs["kind"] != MODEL_KIND:
        raise _fail("attr 'kind'", f"is {attrs['kind']!r}", repr(MODEL_KIND))
    if attrs["schema_version"] != SCHEMA_VERSION:
        raise _fail("attr 'schema_version'", f"is {attrs['schema_version']!r}", repr(SCHEMA_VERSION))
    for attr, kind in MODEL_ATTRS.items():
        value = attrs.get(attr)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _fail(f"attr {attr!r}", f"is {value!r}", f"a {getattr(kind, '__name__', kind)}")
        if isinstance(value, dict):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise _fail(f"attr {attr!r}", f"is not a JSON document ({exc})",
                            "JSON-serialisable values") from None
    shape = attrs["input_shape"]
    if len(shape) not in (2, 3) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                           for v in shape):
        raise _fail("attr 'input_shape'", f"is {shape!r}",
                    "[channels, height, width] (or a sequence network's [steps, inputs]), positive integers")
    if not obj.tensors:
        raise _fail("model", "has no tensors", "at least one weight tensor")
    n_float = 0
    for name in obj.tensors:
        if not isinstance(name, str) or not name:
            raise _fail(f"tensor {name!r}", "has no name", "a non-empty string name")
        array = obj.tensors[name]
        if not isinstance(array, np.ndarray):
            raise _fail(f"tensor {name!r}", f"is a {type(array).__name__}", "a numpy array")
        if _dtype_name(array) not in WEIGHT_DTYPES:
            raise _fail(f"tensor {name!r}", f"has dtype {array.dtype}", f"one of {', '.join(WEIGHT_DTYPES)}")
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise _fail(f"tensor {name!r}", "holds NaN or ±inf", "finite weights (a diverged network?)")
            n_float += array.size
    if attrs["n_parameters"] > n_float or attrs["n_parameters"] < 1:
        raise _fail("attr 'n_parameters'", f"is {attrs['n_parameters']}",
                    f"between 1 and the {n_float} floating-point values the tensors hold")
    if check_hash and attrs["weights_hash"] != (actual := weights_hash(obj.tensors)):
        raise _fail("attr 'weights_hash'", f"is {attrs['weights_hash']!r} but the tensors hash to {actual!r}",
                    "the hash of the tensors")
