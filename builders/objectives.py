"""Training objectives of the mouse visual models (thesis §3.6.4–3.6.5): one class per objective.

An objective holds what only training needs — its heads (projection MLPs, predictors, decoders, the
rotation classifier) and state (memory bank, queue, momentum key encoder) — and computes the loss of a
*backbone* (any network of :mod:`builders.networks`) on a batch.  Only the backbone is kept after
training: its output ``f(x)`` (``out_features`` wide) is the class logits of ``supervised`` and the
embedding of every other objective.  Notation: ``z = f(x)``, ``n(v) = v / ‖v‖``, ``τ`` a temperature,
``B`` the batch size, ``a(x)`` a random view (:func:`builders.augment.random_views`, scheme ``simclr``).
:func:`nt_xent` and the views are shared with the learning-rule corpus' contrastive tasks
(:mod:`builders.training`).  Their networks differ in where the projection head lives: the corpus trains
:class:`builders.architectures.ContrastiveNet` (the backbone with its fc–ReLU–fc head built into the
network, of rule-trained layers that are observed like any other), while here the head (:class:`SimCLR`'s
``projection``, the same Linear–ReLU–Linear shape) belongs to the objective and is dropped after training,
so a model store's network has no head (``contrastive=False``).

* ``supervised`` — :class:`Supervised`: cross-entropy of the logits ``f(x)`` and the labels.
* ``autoencoder`` — :class:`SparseAutoencoder`: reconstruction of the (pooled) image by a decoder plus
  an L1 penalty on the embedding.
* ``depth`` — :class:`DepthPrediction`: a decoder regresses the (pooled) depth map.
* ``rotnet`` — :class:`RotNet`: 4-way classification of the image's rotation by k · 90°.
* ``instance`` — :class:`InstanceRecognition`: non-parametric softmax over a memory bank of
  normalised embeddings (one per training image), momentum-updated.
* ``simclr`` — :class:`SimCLR`: NT-Xent between two views through a projection MLP.
* ``mocov2`` — :class:`MoCoV2`: InfoNCE between a query and a momentum key encoder's key, negatives
  from a queue of past keys.
* ``simsiam`` — :class:`SimSiam`: negative cosine between a predictor's output and the stop-gradient
  projection of the other view.

Every random choice (views, initial bank and queue) draws from the caller's generator or the global
seed set before the objective is built (:func:`builders.stimulus_training.train_model`), so training
is deterministic.

Imports nothing from goalstore.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from builders.augment import random_views

OBJECTIVES = ("supervised", "autoencoder", "depth", "rotnet", "instance", "simclr", "mocov2", "simsiam")
#: objectives whose views are contrastive (two augmented views or a memory bank)
CONTRASTIVE = ("instance", "simclr", "mocov2", "simsiam")
EVAL_BATCH = 256


@dataclass
class Batch:
    """One training batch: images, their indices in the training set, labels and dense targets."""

    x: torch.Tensor
    index: torch.Tensor
    y: torch.Tensor | None = None
    target: torch.Tensor | None = None  #: N × 1 × h × w (a depth map)


def _mlp(din: int, hidden: int, dout: int, norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(din, hidden)]
    if norm:
        layers.append(nn.BatchNorm1d(hidden))
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(hidden, dout))


def _batches(x: torch.Tensor, *others: torch.Tensor | None):
    for start in range(0, len(x), EVAL_BATCH):
        yield (x[start: start + EVAL_BATCH],
               *(o[start: start + EVAL_BATCH] if o is not None else None for o in others))


def embed(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The backbone's outputs on ``x`` (eval mode, no gradient)."""
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = torch.cat([backbone(xb) for (xb,) in _batches(x)]) if len(x) else torch.zeros(0)
    backbone.train(was_training)
    return out


def knn_accuracy(reference: torch.Tensor, reference_y: torch.Tensor, query: torch.Tensor,
                 query_y: torch.Tensor) -> float:
    """Category accuracy of the cosine 1-nearest neighbour: query ``i`` takes the label of
    ``argmax_j n(q_i) · n(r_j)``."""
    sim = F.normalize(query.flatten(1), dim=1) @ F.normalize(reference.flatten(1), dim=1).T
    return float((reference_y[sim.argmax(1)] == query_y).float().mean())


class Objective(nn.Module):
    """Base class: the heads and state of one objective (see the module docstring)."""

    #: smallest batch the loss is defined on (a contrastive loss or a BatchNorm head needs two)
    min_batch = 1
    #: whether :meth:`evaluate` needs all images as one tensor (else it reads them in slices)
    whole_set_metrics = False

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, backbone: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                 target: torch.Tensor | None) -> dict[str, float]:
        """Task metrics on ``(x, y, target)`` (eval mode, deterministic); none by default."""
        return {}


