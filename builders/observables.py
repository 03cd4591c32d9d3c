"""Observable statistics of every layer, computed on the training device (notes §5).

For each observed layer and checkpoint, on the validation stimuli:

* **weights** — all weights of the layer's rule-aware layer;
* **activations** — the layer's outputs, per stimulus over its units, then averaged
  over stimuli;
* **activity change** — per stimulus, the gradient of the sum of the layer's outputs
  with respect to its inputs, summed over the inputs and divided by the number of
  outputs, ``(1/n_out) Σ_in Σ_out ∂y_out/∂x_in``; the function is applied per
  stimulus, then averaged over stimuli (statistic ``mean`` only).

Functions ``raw`` (identity), ``abs``, ``square``; statistics ``norm`` (Frobenius),
``mean``, ``var``, ``skew`` = 3(mean − median)/std, ``kurtosis`` (excess),
``median``, ``q3`` (third quartile, linear interpolation as numpy) → 45 statistics.
:data:`FINITE_24` are the 24 that stay finite in every run and feed the classifiers; the names
are defined once in :mod:`builders.corpus_format`.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from builders.corpus_format import (  # noqa: F401 (the statistic names are read from here too)
    ALL_STATISTICS,
    FINITE_24,
    FUNCTION_NAMES,
    OBSERVABLES,
    STATISTICS,
)

#: Torch functions applied before a statistic, in the order of :data:`FUNCTION_NAMES`.
FUNCTIONS = dict(zip(FUNCTION_NAMES, (lambda t: t, torch.abs, torch.square), strict=True))


def _quantile(sorted_rows: torch.Tensor, q: float) -> torch.Tensor:
    """Quantile ``q`` of each sorted row, interpolated linearly as ``numpy.quantile``."""
    position = q * (sorted_rows.shape[1] - 1)
    low = int(position)
    high = min(low + 1, sorted_rows.shape[1] - 1)
    frac = position - low
    return sorted_rows[:, low] + frac * (sorted_rows[:, high] - sorted_rows[:, low])


def _moments(rows: torch.Tensor, median: torch.Tensor, q3: torch.Tensor) -> dict[str, torch.Tensor]:
    mean = rows.mean(1)
    var = rows.var(1, unbiased=False)
    centred = rows - mean[:, None]
    return {
        "norm": rows.norm(dim=1),
        "mean": mean,
        "var": var,
        "skew": 3.0 * (mean - median) / var.sqrt(),
        "kurtosis": (centred**2).square().mean(1) / var**2 - 3.0,
        "median": median,
        "q3": q3,
    }


def function_statistics(rows: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """The seven statistics of each row of ``rows`` (R × M) under raw, abs and square.

    Two sorts serve the three functions: ``square`` is monotone in ``|x|``, so the
    sorted squares are the squares of the sorted absolute values.
    """
    rows = rows.double()
    ordered = rows.sort(1).values
    magnitude = rows.abs()
    ordered_abs = magnitude.sort(1).values
    squared_sorted = ordered_abs.square()
    out = {}
    for name, values, ordered_values in (("raw", rows, ordered), ("abs", magnitude, ordered_abs),
                                         ("square", rows.square(), squared_sorted)):
        out[name] = _moments(values, _quantile(ordered_values, 0.5), _quantile(ordered_values, 0.75))
    return out


def row_statistics(rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The seven statistics of each row of ``rows`` (R × M), as (R,) tensors (float64)."""
    rows = rows.double()
    ordered = rows.sort(1).values
    return _moments(rows, _quantile(ordered, 0.5), _quantile(ordered, 0.75))


def _flatten(stats: dict[str, dict[str, torch.Tensor]], reduce) -> dict[tuple[str, str], float]:
    keys = [(f, s) for f in stats for s in stats[f]]
    values = torch.stack([reduce(stats[f][s]) for f, s in keys]).cpu().tolist()  # one device sync
    return dict(zip(keys, values, strict=True))


def weight_statistics(weight: torch.Tensor) -> dict[tuple[str, str], float]:
    return _flatten(function_statistics(weight.detach().reshape(1, -1)), lambda v: v[0])


def activation_statistics(outputs: torch.Tensor) -> dict[tuple[str, str], float]:
    rows = outputs.detach().reshape(outputs.shape[0], -1)
    return _flatten(function_statistics(rows), lambda v: v.mean())


def activity_change(block: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Per stimulus: ``(1/n_out) Σ_in ∂(Σ_out y_out)/∂x_in`` of ``block`` at ``inputs``."""
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = block(x)
        (grad,) = torch.autograd.grad(y.sum(), x)
    return grad.reshape(grad.shape[0], -1).sum(1) / y[0].numel()


def activity_change_statistics(change: torch.Tensor) -> dict[tuple[str, str], float]:
    return {(f, "mean"): float(fn(change.double()).mean()) for f, fn in FUNCTIONS.items()}


def record_layers(model: torch.nn.Module, observed: Iterable, stimuli: torch.Tensor,
                  keep_raw: set[str] | None = None) -> tuple[list[dict], dict[str, dict[str, torch.Tensor]]]:
    """All 45 statistics of every observed layer at ``stimuli`` (one checkpoint).

    Returns rows ``{layer, layer_index, layer_position, observable, function, statistic,
    value}`` and, for layers named in ``keep_raw``, their raw matrices (``activations``:
    stimulus × unit, ``input_gradient``: stimulus × input unit, ``weights``: the layer's
    forward weights, flattened).
    """
    observed = list(observed)
    captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [layer.block.register_forward_hook(
        lambda module, args, output, i=i: captured.__setitem__(i, (args[0].detach(), output.detach())))
        for i, layer in enumerate(observed)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(stimuli)
        rows, raw = [], {}
        for i, layer in enumerate(observed):
            inputs, outputs = captured[i]
            values = {("weights", *k): v for k, v in weight_statistics(layer.block.layer.weight).items()}
            values.update({("activations", *k): v for k, v in activation_statistics(outputs).items()})
            change = activity_change(layer.block, inputs)
            values.update({("activity_change", *k): v for k, v in activity_change_statistics(change).items()})
            for (observable, function, statistic), value in values.items():
                rows.append({"layer": layer.name, "layer_index": i, "layer_position": layer.position,
                             "observable": observable, "function": function, "statistic": statistic,
                             "value": value})
            if keep_raw and layer.name in keep_raw:
                x = inputs.detach().clone().requires_grad_(True)
                with torch.enable_grad():
                    (grad,) = torch.autograd.grad(layer.block(x).sum(), x)
                raw[layer.name] = {"activations": outputs.reshape(outputs.shape[0], -1).cpu(),
                                   "input_gradient": grad.reshape(grad.shape[0], -1).cpu(),
                                   "weights": layer.block.layer.weight.detach().reshape(-1).cpu().clone()}
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return rows, raw
