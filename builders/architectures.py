"""Architectures of the learning-rule grid, built from rule-aware layers.

Every network is a :class:`RuleNet`: its ``blocks`` are the observed layers
(one rule-aware convolution or linear layer with the normalisation and
nonlinearity that follow it, or precede it in pre-activation ResNets), each with
a name and an early/middle/deep position (thirds of the block list; heads of
contrastive models are deep).  ``width`` scales every channel/unit count and
``input_size``/``in_channels`` set the input, so scaled-down versions train on a
CPU.

* KNet4: conv5-pool, conv5-pool, fc384, fc(out); KNet5 adds fc192 before the
  output (Krizhevsky's CIFAR-10 networks); ``-LRN`` adds local response
  normalisation after each convolution.
* AlexNet (5 conv + 3 fc, ``-LRN`` variant); small inputs get a stride-1 stem.
* ResNet-18/34 (basic blocks [2,2,2,2] / [3,4,6,3]); ``v2`` = pre-activation.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from builders.layers import RuleConv2d, RuleLinear

ARCHITECTURES = ("knet4", "knet4-lrn", "knet5", "knet5-lrn", "alexnet", "alexnet-lrn",
                 "resnet18", "resnet18v2", "resnet34", "resnet34v2")


class Block(nn.Module):
    """One observed layer: a rule-aware layer with its normalisation and nonlinearity."""

    def __init__(self, layer: nn.Module, norm: nn.Module | None = None, relu: bool = True,
                 pre: bool = False):
        super().__init__()
        self.layer, self.norm, self.relu, self.pre = layer, norm, relu, pre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:  # pre-activation: norm → relu → layer
            if self.norm is not None:
                x = self.norm(x)
            if self.relu:
                x = torch.relu(x)
            return self.layer(x)
        x = self.layer(x)
        if self.norm is not None:
            x = self.norm(x)
        return torch.relu(x) if self.relu else x


@dataclass
class ObservedLayer:
    name: str
    block: Block
    position: str


class RuleNet(nn.Module):
    """A network whose observed layers are ``self.observed`` (in forward order)."""

    def __init__(self) -> None:
        super().__init__()
        self._observed: list[tuple[str, Block, bool]] = []

    def _add(self, name: str, block: Block, head: bool = False) -> Block:
        self.add_module(name.replace(".", "_"), block)
        self._observed.append((name, block, head))
        return block

    @property
    def observed(self) -> list[ObservedLayer]:
        n = len(self._observed)
        out = []
        for i, (name, block, head) in enumerate(self._observed):
            position = "deep" if head else ("early", "middle", "deep")[min(2, 3 * i // n)]
            out.append(ObservedLayer(name, block, position))
        return out


def _ch(value: float, width: float) -> int:
    return max(1, round(value * width))


class KNet(RuleNet):
    def __init__(self, depth: int, lrn: bool, in_channels: int, input_size: int, out_features: int,
                 width: float):
        super().__init__()
        c = _ch(64, width)
        norm = (lambda: nn.LocalResponseNorm(4, alpha=0.001 / 9, beta=0.75)) if lrn else (lambda: None)
        self.conv1 = self._add("conv1", Block(RuleConv2d(in_channels, c, 5, padding=2), norm()))
        self.conv2 = self._add("conv2", Block(RuleConv2d(c, c, 5, padding=2), norm()))
        self.pool = nn.MaxPool2d(2) if input_size >= 4 else nn.Identity()
        size = input_size // 4 if input_size >= 4 else input_size
        hidden = [_ch(384, width)] + ([_ch(192, width)] if depth == 5 else [])
        dims = [c * size * size, *hidden]
        self.fcs = [self._add(f"fc{i + 1}", Block(RuleLinear(a, b))) for i, (a, b) in
                    enumerate(pairwise(dims))]
        self.out = self._add(f"fc{len(dims)}", Block(RuleLinear(dims[-1], out_features), relu=False))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv1(x))
        x = self.pool(self.conv2(x)).flatten(1)
        for fc in self.fcs:
            x = fc(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class AlexNet(RuleNet):
    def __init__(self, lrn: bool, in_channels: int, input_size: int, out_features: int, width: float):
        super().__init__()
        small = input_size < 64
        chans = [_ch(c, width) for c in (64, 192, 384, 256, 256)]
        norm = (lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)) if lrn else (lambda: None)
        first = RuleConv2d(in_channels, chans[0], 3 if small else 11, 1 if small else 4, 1 if small else 2)
        self.c1 = self._add("conv1", Block(first, norm()))
        self.c2 = self._add("conv2", Block(RuleConv2d(chans[0], chans[1], 5, padding=2), norm()))
        self.c3 = self._add("conv3", Block(RuleConv2d(chans[1], chans[2], 3, padding=1)))
        self.c4 = self._add("conv4", Block(RuleConv2d(chans[2], chans[3], 3, padding=1)))
        self.c5 = self._add("conv5", Block(RuleConv2d(chans[3], chans[4], 3, padding=1)))
        self.pool = nn.MaxPool2d(3, 2) if not small else nn.MaxPool2d(2)
        self.small = small
        self.avg = nn.AdaptiveAvgPool2d(2 if small else 6)
        flat = chans[4] * (4 if small else 36)
        hidden = _ch(4096, width)
        self.f1 = self._add("fc1", Block(RuleLinear(flat, hidden)))
        self.f2 = self._add("fc2", Block(RuleLinear(hidden, hidden)))
        self.out = self._add("fc3", Block(RuleLinear(hidden, out_features), relu=False))

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x) if x.shape[-1] >= (2 if self.small else 3) else x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._pool(self.c1(x))
        x = self._pool(self.c2(x))
        x = self._pool(self.c5(self.c4(self.c3(x))))
        return self.f2(self.f1(self.avg(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class _Basic(nn.Module):
    def __init__(self, net: RuleNet, name: str, cin: int, cout: int, stride: int, pre: bool):
        super().__init__()
        bn = nn.BatchNorm2d
        conv_a = RuleConv2d(cin, cout, 3, stride, 1, bias=False)
        if pre:
            self.a = net._add(f"{name}.conv1", Block(conv_a, bn(cin), pre=True))
            self.b = net._add(f"{name}.conv2", Block(RuleConv2d(cout, cout, 3, 1, 1, bias=False), bn(cout),
                                                     pre=True))
        else:
            self.a = net._add(f"{name}.conv1", Block(conv_a, bn(cout)))
            self.b = net._add(f"{name}.conv2", Block(RuleConv2d(cout, cout, 3, 1, 1, bias=False), bn(cout),
                                                     relu=False))
        self.short = None
        if stride != 1 or cin != cout:
            self.short = net._add(f"{name}.shortcut", Block(RuleConv2d(cin, cout, 1, stride, 0, bias=False),
                                                            None if pre else bn(cout), relu=False))
        self.pre = pre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.short is None else self.short(x)
        out = self.b(self.a(x)) + shortcut
        return out if self.pre else torch.relu(out)


class ResNet(RuleNet):
    def __init__(self, layers: tuple[int, ...], pre: bool, in_channels: int, input_size: int,
                 out_features: int, width: float):
        super().__init__()
        small = input_size < 64
        c0 = _ch(64, width)
        stem = RuleConv2d(in_channels, c0, 3 if small else 7, 1 if small else 2, 1 if small else 3, bias=False)
        self.stem = self._add("conv1", Block(stem, None if pre else nn.BatchNorm2d(c0), relu=not pre))
        self.stem_pool = nn.Identity() if small else nn.MaxPool2d(3, 2, 1)
        stages, cin = [], c0
        for i, (n_blocks, c) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            cout = _ch(c, width)
            for j in range(n_blocks):
                stride = 2 if (j == 0 and i > 0 and input_size // 2 ** i >= 2) else 1
                stages.append(_Basic(self, f"layer{i + 1}.{j}", cin, cout, stride, pre))
                cin = cout
        self.stages = nn.ModuleList(stages)
        self.final_norm = nn.BatchNorm2d(cin) if pre else nn.Identity()
        self.out = self._add("fc", Block(RuleLinear(cin, out_features), relu=False))
        self.n_features = cin

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_pool(self.stem(x))
        for stage in self.stages:
            x = stage(x)
        x = torch.relu(self.final_norm(x)) if not isinstance(self.final_norm, nn.Identity) else x
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class ContrastiveNet(RuleNet):
    """A backbone with a SimCLR projection head (fc-relu-fc); head layers count as deep.

    The learning-rule corpus' contrastive networks: the head is part of the network (its layers are
    trained by the learning rule and observed).  The mouse models' objectives keep the same-shaped head
    outside the network instead (:class:`builders.objectives.SimCLR`'s ``projection``, dropped after
    training)."""

    def __init__(self, backbone: RuleNet, feature_dim: int, projection_dim: int = 128):
        super().__init__()
        self.backbone = backbone
        for name, block, _ in backbone._observed:
            if block is not getattr(backbone, "out", None):
                self._observed.append((f"backbone.{name}", block, False))
        self.h1 = self._add("head.fc1", Block(RuleLinear(feature_dim, feature_dim)), head=True)
        self.h2 = self._add("head.fc2", Block(RuleLinear(feature_dim, projection_dim), relu=False), head=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h2(self.h1(self.backbone.features(x)))


def build_architecture(name: str, in_channels: int, input_size: int, out_features: int,
                       width: float = 1.0, contrastive: bool = False) -> RuleNet:
    """Build architecture ``name`` (see :data:`ARCHITECTURES`)."""
    key = name.lower()
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; expected one of {', '.join(ARCHITECTURES)}")
    if key.startswith("knet"):
        net: RuleNet = KNet(int(key[4]), key.endswith("lrn"), in_channels, input_size, out_features, width)
        feature_dim = net.out.layer.in_features
    elif key.startswith("alexnet"):
        net = AlexNet(key.endswith("lrn"), in_channels, input_size, out_features, width)
        feature_dim = net.out.layer.in_features
    else:
        layers = (2, 2, 2, 2) if key.startswith("resnet18") else (3, 4, 6, 3)
        net = ResNet(layers, key.endswith("v2"), in_channels, input_size, out_features, width)
        feature_dim = net.n_features
    if contrastive:
        return ContrastiveNet(net, feature_dim)
    return net