class Supervised(Objective):
    """Category cross-entropy :math:`L = -\\frac{1}{B}\\sum_i \\log \\mathrm{softmax}(f(x_i))_{y_i}`."""

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        assert batch.y is not None
        return F.cross_entropy(backbone(batch.x), batch.y)

    def evaluate(self, backbone: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                 target: torch.Tensor | None) -> dict[str, float]:
        """Mean cross-entropy ``loss`` and ``accuracy``."""
        assert y is not None
        was_training = backbone.training
        backbone.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in _batches(x, y):
                logits = backbone(xb)
                loss += float(F.cross_entropy(logits, yb, reduction="sum"))
                correct += int((logits.argmax(1) == yb).sum())
        backbone.train(was_training)
        return {"loss": loss / max(len(y), 1), "accuracy": correct / max(len(y), 1)}


class _Regression(Objective):
    """A decoder MLP from the embedding to a ``channels × size × size`` map, scored by mean squared error."""

    def __init__(self, embedding_dim: int, channels: int, size: int):
        super().__init__()
        self.channels, self.size = channels, size
        self.decoder = _mlp(embedding_dim, max(embedding_dim, 64), channels * size * size)

    def target(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def terms(self, backbone: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction error, embedding) of ``batch``."""
        z = backbone(batch.x)
        predicted = self.decoder(z).view(-1, self.channels, self.size, self.size)
        return F.mse_loss(predicted, self.target(batch)), z

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        return self.terms(backbone, batch)[0]

    def evaluate(self, backbone: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                 target: torch.Tensor | None) -> dict[str, float]:
        """The mean ``loss`` over the images."""
        was_training = backbone.training
        backbone.eval()
        total = 0.0
        with torch.no_grad():
            for xb, tb in _batches(x, target):
                batch = Batch(xb, torch.arange(len(xb)), target=tb)
                total += float(self.loss(backbone, batch, torch.Generator())) * len(xb)
        backbone.train(was_training)
        return {"loss": total / max(len(x), 1)}


class SparseAutoencoder(_Regression):
    """Sparse autoencoder: a decoder ``g`` reconstructs the image average-pooled to ``size × size``
    (``P(x)``) from the embedding, with an L1 penalty of weight ``λ`` (``sparsity``) on the embedding:

    .. math::  L = \\frac{1}{B}\\sum_i \\overline{(g(z_i) - P(x_i))^2} + \\lambda\\,\\overline{|z_i|}
    """

    def __init__(self, embedding_dim: int, channels: int, size: int, sparsity: float):
        super().__init__(embedding_dim, channels, size)
        self.sparsity = sparsity

    def target(self, batch: Batch) -> torch.Tensor:
        return F.adaptive_avg_pool2d(batch.x, self.size)

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        error, z = self.terms(backbone, batch)
        return error + self.sparsity * z.abs().mean()


class DepthPrediction(_Regression):
    """Depth prediction: a decoder ``g`` regresses the depth map ``D`` average-pooled to ``size × size``,
    :math:`L = \\frac{1}{B}\\sum_i \\overline{(g(z_i) - P(D_i))^2}`."""

    def __init__(self, embedding_dim: int, size: int):
        super().__init__(embedding_dim, 1, size)

    def target(self, batch: Batch) -> torch.Tensor:
        if batch.target is None:
            raise ValueError("depth: no depth target given; expected one depth map per image")
        target = batch.target if batch.target.ndim == 4 else batch.target.unsqueeze(1)
        return F.adaptive_avg_pool2d(target.to(batch.x.dtype), self.size)


class RotNet(Objective):
    """RotNet (Gidaris et al. 2018): every image is shown rotated by ``k · 90°``, ``k = 0 … 3``, and a
    linear head ``h`` classifies ``k``: :math:`L = -\\frac{1}{4B}\\sum_{i,k} \\log \\mathrm{softmax}(h(f(
    \\mathrm{rot}_k x_i)))_k`."""

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.head = nn.Linear(embedding_dim, 4)

    @staticmethod
    def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
        return rotated, torch.arange(4, device=x.device).repeat_interleave(len(x))

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        rotated, k = self.rotations(batch.x)
        return F.cross_entropy(self.head(backbone(rotated)), k)

    def evaluate(self, backbone: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                 target: torch.Tensor | None) -> dict[str, float]:
        """Rotation cross-entropy ``loss`` and ``rotation_accuracy`` over all four rotations."""
        was_training = backbone.training
        backbone.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for (xb,) in _batches(x):
                rotated, k = self.rotations(xb)
                logits = self.head(backbone(rotated))
                loss += float(F.cross_entropy(logits, k, reduction="sum"))
                correct += int((logits.argmax(1) == k).sum())
        backbone.train(was_training)
        n = max(4 * len(x), 1)
        return {"loss": loss / n, "rotation_accuracy": correct / n}


class _Contrastive(Objective):
    """Base of the view-based objectives: views, and the instance-retrieval metric."""

    min_batch = 2
    whole_set_metrics = True

    def __init__(self, crop_scale: float):
        super().__init__()
        self.crop_scale = crop_scale

    def view(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_views(x, generator, crop_scale=self.crop_scale)

    def evaluate(self, backbone: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                 target: torch.Tensor | None) -> dict[str, float]:
        """``instance_top1``: the fraction of images whose first view's embedding is nearest (cosine) to
        its own second view's among all images' second views (two views drawn with seed 0)."""
        if len(x) < 2:
            return {}
        generator = torch.Generator().manual_seed(0)
        first, second = (embed(backbone, self.view(x, generator)) for _ in range(2))
        sim = F.normalize(first, dim=1) @ F.normalize(second, dim=1).T
        return {"instance_top1": float((sim.argmax(1) == torch.arange(len(x))).float().mean())}


class InstanceRecognition(_Contrastive):
    """Instance recognition (Wu et al. 2018): a memory bank ``V`` holds one normalised embedding per
    training image; image ``i``'s view ``v = n(f(a(x_i)))`` is classified as instance ``i`` by the
    non-parametric softmax over the bank,

    .. math::  L = -\\frac{1}{B}\\sum_i \\log \\frac{e^{V_i \\cdot v_i / τ}}{\\sum_j e^{V_j \\cdot v_i / τ}}

    (exact over the whole bank: the sets here are small, where NCE would sample negatives), and the bank
    entries of the batch are then moved towards the new embeddings, :math:`V_i ← n(m V_i + (1 − m) v_i)`
    (``m`` = ``bank_momentum``).  The bank starts as random unit vectors."""

    def __init__(self, embedding_dim: int, n_samples: int, temperature: float, bank_momentum: float,
                 crop_scale: float):
        super().__init__(crop_scale)
        self.temperature, self.bank_momentum = temperature, bank_momentum
        self.register_buffer("bank", F.normalize(torch.randn(n_samples, embedding_dim), dim=1))

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        v = F.normalize(backbone(self.view(batch.x, generator)), dim=1)
        index = batch.index.to(v.device)
        loss = F.cross_entropy(v @ self.bank.clone().T / self.temperature, index)
        with torch.no_grad():
            m = self.bank_momentum
            self.bank[index] = F.normalize(m * self.bank[index] + (1 - m) * v.detach(), dim=1)
        return loss


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR; also the learning-rule corpus' contrastive loss, :mod:`builders.training`): with
    ``u = n([z1; z2])`` (2B vectors) and ``p(k)`` the other view of ``k``,

    .. math::

       L = -\\frac{1}{2B}\\sum_k \\log \\frac{e^{u_k \\cdot u_{p(k)} / τ}}
                                             {\\sum_{j \\ne k} e^{u_k \\cdot u_j / τ}}
    """
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=u.device)
    sim = (u @ u.T / temperature).masked_fill(self_pairs, float("-inf"))
    return F.cross_entropy(sim, (torch.arange(2 * n, device=u.device) + n) % (2 * n))


