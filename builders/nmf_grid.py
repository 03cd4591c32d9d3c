"""Non-negative "grid cell" control: low-rank non-negative read-outs of the place-cell code (thesis ch. 4).

The thesis' non-negative baseline (Dordek et al. 2016, eLife 5:e10094): hidden units that read the
difference-of-Gaussians place-cell population (:mod:`builders.place_cells`) through non-negative
weights, with no path integration and no recurrence.  The place-cell code at the ``n_bins × n_bins``
bin centres of the ``box`` (centred on the origin) is the matrix ``X`` (bins × cells, ``X ≥ 0``).
Two methods:

* ``"nnpca"`` (default; Dordek's non-negative PCA): with the zero-mean inputs ``X̃ = X − 1 x̄ᵀ``
  (``x̄`` = each cell's mean over the bins) and their covariance ``C = X̃ᵀX̃ / n_bins²``, unit ``k`` is
  the leading non-negative principal direction found by projected power iteration::

      w ← [C_k w]₊ / ‖[C_k w]₊‖      (from a seeded |N(0, 1)| start, until it stops moving)
      C_{k+1} = C_k − C_k w wᵀ C_k / (wᵀ C_k w)      (deflation: the covariance of the inputs with
                                                       unit k's output ψ_k = wᵀx̃ regressed out)

  Unit ``k``'s map is ``X w_k`` (= ``X̃ w_k`` + the constant ``x̄ᵀw_k``, so the map shape is Dordek's
  linear output; the offset keeps the rates ≥ 0).  Centring matters: without it ``C`` is dominated by
  the positive mean code and the leading non-negative direction is a flat map.
* ``"nmf"``: scikit-learn NMF ``X ≈ H W`` with ``H, W ≥ 0`` (Frobenius loss, ``init="nndsvda"``,
  coordinate descent); the maps are the columns of ``H``.  At this scale it finds mostly single,
  place-cell-like fields (whose DoG surround ring can still give a positive grid score).

Both return ``W`` (units × cells, ``≥ 0``): unit ``i``'s map is its ``W``-weighted place-cell input.
Deterministic given ``seed`` (and the place-cell seed); numpy float64 on CPU.  Imports nothing from
goalstore.
"""

from __future__ import annotations

import numpy as np
import torch

from builders.place_cells import BOX, N_CELLS, SIGMA, SURROUND, dog_code, place_cell_centres

METHODS = ("nnpca", "nmf")


def place_code_on_bins(n_bins: int = 44, box: float = BOX, n_place_cells: int = N_CELLS, sigma: float = SIGMA,
                       surround: float = SURROUND, place_cell_seed: int = 0) -> np.ndarray:
    """The DoG place-cell code (``n_bins² × n_place_cells``, float64, ``≥ 0``, rows sum to 1) at the bin
    centres of the ``box`` centred on the origin; row ``i·n_bins + j`` is bin (x = i, y = j)."""
    centres_1d = (np.arange(n_bins) + 0.5) / n_bins * box - box / 2
    gx, gy = np.meshgrid(centres_1d, centres_1d, indexing="ij")
    position = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=torch.float64)
    centres = place_cell_centres(n_place_cells, box, place_cell_seed).double()
    return dog_code(position, centres, sigma, surround).numpy()


def nonnegative_pca(x: np.ndarray, n_units: int, seed: int = 0, max_iter: int = 500,
                    tol: float = 1e-10) -> np.ndarray:
    """``n_units × cells`` non-negative principal directions of ``x`` (samples × cells) by projected power
    iteration with deflation (module docstring); ``x`` is centred here.  Each row has unit norm."""
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / len(xc)
    rng = np.random.default_rng(seed)
    weights = np.zeros((n_units, x.shape[1]))
    for k in range(n_units):
        w = np.abs(rng.normal(size=x.shape[1]))
        w /= np.linalg.norm(w)
        for _ in range(max_iter):
            new = np.maximum(cov @ w, 0.0)
            norm = np.linalg.norm(new)
            if norm == 0.0:
                break
            new /= norm
            done = np.abs(new - w).max() < tol
            w = new
            if done:
                break
        weights[k] = w
        v = cov @ w
        cov = cov - np.outer(v, v) / max(float(w @ v), 1e-300)
    return weights


def nmf_grid_maps(n_units: int = 64, n_bins: int = 44, box: float = BOX, seed: int = 0, max_iter: int = 500,
                  method: str = "nnpca", **place_cell_args) -> tuple[np.ndarray, np.ndarray]:
    """``(maps, W)``: ``maps`` ``n_units × n_bins × n_bins`` (x, y; ``≥ 0``) and ``W`` ``n_units × cells``
    (``≥ 0``, the read-in weights) of the non-negative control (module docstring: the equations).

    ``place_cell_args`` go to :func:`place_code_on_bins` (``n_place_cells``, ``sigma``, ``surround``,
    ``place_cell_seed``).  Deterministic given ``seed``."""
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    if n_units < 1 or n_bins < 2 or box <= 0 or max_iter < 1:
        raise ValueError(f"n_units={n_units}, n_bins={n_bins}, box={box}, max_iter={max_iter}: out of range")
    x = place_code_on_bins(n_bins, box, **place_cell_args)
    if method == "nnpca":
        weights = nonnegative_pca(x, n_units, seed=seed, max_iter=max_iter)
        maps = x @ weights.T
    else:
        import warnings

        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        model = NMF(n_units, init="nndsvda", max_iter=max_iter, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            maps = model.fit_transform(x)
        weights = model.components_
    return maps.T.reshape(n_units, n_bins, n_bins), weights
