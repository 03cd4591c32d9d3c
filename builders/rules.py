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
regulariser ``R(B)`` (``B`` follows gradient descent on ``R``), its optimiser pair
— the *forward* optimiser stepping ``W`` on the (pseudo)gradient and the
*alignment* optimiser stepping ``B`` on ``∂R/∂B`` (``None`` where ``B`` is not
learned: tied to ``W`` for backprop, fixed for feedback alignment) — and whether
``B`` is tied to ``W`` (backprop) or mirrors ``W``'s update (Kolen–Pollack).
Adding a rule is adding one entry to :data:`RULES`; the training loop is the
same for all.

Optimiser pairs (thesis §6.3.8, Table 5.5): SGDM = backprop with SGD + Nesterov
momentum 0.9; Adam = backprop with Adam; FA steps ``W`` with Adam on the
pseudogradient (``B`` fixed); IA steps ``W`` with SGD + Nesterov momentum 0.9 (the
SGDM base learning rate) and minimises its alignment loss on ``B`` with Adam.  The
other alignment rules (WM, SA, AA) follow IA's pair; Kolen–Pollack steps ``B``
with ``W``'s own optimiser, so that ``B`` receives exactly ``W``'s (transposed) update.
Each optimiser runs at its own base learning rate (:data:`BASE_LR`), scaled alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from builders.layers import RuleConv2d, RuleLinear, rule_layers

PRIMITIVES = ("decay", "amp", "null", "sparse", "self")


#: Base learning rate of each optimiser at batch size 256 (scaled linearly with the batch size).
BASE_LR = {"sgdm": 0.1, "adam": 1e-3}
OPTIMIZERS = tuple(BASE_LR)


@dataclass(frozen=True)
class LearningRule:
    """One learning rule (see module docstring); metaparameters are the primitive weights."""

    name: str
    primitives: dict[str, float] = field(default_factory=dict)
    forward_optimizer: str = "sgdm"  #: optimiser of the forward weights W: "sgdm" (Nesterov 0.9) or "adam"
    alignment_optimizer: str | None = None  #: optimiser of B on ∂R/∂B; None: B is not learned
    tied: bool = False  #: backprop: B ≡ W
    mirror: bool = False  #: Kolen–Pollack: B receives W's update (plus its regulariser)
    description: str = ""

    def __post_init__(self) -> None:
        for which, name in (("forward", self.forward_optimizer), ("alignment", self.alignment_optimizer)):
            if name is not None and name not in OPTIMIZERS:
                raise ValueError(f"rule {self.name!r}: unknown {which} optimiser {name!r}; expected "
                                 f"{' or '.join(OPTIMIZERS)}")
        learns_b = bool(self.primitives) or self.mirror
        if learns_b and (self.tied or self.alignment_optimizer is None):
            raise ValueError(f"rule {self.name!r}: B is learned (regulariser or mirror) so it needs an "
                             "alignment optimiser and cannot be tied")
        if not learns_b and self.alignment_optimizer is not None:
            raise ValueError(f"rule {self.name!r}: B is not learned; its alignment optimiser must be None")

    @property
    def optimizers(self) -> tuple[str, str | None]:
        """The (forward, alignment) optimiser pair."""
        return self.forward_optimizer, self.alignment_optimizer

    def with_metaparameters(self, **weights: float) -> LearningRule:
        unknown = set(weights) - set(PRIMITIVES)
        if unknown:
            raise ValueError(f"unknown primitive {sorted(unknown)[0]!r}; expected {', '.join(PRIMITIVES)}")
        return replace(self, primitives={**self.primitives, **weights})