class SimCLR(_Contrastive):
    """SimCLR (Chen et al. 2020): two views through the backbone and a projection MLP ``g``, scored by
    :func:`nt_xent`: :math:`L = \\mathrm{NT\\text{-}Xent}(g(f(a(x))), g(f(a'(x))))`."""

    def __init__(self, embedding_dim: int, projection_dim: int, temperature: float, crop_scale: float):
        super().__init__(crop_scale)
        self.temperature = temperature
        self.projection = _mlp(embedding_dim, embedding_dim, projection_dim)

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        views = torch.cat([self.view(batch.x, generator), self.view(batch.x, generator)])
        z = self.projection(backbone(views))
        return nt_xent(z[: len(batch.x)], z[len(batch.x):], self.temperature)


class MoCoV2(_Contrastive):
    """MoCo v2 (Chen et al. 2020): query ``q = n(g(f(a(x))))``, key ``k = n(g'(f'(a'(x))))`` from a key
    encoder ``(f', g')`` that follows the query encoder by momentum, :math:`θ' ← m θ' + (1 − m) θ`
    (``m`` = ``key_momentum``, before each key), and a queue ``Q`` of the last ``queue_size`` keys as
    negatives:

    .. math::

       L = -\\frac{1}{B}\\sum_i \\log \\frac{e^{q_i \\cdot k_i / τ}}
                                            {e^{q_i \\cdot k_i / τ} + \\sum_j e^{q_i \\cdot Q_j / τ}}

    after which the batch's keys replace the oldest queue entries.  The key encoder starts as a copy of
    the query encoder (the backbone it is built with) and gets no gradient; the queue starts as random
    unit vectors."""

    def __init__(self, backbone: nn.Module, embedding_dim: int, projection_dim: int, temperature: float,
                 queue_size: int, key_momentum: float, crop_scale: float):
        super().__init__(crop_scale)
        self.temperature, self.key_momentum = temperature, key_momentum
        self.projection = _mlp(embedding_dim, embedding_dim, projection_dim)
        self.key_backbone = copy.deepcopy(backbone)
        self.key_projection = copy.deepcopy(self.projection)
        for p in (*self.key_backbone.parameters(), *self.key_projection.parameters()):
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def _follow(self, backbone: nn.Module) -> None:
        m = self.key_momentum
        for query, key in ((backbone, self.key_backbone), (self.projection, self.key_projection)):
            for q, k in zip(query.parameters(), key.parameters(), strict=True):
                k.mul_(m).add_(q.detach(), alpha=1 - m)

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        q = F.normalize(self.projection(backbone(self.view(batch.x, generator))), dim=1)
        key_view = self.view(batch.x, generator)
        with torch.no_grad():
            self._follow(backbone)
            k = F.normalize(self.key_projection(self.key_backbone(key_view)), dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue.clone().T], dim=1) / self.temperature
        loss = F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
        with torch.no_grad():
            size = len(self.queue)
            k = k[-size:]
            slots = (self.pointer + torch.arange(len(k), device=k.device)) % size
            self.queue[slots] = k
            self.pointer.copy_((self.pointer + len(k)) % size)
        return loss


