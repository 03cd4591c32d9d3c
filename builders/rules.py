"""Learning rules as weighted sums of layer-wise regularisation primitives (notes §4).

For a layer with input ``x``, output ``r = W x`` and backward weights ``B``
(math convention ``δx = B δr``), the primitives are

| primitive | value          | local? |
|-----------|----------------|--------|
| decay     | ½‖B‖²          | yes    |
| amp       | −xᵀ B r        | yes    |
| null      | ½‖B r‖²        | yes    |
| sparse    | ½‖Bᵀ x‖²       | no     |
| self      | −tr(B W)       | no     |

(batch terms are averaged over examples).  With ``B`` stored in ``W``'s shape
(:mod:`builders.layers`), ``B r`` is ``r @ B`` and ``Bᵀ x`` is ``x @ Bᵀ`` for a linear
layer, and the (transposed) convolution with ``B`` for a convolution.

A rule is one :class:`LearningRule`: the primitive weights that define its
regulariser ``R(B)`` (``B`` follows gradient descent on ``R``), the optimiser of
the forward weights, and whether ``B`` is tied to ``W`` (backprop) or mirrors
``W``'s update (Kolen–Pollack).  Adding a rule is adding one entry to
:data:`RULES`; the training loop is the same for all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from builders.layers import RuleConv2d, RuleLinear, rule_layers

PRIMITIVES = ("decay", "amp", "null", "sparse", "self")


@dataclass(frozen=True)
class LearningRule:
    """One learning rule (see module docstring); metaparameters are the primitive weights."""

    name: str
    primitives: dict[str, float] = field(default_factory=dict)
    optimizer: str = "sgdm"  #: optimiser of the forward weights: "sgdm" (Nesterov 0.9) or "adam"
    tied: bool = False  #: backprop: B ≡ W
    mirror: bool = False  #: Kolen–Pollack: B receives W's update (plus its regulariser)
    backward_optimizer: str = "sgdm"  #: optimiser stepping B on ∂R/∂B
    description: str = ""

    def with_metaparameters(self, **weights: float) -> LearningRule:
        unknown = set(weights) - set(PRIMITIVES)
        if unknown:
            raise ValueError(f"unknown primitive {sorted(unknown)[0]!r}; expected {', '.join(PRIMITIVES)}")
        return replace(self, primitives={**self.primitives, **weights})


RULES: dict[str, LearningRule] = {r.name: r for r in (
    LearningRule("sgdm", optimizer="sgdm", tied=True, description="backprop, SGD with Nesterov momentum 0.9"),
    LearningRule("adam", optimizer="adam", tied=True, description="backprop, Adam"),
    LearningRule("fa", optimizer="adam", description="feedback alignment: B fixed random, R = 0"),
    LearningRule("wm", {"amp": 1.0, "decay": 0.1}, description="weight mirror: α·amp + β·decay"),
    LearningRule("ia", {"amp": 1.0, "decay": 0.1, "null": 0.1}, optimizer="adam",
                 description="information alignment: α·amp + β·decay + γ·null"),
    LearningRule("sa", {"self": 1.0, "decay": 1.0}, description="symmetric alignment: α·self + β·decay"),
    LearningRule("aa", {"amp": 1.0, "sparse": 0.1}, description="activation alignment: α·amp + β·sparse"),
    LearningRule("kp", {"decay": 0.1}, mirror=True,
                 description="Kolen–Pollack: B receives W's update plus decay"),
)}

#: The four rules of the learning-rule corpus grid (thesis §6.3).
PAPER_RULES = ("sgdm", "adam", "fa", "ia")


def get_rule(name: str) -> LearningRule:
    if name not in RULES:
        raise ValueError(f"unknown learning rule {name!r}; expected one of {', '.join(RULES)}")
    return RULES[name]


def _input_times_bt(layer: nn.Module, matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``Bᵀ x`` in math convention (the forward operation with B in place of W, no bias)."""
    if isinstance(layer, RuleLinear):
        return x @ matrix.t()
    return F.conv2d(x, matrix, None, layer.stride, layer.padding, 1, layer.groups)


