"""Layers with untied forward and backward weights.

A layer computes ``r = W x`` in the forward pass; in the backward pass the error
reaching its input is ``δx = B δr`` with separate backward weights ``B``
(notes §4).  Here ``B`` is stored with the shape of ``W`` (``backward_weight``),
so in torch's row-vector convention the input gradient is ``δr @ B`` for a
linear layer and the transposed convolution of ``δr`` with ``B`` for a
convolution.  The forward weights receive their usual gradient ``δr xᵀ``
(a *pseudogradient* whenever upstream errors travelled through some ``B ≠ W``).
Backprop is the special case ``B ≡ W`` (``untied = False``: the layer then runs
torch's own operations).

``B`` is an ``nn.Parameter`` so an optimiser can step it, but the untied autograd
functions never give it a gradient: its updates come from the learning rule's
regulariser (:mod:`builders.rules`).  Each layer can keep its last input and
output (detached) for those regularisers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _UntiedLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, backward_weight, bias):
        ctx.save_for_backward(x, backward_weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, backward_weight = ctx.saved_tensors
        grad_x = grad_out @ backward_weight
        flat_out = grad_out.reshape(-1, grad_out.shape[-1])
        grad_w = flat_out.t() @ x.reshape(-1, x.shape[-1])
        grad_b = flat_out.sum(0) if ctx.has_bias else None
        return grad_x, grad_w, None, grad_b


class _UntiedConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, backward_weight, bias, stride, padding, groups):
        ctx.save_for_backward(x, backward_weight)
        ctx.conf = (stride, padding, groups, bias is not None, weight.shape)
        return F.conv2d(x, weight, bias, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, backward_weight = ctx.saved_tensors
        stride, padding, groups, has_bias, w_shape = ctx.conf
        grad_x = torch.nn.grad.conv2d_input(x.shape, backward_weight, grad_out, stride, padding, 1, groups)
        grad_w = torch.nn.grad.conv2d_weight(x, w_shape, grad_out, stride, padding, 1, groups)
        grad_b = grad_out.sum((0, 2, 3)) if has_bias else None
        return grad_x, grad_w, None, grad_b, None, None, None


class _RuleLayer:
    """Behaviour shared by the rule-aware layers."""

    untied: bool
    keep_io: bool
    last_input: torch.Tensor | None
    last_output: torch.Tensor | None

    def _init_backward_weight(self) -> None:
        self.backward_weight = nn.Parameter(torch.empty_like(self.weight))
        nn.init.kaiming_uniform_(self.backward_weight, a=math.sqrt(5))
        self.untied = False
        self.keep_io = False
        self.last_input = None
        self.last_output = None

    def _remember(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.keep_io:
            self.last_input, self.last_output = x.detach(), y.detach()
        return y


class RuleLinear(nn.Linear, _RuleLayer):
    """``nn.Linear`` with backward weights ``B`` (``backward_weight``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self._init_backward_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.untied:
            y = _UntiedLinearFunction.apply(x, self.weight, self.backward_weight, self.bias)
        else:
            y = F.linear(x, self.weight, self.bias)
        return self._remember(x, y)


class RuleConv2d(nn.Conv2d, _RuleLayer):
    """``nn.Conv2d`` (dilation 1) with backward weights ``B`` (``backward_weight``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        self._init_backward_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.untied:
            y = _UntiedConv2dFunction.apply(x, self.weight, self.backward_weight, self.bias, self.stride,
                                            self.padding, self.groups)
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        return self._remember(x, y)


RULE_LAYERS = (RuleLinear, RuleConv2d)


def rule_layers(model: nn.Module) -> list[nn.Module]:
    """The rule-aware layers of ``model`` in definition order."""
    return [m for m in model.modules() if isinstance(m, RULE_LAYERS)]