class SimSiam(_Contrastive):
    """SimSiam (Chen & He 2021): projector ``g`` (MLP with BN), predictor ``h`` (bottleneck MLP with BN),
    ``z = g(f(a(x)))``, ``p = h(z)``, and the symmetrised negative cosine with a stop-gradient ``sg``:

    .. math::  L = -\\tfrac{1}{2}\\left[\\cos(p_1, \\mathrm{sg}(z_2)) + \\cos(p_2, \\mathrm{sg}(z_1))\\right]
    """

    def __init__(self, embedding_dim: int, projection_dim: int, crop_scale: float):
        super().__init__(crop_scale)
        self.projection = _mlp(embedding_dim, embedding_dim, projection_dim, norm=True)
        self.predictor = _mlp(projection_dim, max(projection_dim // 4, 1), projection_dim, norm=True)

    def loss(self, backbone: nn.Module, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        z1 = self.projection(backbone(self.view(batch.x, generator)))
        z2 = self.projection(backbone(self.view(batch.x, generator)))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        cos = F.cosine_similarity
        return -0.5 * (cos(p1, z2.detach()).mean() + cos(p2, z1.detach()).mean())


def build_objective(name: str, backbone: nn.Module, *, embedding_dim: int, in_channels: int, n_samples: int,
                    temperature: float, queue_size: int, key_momentum: float, bank_momentum: float,
                    projection_dim: int, sparsity: float, target_size: int, crop_scale: float) -> Objective:
    """The objective ``name`` (:data:`OBJECTIVES`) for ``backbone`` (whose output is ``embedding_dim``
    wide) on a training set of ``n_samples`` images; the hyper-parameters are
    :class:`builders.stimulus_training.ClassifierConfig`'s (where their defaults are declared)."""
    if name == "supervised":
        return Supervised()
    if name == "autoencoder":
        return SparseAutoencoder(embedding_dim, in_channels, target_size, sparsity)
    if name == "depth":
        return DepthPrediction(embedding_dim, target_size)
    if name == "rotnet":
        return RotNet(embedding_dim)
    if name == "instance":
        return InstanceRecognition(embedding_dim, n_samples, temperature, bank_momentum, crop_scale)
    if name == "simclr":
        return SimCLR(embedding_dim, projection_dim, temperature, crop_scale)
    if name == "mocov2":
        return MoCoV2(backbone, embedding_dim, projection_dim, temperature, queue_size, key_momentum,
                      crop_scale)
    if name == "simsiam":
        return SimSiam(embedding_dim, projection_dim, crop_scale)
    raise ValueError(f"objective {name!r}: expected one of {', '.join(OBJECTIVES)}")