RULES: dict[str, LearningRule] = {r.name: r for r in (
    LearningRule("sgdm", forward_optimizer="sgdm", alignment_optimizer=None, tied=True,
                 description="backprop, SGD with Nesterov momentum 0.9"),
    LearningRule("adam", forward_optimizer="adam", alignment_optimizer=None, tied=True,
                 description="backprop, Adam"),
    LearningRule("fa", forward_optimizer="adam", alignment_optimizer=None,
                 description="feedback alignment: B fixed random, R = 0; W by Adam on the pseudogradient"),
    LearningRule("wm", {"amp": 1.0, "decay": 0.1}, forward_optimizer="sgdm", alignment_optimizer="adam",
                 description="weight mirror: α·amp + β·decay"),
    LearningRule("ia", {"amp": 1.0, "decay": 0.1, "null": 0.1}, forward_optimizer="sgdm",
                 alignment_optimizer="adam",
                 description="information alignment: α·amp + β·decay + γ·null; W by SGD + Nesterov "
                             "momentum, B by Adam"),
    LearningRule("sa", {"self": 1.0, "decay": 1.0}, forward_optimizer="sgdm", alignment_optimizer="adam",
                 description="symmetric alignment: α·self + β·decay"),
    LearningRule("aa", {"amp": 1.0, "sparse": 0.1}, forward_optimizer="sgdm", alignment_optimizer="adam",
                 description="activation alignment: α·amp + β·sparse"),
    LearningRule("kp", {"decay": 0.1}, forward_optimizer="sgdm", alignment_optimizer="sgdm", mirror=True,
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
    the forward optimiser and B with the alignment optimiser on ``∂R/∂B`` (plus W's
    gradient for Kolen–Pollack).  ``lr`` is the forward learning rate and
    ``alignment_lr`` the alignment one (default: ``lr`` rescaled by the two optimisers'
    base rates, ``lr · BASE_LR[alignment] / BASE_LR[forward]``); ``set_lr`` keeps that ratio.
    """

    def __init__(self, model: nn.Module, rule: LearningRule, lr: float, weight_decay: float = 0.0,
                 alignment_lr: float | None = None):
        self.model, self.rule = model, rule
        self.layers = rule_layers(model)
        needs_io = any(w and p not in ("decay", "self") for p, w in rule.primitives.items())
        for layer in self.layers:
            layer.untied = not rule.tied
            layer.keep_io = needs_io
            layer.backward_weight.requires_grad_(rule.alignment_optimizer is not None)
        backward = {id(layer.backward_weight) for layer in self.layers}
        forward_params = [p for p in model.parameters() if id(p) not in backward]
        self.forward_optimizer = _optimizer(rule.forward_optimizer, forward_params, lr, weight_decay)
        if alignment_lr is None and rule.alignment_optimizer is not None:
            alignment_lr = lr * BASE_LR[rule.alignment_optimizer] / BASE_LR[rule.forward_optimizer]
        self._ratio = (alignment_lr / lr) if alignment_lr is not None and lr else 1.0
        learned_b = [layer.backward_weight for layer in self.layers if layer.backward_weight.requires_grad]
        self.alignment_optimizer = _optimizer(rule.alignment_optimizer, learned_b, alignment_lr, 0.0) \
            if learned_b else None

    def set_lr(self, lr: float) -> None:
        """Set the forward learning rate (the alignment one follows at the fixed ratio)."""
        for optimizer, value in ((self.forward_optimizer, lr), (self.alignment_optimizer, lr * self._ratio)):
            if optimizer is not None:
                for group in optimizer.param_groups:
                    group["lr"] = value

    def step(self, loss: torch.Tensor) -> None:
        self.forward_optimizer.zero_grad(set_to_none=True)
        if self.alignment_optimizer is not None:
            self.alignment_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.alignment_optimizer is not None:
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
        if self.alignment_optimizer is not None:
            self.alignment_optimizer.step()


def _optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float):
    params = list(params)
    if name == "sgdm":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimiser {name!r}; expected sgdm or adam")


__all__ = ["BASE_LR", "OPTIMIZERS", "PAPER_RULES", "PRIMITIVES", "RULES", "LearningRule", "RuleConv2d",
           "RuleLinear", "RuleTrainer", "get_rule", "primitive", "regulariser"]