def _b_times_output(layer: nn.Module, matrix: torch.Tensor, r: torch.Tensor, x_shape) -> torch.Tensor:
    """``B r`` in math convention (how an output error would travel back through B)."""
    if isinstance(layer, RuleLinear):
        return r @ matrix
    return torch.nn.grad.conv2d_input(x_shape, matrix, r, layer.stride, layer.padding, 1, layer.groups)


def primitive(name: str, layer: nn.Module, backward_weight: torch.Tensor,
              x: torch.Tensor | None = None, r: torch.Tensor | None = None) -> torch.Tensor:
    """The value of one primitive for ``layer`` with backward weights ``backward_weight``."""
    if name == "decay":
        return 0.5 * (backward_weight**2).sum()
    if name == "self":
        return -(backward_weight * layer.weight.detach()).sum()
    n = x.shape[0]
    if name == "amp":
        return -(r * _input_times_bt(layer, backward_weight, x)).sum() / n
    if name == "null":
        return 0.5 * (_b_times_output(layer, backward_weight, r, x.shape) ** 2).sum() / n
    if name == "sparse":
        return 0.5 * (_input_times_bt(layer, backward_weight, x) ** 2).sum() / n
    raise ValueError(f"unknown primitive {name!r}; expected one of {', '.join(PRIMITIVES)}")


def regulariser(rule: LearningRule, layer: nn.Module, backward_weight: torch.Tensor) -> torch.Tensor:
    """``R(B) = Σ weight · primitive`` for ``layer`` (uses its last input and output)."""
    total = backward_weight.new_zeros(())
    for name, weight in rule.primitives.items():
        if weight:
            total = total + weight * primitive(name, layer, backward_weight, layer.last_input,
                                               layer.last_output)
    return total


class RuleTrainer:
    """Applies a learning rule to a model: sets layers up, owns both optimisers, steps them.

    ``step(loss)`` back-propagates ``loss`` (through B where untied), then updates W with
    the forward optimiser and B with the backward optimiser on ``∂R/∂B`` (plus W's
    gradient for Kolen–Pollack).
    """

    def __init__(self, model: nn.Module, rule: LearningRule, lr: float, weight_decay: float = 0.0):
        self.model, self.rule = model, rule
        self.layers = rule_layers(model)
        needs_io = any(w and p not in ("decay", "self") for p, w in rule.primitives.items())
        for layer in self.layers:
            layer.untied = not rule.tied
            layer.keep_io = needs_io
            layer.backward_weight.requires_grad_(not rule.tied and (bool(rule.primitives) or rule.mirror))
        backward = {id(layer.backward_weight) for layer in self.layers}
        forward_params = [p for p in model.parameters() if id(p) not in backward]
        self.forward_optimizer = _optimizer(rule.optimizer, forward_params, lr, weight_decay)
        learned_b = [layer.backward_weight for layer in self.layers if layer.backward_weight.requires_grad]
        self.backward_optimizer = _optimizer(rule.backward_optimizer, learned_b, lr, 0.0) if learned_b else None

    def set_lr(self, lr: float) -> None:
        for optimizer in (self.forward_optimizer, self.backward_optimizer):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr

    def step(self, loss: torch.Tensor) -> None:
        self.forward_optimizer.zero_grad(set_to_none=True)
        if self.backward_optimizer is not None:
            self.backward_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.backward_optimizer is not None:
            for layer in self.layers:
                b = layer.backward_weight
                active = any(self.rule.primitives.values())
                grad = torch.autograd.grad(regulariser(self.rule, layer, b), b, allow_unused=True)[0] \
                    if active else None
                grad = torch.zeros_like(b) if grad is None else grad
                if self.rule.mirror and layer.weight.grad is not None:
                    grad = grad + layer.weight.grad
                b.grad = grad
        self.forward_optimizer.step()
        if self.backward_optimizer is not None:
            self.backward_optimizer.step()


def _optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float):
    params = list(params)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {name!r}; expected sgdm or adam")


__all__ = ["PAPER_RULES", "PRIMITIVES", "RULES", "LearningRule", "RuleConv2d", "RuleLinear", "RuleTrainer",
           "get_rule", "primitive", "regulariser"]
