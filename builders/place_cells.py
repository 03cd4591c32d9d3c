"""Difference-of-Gaussians place cells: the path integrator's target code (thesis ch. 4; notes §3).

``n`` = 512 cells with centres ``c_i`` drawn (seeded) uniformly in a ``box`` = 2.2 m square centred on
the origin.  With ``d_i² = ‖x − c_i‖²``, ``σ`` = 0.12 m and surround ``σ_s = 2σ``, the code of a
position ``x`` is the softmax-normalised difference of Gaussians::

    g_i = softmax_i(−d_i² / 2σ²) − softmax_i(−d_i² / 2σ_s²)
    a_i = (g_i − min_j g_j) / Σ_k (g_k − min_j g_j)

so ``a`` is a distribution over cells (the target of the softmax cross-entropy loss).  A position is
decoded from any code (or from a network's place-cell logits, monotone in the code) as the mean
location of the ``k`` = 3 most active cells: ``x̂ = (1/k) Σ_{i ∈ top-k(a)} c_i``.

Torch tensors; works on any leading shape (``… × 2`` positions → ``… × n`` codes).  Imports nothing
from goalstore.
"""

from __future__ import annotations

import torch
from torch import nn

N_CELLS = 512
SIGMA = 0.12  #: m
SURROUND = 2.0  #: surround σ as a multiple of σ
BOX = 2.2  #: m
TOP_K = 3


def place_cell_centres(n: int = N_CELLS, box: float = BOX, seed: int = 0) -> torch.Tensor:
    """``n × 2`` centres uniform in ``[−box/2, box/2]²`` (float32), deterministic given ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    return (torch.rand(n, 2, generator=g, dtype=torch.float64) - 0.5).mul(box).float()


def dog_code(position: torch.Tensor, centres: torch.Tensor, sigma: float = SIGMA,
             surround: float = SURROUND) -> torch.Tensor:
    """The normalised difference-of-Gaussians code (``… × n``) of ``position`` (``… × 2``)."""
    d2 = (position.unsqueeze(-2) - centres).pow(2).sum(-1)
    g = torch.softmax(-d2 / (2 * sigma ** 2), -1) - torch.softmax(-d2 / (2 * (surround * sigma) ** 2), -1)
    g = g - g.min(-1, keepdim=True).values
    return g / g.sum(-1, keepdim=True)


def decode_top_k(activity: torch.Tensor, centres: torch.Tensor, k: int = TOP_K) -> torch.Tensor:
    """Mean centre of the ``k`` most active cells: ``… × n`` activity → ``… × 2`` positions."""
    idx = activity.topk(k, dim=-1).indices
    return centres[idx].mean(-2)


class PlaceCells(nn.Module):
    """The place-cell population as a module (its centres are a buffer, so a model store keeps them)."""

    def __init__(self, n: int = N_CELLS, sigma: float = SIGMA, surround: float = SURROUND, box: float = BOX,
                 seed: int = 0):
        super().__init__()
        self.n, self.sigma, self.surround = n, float(sigma), float(surround)
        self.box, self.seed = float(box), seed
        self.register_buffer("centres", place_cell_centres(n, box, seed))

    def forward(self, position: torch.Tensor) -> torch.Tensor:
        """The code (``… × n``) of ``position`` (``… × 2``)."""
        return dog_code(position.to(self.centres), self.centres, self.sigma, self.surround)

    def decode(self, activity: torch.Tensor, k: int = TOP_K) -> torch.Tensor:
        """Top-``k`` decoded positions (``… × 2``) of ``activity`` (``… × n``)."""
        return decode_top_k(activity, self.centres, k)
