"""Feed-forward models on a time axis (notes §2; thesis §2.3.2): their layers fire once, so they get
times by spreading a chosen ordered list of layers (e.g. the IT-preferred ones) over ``n_bins`` time
bins.

Every bin holds the same number ``K`` of units (*slots*), ``K`` = the smallest unit count of the
layers (a ``pca:K``-reduced extraction gives every layer exactly ``K``).  Each layer ``ℓ`` contributes
a fixed list of ``K`` of its units ``σ_ℓ`` (the same in every bin that reads it, so slot ``j`` is one
pseudo-unit traversing the layers): ``σ_ℓ = 0 … K−1`` for ``uniform`` where the layer has exactly ``K``
units, otherwise ``K`` units drawn without replacement by ``default_rng([seed, ℓ])`` (``graded``
always draws, so which units hand over first is random).  With ``L`` layers:

* ``uniform``: bin ``b`` reads layer ``⌊b·L / n_bins⌋`` (the layers cover consecutive, equal runs of
  bins); slot ``j`` of bin ``b`` = unit ``σ_ℓ[j]`` of that layer.
* ``graded``: bin ``b`` sits at the position ``p_b = b·(L−1)/(n_bins−1)`` between layers (``p = 0``
  for one bin); with ``ℓ = ⌊p_b⌋`` and ``f = p_b − ℓ`` it takes ``n_next = ⌊f·K + ½⌋`` slots from layer
  ``ℓ+1`` and the other ``K − n_next`` from layer ``ℓ``: slot ``j < K − n_next`` = unit ``σ_ℓ[j]``,
  slot ``j ≥ K − n_next`` = unit ``σ_{ℓ+1}[j]``.  The first bin is all first layer, the last all last
  layer, and in between the layers blend in proportion to the distance.

:func:`plan` gives the (slot × bin) source layer and unit from the unit counts alone (no data), so an
extraction applying it batch by batch selects the same units in every batch; :func:`apply` reads
them.  Integer arithmetic throughout: the plan is exact and deterministic given ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from goalstore.errors import AnalysisInputError

#: the time mappings: ``none`` (the layers as they are) and the two of notes §2
MAPPINGS = ("none", "uniform", "graded")


def _check(mapping: str, unit_counts: Sequence[int], n_bins: int, n_units: int | None) -> int:
    if mapping not in MAPPINGS[1:]:
        raise AnalysisInputError(f"time mapping {mapping!r}: unknown; expected uniform or graded")
    if not unit_counts:
        raise AnalysisInputError(f"time mapping {mapping}: no layers to map")
    if n_bins < 1:
        raise AnalysisInputError(f"time mapping {mapping}: {n_bins} time bins; expected at least 1")
    fewest = int(min(unit_counts))
    k = fewest if n_units is None else int(n_units)
    if not 1 <= k <= fewest:
        raise AnalysisInputError(f"time mapping {mapping}: {k} units per bin; expected 1 to {fewest} (the "
                                 "smallest layer's units)")
    return k


def _selections(unit_counts: Sequence[int], k: int, seed: int, draw: bool) -> list[np.ndarray]:
    """``σ_ℓ`` of every layer: its first ``K`` units, or ``K`` drawn by ``default_rng([seed, ℓ])``."""
    return [np.arange(k) if n == k and not draw else
            np.random.default_rng([int(seed), i]).choice(int(n), size=k, replace=False)
            for i, n in enumerate(unit_counts)]


def plan(mapping: str, unit_counts: Sequence[int], n_bins: int, seed: int = 0,
         n_units: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(source layer, source unit), each slot × bin (int), of ``mapping`` (module docstring) for layers
    with ``unit_counts`` units; ``n_units``: ``K`` (default the smallest count)."""
    k = _check(mapping, unit_counts, n_bins, n_units)
    n_layers = len(unit_counts)
    bins = np.arange(n_bins)
    slots = np.arange(k)[:, None]
    if mapping == "uniform":
        layer = np.broadcast_to((bins * n_layers) // n_bins, (k, n_bins)).copy()
    else:
        span = max(n_bins - 1, 1)
        low, rest = np.divmod(bins * (n_layers - 1), span)  # p_b = low + rest / span
        n_next = (2 * rest * k + span) // (2 * span)  # ⌊f·K + ½⌋
        layer = low[None, :] + (slots >= k - n_next[None, :])
    sigma = np.stack(_selections(unit_counts, k, seed, draw=mapping == "graded"))  # layer × slot
    unit = sigma[layer, np.broadcast_to(slots, layer.shape)]
    return layer, unit


def apply(layers_feats: Sequence[np.ndarray], layer: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """stimulus × slot × bin: slot ``j`` of bin ``b`` = ``layers_feats[layer[j, b]][:, unit[j, b]]``."""
    out = np.empty((layers_feats[0].shape[0], *layer.shape), dtype=np.result_type(*layers_feats))
    for i, feats in enumerate(layers_feats):
        where = layer == i
        if where.any():
            out[:, where] = feats[:, unit[where]]
    return out


def _feats(layers_feats: Sequence[np.ndarray]) -> list[np.ndarray]:
    feats = [np.asarray(f) for f in layers_feats]
    if any(f.ndim != 2 for f in feats) or len({f.shape[0] for f in feats}) > 1:
        raise AnalysisInputError("time mapping: expected one stimulus × unit array per layer, the same "
                                 f"stimuli in each; got shapes {[f.shape for f in feats]}")
    return feats


def map_time(mapping: str, layers_feats: Sequence[np.ndarray], n_bins: int, seed: int = 0,
             n_units: int | None = None) -> np.ndarray:
    """stimulus × K × ``n_bins`` features of the ordered layers ``layers_feats`` (each stimulus × unit)
    under ``mapping`` (``uniform`` or ``graded``; module docstring)."""
    feats = _feats(layers_feats)
    layer, unit = plan(mapping, [f.shape[1] for f in feats], n_bins, seed, n_units)
    return apply(feats, layer, unit)


def uniform(layers_feats: Sequence[np.ndarray], n_bins: int, seed: int = 0,
            n_units: int | None = None) -> np.ndarray:
    """Bin ``b`` reads layer ``⌊b·L/n_bins⌋``: stimulus × K × ``n_bins`` (module docstring)."""
    return map_time("uniform", layers_feats, n_bins, seed, n_units)


def graded(layers_feats: Sequence[np.ndarray], n_bins: int, seed: int = 0,
           n_units: int | None = None) -> np.ndarray:
    """Bin ``b`` takes a fraction ``1 − frac(p_b)`` of its K units from layer ``⌊p_b⌋`` and the rest from
    the next, ``p_b = b·(L−1)/(n_bins−1)``: stimulus × K × ``n_bins`` (module docstring)."""
    return map_time("graded", layers_feats, n_bins, seed, n_units)


def pseudo_layer(mapping: str, layers: Sequence[str]) -> str:
    """The name of the one layer a mapping makes, e.g. ``uniform:conv4+conv5+fc6``."""
    return f"{mapping}:{'+'.join(layers)}"
