"""Reducing each layer's units to K components, applied batch by batch during extraction.

* ``pca:K`` — per layer, a PCA (scikit-learn, randomized SVD seeded by ``seed``) fitted on the
  activations of a separate, declared stimulus set (``--pca-fit``, default ``embedded-objects``); a
  batch ``A`` (stimuli × units) becomes ``(A − μ) Vᵀ`` with ``μ`` the fit set's mean and ``V`` the
  K × units orthonormal principal axes.
* ``random:K`` — per layer, a Gaussian random projection ``A R`` with ``R_ij ~ N(0, 1/K)`` (i.e. scaled
  ``1/√K``, so squared norms are preserved in expectation); layer ``i`` draws ``R`` from
  ``numpy.random.default_rng([seed, i])``.

A layer keeps ``K_l = min(K, units, fit stimuli)`` components (PCA) or ``min(K, units)`` (random): a layer
narrower than K is rotated onto its principal axes (nothing is lost) rather than refused, so one K
serves networks whose layers differ in width; each layer's ``K_l`` is its number of ``component`` units.

Both are linear maps stored as (``mean``, ``projection`` units × K_l); the fitted maps live next to the
extraction in the scratch folder (``<key>.reduce.npz``), so a resumed or sharded extraction applies
exactly the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from goalstore.errors import AnalysisInputError


@dataclass
class Reduction:
    """Per layer: ``mean`` (units,) and ``projection`` (units × K); ``method`` pca or random."""

    method: str
    k: int
    means: dict[str, np.ndarray]
    projections: dict[str, np.ndarray]

    def components(self) -> dict[str, int]:
        """``K_l`` of each layer (its number of components)."""
        return {layer: int(p.shape[1]) for layer, p in self.projections.items()}

    def apply(self, layer: str, a: np.ndarray) -> np.ndarray:
        """``a`` (… × units) → (… × K) for ``layer``."""
        return ((a - self.means[layer]) @ self.projections[layer]).astype(np.float32)

    def save(self, path: Path) -> None:
        arrays = {f"mean:{k}": v for k, v in self.means.items()}
        arrays.update({f"proj:{k}": v for k, v in self.projections.items()})
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, method=np.array(self.method), k=np.array(self.k), **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Reduction:
        with np.load(path) as f:
            means = {k[5:]: f[k] for k in f.files if k.startswith("mean:")}
            projections = {k[5:]: f[k] for k in f.files if k.startswith("proj:")}
            return cls(str(f["method"]), int(f["k"]), means, projections)


def _check_k(k: int) -> None:
    if k < 1:
        raise AnalysisInputError(f"--reduce: K={k}; expected at least 1 component")


def fit_pca(activations: dict[str, np.ndarray], k: int, seed: int) -> Reduction:
    """A PCA per layer of ``activations`` (layer → fit stimuli × units), K components each."""
    from sklearn.decomposition import PCA

    _check_k(k)
    means, projections = {}, {}
    for layer, a in activations.items():
        k_layer = min(k, *a.shape)
        pca = PCA(n_components=k_layer, svd_solver="randomized" if k_layer < min(a.shape) else "full",
                  random_state=seed).fit(a.astype(np.float64))
        means[layer] = pca.mean_.astype(np.float32)
        projections[layer] = pca.components_.T.astype(np.float32)
    return Reduction("pca", k, means, projections)


def random_projection(units: dict[str, int], k: int, seed: int) -> Reduction:
    """A seeded Gaussian projection per layer (``units``: layer → number of units)."""
    _check_k(k)
    means, projections = {}, {}
    for i, (layer, n) in enumerate(units.items()):
        rng = np.random.default_rng([int(seed), i])
        k_layer = min(k, n)
        means[layer] = np.zeros(n, dtype=np.float32)
        projections[layer] = (rng.standard_normal((n, k_layer)) / np.sqrt(k_layer)).astype(np.float32)
    return Reduction("random", k, means, projections)
