"""Markov-chain model of synaptic weight dynamics (thesis §6.2; notes §6).

Weights are discretised into states: state 0 = synapse absent (weight 0); the
non-zero weights are cut into ``n_bins`` equal-width bins between the smallest
and largest non-zero weight, and the top ``n_merged`` bins are merged into one
(defaults 40 and 21 → 20 non-zero states, 21 states in all).  The transition
matrix is the maximum-likelihood estimate

    P[i, j] = N(i → j) / Σ_k N(i → k),

counting state ``i`` on session ``t`` and ``j`` on ``t + 1`` over all synapses
and consecutive session pairs.  A state never left in the data (its row has no
counts) gets a uniform row, so the matrix stays stochastic while perturbing the
stationary distribution as little as possible; such rows are reported.

Every function here works on arrays with any number of leading (batch) axes, so
bootstrap resamples are evaluated at once (see :mod:`goalstore.analyses.resampling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalstore.errors import AnalysisInputError


@dataclass(frozen=True)
class StateBinning:
    """Edges of the non-zero states: state ``k ≥ 1`` holds weights in ``[edges[k-1], edges[k])``
    (the last state includes its upper edge); state 0 holds the zeros."""

    edges: np.ndarray

    @property
    def n_states(self) -> int:
        return len(self.edges)

    @property
    def lower(self) -> np.ndarray:
        """Lower bound of each state (0 for the absent state)."""
        return np.concatenate([[0.0], self.edges[:-1]])

    @property
    def upper(self) -> np.ndarray:
        """Upper bound of each state (0 for the absent state)."""
        return np.concatenate([[0.0], self.edges[1:]])

    def assign(self, weights: np.ndarray) -> np.ndarray:
        """State index of every weight (same shape, int)."""
        inner = np.searchsorted(self.edges, weights, side="right") - 1
        states = 1 + np.clip(inner, 0, self.n_states - 2)
        return np.where(weights > 0, states, 0)


def state_binning(weights: np.ndarray, n_bins: int = 40, n_merged: int = 21) -> StateBinning:
    """Equal-width bins over the non-zero weights, top ``n_merged`` bins merged into one."""
    if not 1 <= n_merged <= n_bins:
        raise AnalysisInputError(f"n_merged={n_merged}: expected 1 <= n_merged <= n_bins={n_bins}")
    nonzero = weights[weights > 0]
    if nonzero.size == 0:
        raise AnalysisInputError("no non-zero weights to bin")
    low, high = float(nonzero.min()), float(nonzero.max())
    if high == low:
        raise AnalysisInputError("all non-zero weights are equal; equal-width bins are undefined")
    edges = np.linspace(low, high, n_bins + 1)
    return StateBinning(np.append(edges[: n_bins - n_merged + 1], high))


def transition_counts_per_synapse(states: np.ndarray, n_states: int) -> np.ndarray:
    """``(n_synapses, n_states, n_states)`` counts of each synapse's consecutive-session transitions."""
    n_synapses = states.shape[0]
    flat = (np.arange(n_synapses)[:, None] * n_states * n_states
            + states[:, :-1] * n_states + states[:, 1:])
    counts = np.bincount(flat.ravel(), minlength=n_synapses * n_states * n_states)
    return counts.reshape(n_synapses, n_states, n_states).astype(np.float64)


