"""The content address of an extraction: what was asked for, and the hash that names its store.

An :class:`ExtractionRequest` is everything that determines the values of an activations store:
the model (its weights' content hash and architecture config), the stimuli (the catalog checksum of
the version used), the preprocessing, the layers, the time steps, the reduction (and, for PCA, the
checksum of the fit set and the seed), the time axis (first kept step, the time of the first bin or
the recording aligned to, the bin edges — the recording's, or a feed-forward time mapping's own —, the
time mapping and its seed) and
:data:`EXTRACTOR_VERSION`.  Time-axis fields at their defaults are left out of the key, so an
extraction that does not move its steps keeps the key it had before they existed.  :func:`extraction_key` is the
SHA-256 of its canonical JSON (sorted keys, no whitespace).  Batch size, device and workers are not
part of it: they change the values by float rounding at most.

Stale caches are impossible by construction: new weights or new stimuli give a new key, hence a new
store name (``act-<model>-<stimuli>-<key[:10]>``) and a cache miss.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: bumped whenever the extractor's output for the same request changes (unit order, time bins …)
EXTRACTOR_VERSION = "1"
REDUCTIONS = ("none", "pca", "random")


def parse_reduce(spec: str) -> tuple[str, int]:
    """``none`` | ``pca:K`` | ``random:K`` → (method, K); ``ValueError`` for anything else."""
    text = (spec or "none").strip().lower()
    if text == "none":
        return "none", 0
    method, sep, k = text.partition(":")
    if method not in ("pca", "random") or not sep or not k.isdigit() or int(k) < 1:
        raise ValueError(f"--reduce {spec!r}: expected none, pca:K or random:K with K a positive integer")
    return method, int(k)


@dataclass(frozen=True)
class ExtractionRequest:
    """What an extraction computes (see the module docstring); ``layers`` empty means every layer."""

    model_weights_hash: str
    architecture: str
    architecture_args: dict[str, Any]
    stimuli_checksum: str
    preprocessing: dict[str, Any]
    layers: tuple[str, ...] = ()
    time_steps: int = 0
    reduce: str = "none"
    pca_fit_checksum: str = ""
    seed: int = 0
    first_step: int = 0
    time_start: float = 0.0
    align: str = ""
    time_bins: tuple[tuple[float, float], ...] = ()
    time_mapping: str = "none"
    extractor_version: str = field(default=EXTRACTOR_VERSION)

    def canonical(self) -> dict[str, Any]:
        """The request as plain JSON values; the reduction's fit set and seed only where they matter."""
        doc = asdict(self)
        doc["layers"] = sorted(self.layers) if self.layers else "all"
        method, _ = parse_reduce(self.reduce)
        if method != "pca":
            doc.pop("pca_fit_checksum")
        if method == "none" and self.time_mapping == "none":
            doc.pop("seed")
        for name, default in (("first_step", 0), ("time_start", 0.0), ("time_mapping", "none")):
            if doc[name] == default and not (name == "first_step" and self.align):
                doc.pop(name)
        if not self.align:
            doc.pop("align")
        if not self.time_bins:
            doc.pop("time_bins")
        else:
            doc["time_bins"] = [[float(a), float(b)] for a, b in self.time_bins]
        return doc


def extraction_key(request: ExtractionRequest) -> str:
    """SHA-256 (hex) of the request's canonical JSON."""
    text = json.dumps(request.canonical(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def store_name(model: str, stimuli: str, key: str) -> str:
    """The activations store of ``model`` on ``stimuli`` with extraction key ``key``."""
    return f"act-{model}-{stimuli}-{key[:10]}"