def transition_matrix(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised ``counts`` (..., S, S) and a mask of rows with no counts (given uniform rows)."""
    totals = counts.sum(axis=-1, keepdims=True)
    unobserved = totals[..., 0] == 0
    n_states = counts.shape[-1]
    safe = np.where(totals > 0, totals, 1.0)
    matrix = np.where(totals > 0, counts / safe, 1.0 / n_states)
    return matrix, unobserved


def stationary_distribution(matrix: np.ndarray) -> np.ndarray:
    """The stationary distribution π = π P of ``matrix`` (..., S, S): the left eigenvector for
    eigenvalue 1, normalised to sum 1.

    Because the eigenvalue is known to be 1, the eigenvector is found by solving
    ``(Pᵀ − I) π = 0`` with one equation replaced by ``Σ π = 1`` (a batched linear
    solve).  Where that system is singular or its solution is not a distribution
    (a chain with several stationary distributions), the general eigen-decomposition
    picks the eigenvector whose eigenvalue is closest to 1.
    """
    matrix = np.asarray(matrix, dtype=float)
    n_states = matrix.shape[-1]
    system = np.swapaxes(matrix, -1, -2) - np.eye(n_states)
    system[..., -1, :] = 1.0
    rhs = np.zeros(matrix.shape[:-1])
    rhs[..., -1] = 1.0
    with np.errstate(all="ignore"):
        try:
            pi = np.linalg.solve(system, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            pi = np.full(matrix.shape[:-1], np.nan)
        residual = np.abs(np.einsum("...i,...ij->...j", pi, matrix) - pi).max(axis=-1)
    bad = ~((residual < 1e-9) & (pi > -1e-9).all(axis=-1))
    if bad.any():
        pi[bad] = _stationary_by_eig(matrix[bad])
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum(axis=-1, keepdims=True)


def _stationary_by_eig(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(np.swapaxes(matrix, -1, -2))
    best = np.argmin(np.abs(values - 1.0), axis=-1)
    vector = np.take_along_axis(vectors, best[..., None, None], axis=-1)[..., 0].real
    return vector / vector.sum(axis=-1, keepdims=True)


def starting_distributions(n_states: int, seed: int, n_random: int = 1) -> tuple[list[str], np.ndarray]:
    """Named starting distributions for convergence curves: all mass absent, in the smallest and
    in the largest state, uniform, and ``n_random`` Dirichlet draws (seeded)."""
    names = ["absent", "smallest", "largest", "uniform"]
    starts = np.zeros((4, n_states))
    starts[0, 0] = starts[1, 1 % n_states] = starts[2, n_states - 1] = 1.0
    starts[3] = 1.0 / n_states
    rng = np.random.default_rng([seed, 7])
    random = rng.dirichlet(np.ones(n_states), size=n_random)
    return names + [f"random{i}" for i in range(n_random)], np.vstack([starts, random])


def iterate_chain(matrix: np.ndarray, starts: np.ndarray, n_steps: int) -> np.ndarray:
    """Distributions ``p_t = p_0 P^t`` for t = 0..n_steps: shape (..., n_starts, n_steps + 1, S)."""
    batch = matrix.shape[:-2]
    current = np.broadcast_to(starts, (*batch, *starts.shape[-2:])).copy()
    out = np.empty((*batch, *starts.shape[-2:-1], n_steps + 1, starts.shape[-1]))
    out[..., 0, :] = current
    for step in range(1, n_steps + 1):
        current = current @ matrix
        out[..., step, :] = current
    return out


def convergence(matrix: np.ndarray, starts: np.ndarray, n_steps: int,
                stationary: np.ndarray) -> np.ndarray:
    """Total-variation distance of ``p_0 P^t`` to ``stationary`` for t = 0..n_steps.

    The convergence curves of the chain from each starting distribution; shape
    (..., n_starts, n_steps + 1).  Distances are taken step by step, so no
    (…, n_steps, S) array of distributions is kept.
    """
    batch = matrix.shape[:-2]
    current = np.broadcast_to(starts, (*batch, *starts.shape[-2:])).copy()
    target = stationary[..., None, :]
    out = np.empty((*batch, starts.shape[-2], n_steps + 1))
    out[..., 0] = total_variation(current, target)
    for step in range(1, n_steps + 1):
        current = current @ matrix
        out[..., step] = total_variation(current, target)
    return out


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total-variation distance ½ Σ |p − q| over the last axis."""
    return 0.5 * np.abs(p - q).sum(axis=-1)


def state_histograms(states: np.ndarray, n_states: int) -> np.ndarray:
    """``(n_synapses, n_states)`` number of sessions each synapse spends in each state."""
    n_synapses = states.shape[0]
    flat = np.arange(n_synapses)[:, None] * n_states + states
    return np.bincount(flat.ravel(), minlength=n_synapses * n_states).reshape(
        n_synapses, n_states).astype(np.float64)


def survival_indicators(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per synapse: present on the first session, and present on every session up to each one.

    Returns ``present0`` (n,) and ``alive`` (n, T): alive[s, t] = synapse ``s`` was non-zero on
    all sessions 0..t (it has not yet entered the absent state).
    """
    present = weights > 0
    return present[:, 0].astype(float), np.logical_and.accumulate(present, axis=1).astype(float)


def model_survival(matrix: np.ndarray, initial: np.ndarray, n_sessions: int) -> np.ndarray:
    """Chain survival: probability of not yet having entered state 0, sessions 0..n_sessions-1.

    The absent state is made absorbing, so a synapse present on the first session
    enters it at most once (the data side counts the same way).
    """
    absorbing = matrix.copy()
    absorbing[..., 0, :] = 0.0
    absorbing[..., 0, 0] = 1.0
    p0 = initial / initial.sum(axis=-1, keepdims=True)
    path = iterate_chain(absorbing, p0[..., None, :], n_sessions - 1)[..., 0, :, :]
    return 1.0 - path[..., 0]


def sample_trajectories(matrix: np.ndarray, initial_states: np.ndarray, n_sessions: int,
                        binning: StateBinning, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample state paths from the chain and continuous weights uniform within each state's bin.

    Returns ``(states, weights)``, both (n_trajectories, n_sessions); state 0 has weight 0.
    """
    rng = np.random.default_rng([seed, 11])
    n = initial_states.size
    states = np.empty((n, n_sessions), dtype=int)
    states[:, 0] = initial_states
    cumulative = np.cumsum(matrix, axis=1)
    cumulative[:, -1] = 1.0
    for t in range(1, n_sessions):
        draws = rng.random(n)
        rows = cumulative[states[:, t - 1]]
        states[:, t] = (rows < draws[:, None]).sum(axis=1)
    lower, upper = binning.lower[states], binning.upper[states]
    weights = np.where(states > 0, lower + rng.random(states.shape) * (upper - lower), 0.0)
    return states, weights
