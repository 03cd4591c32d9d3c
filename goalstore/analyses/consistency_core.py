"""Noise-corrected consistency on arrays (the numerical core of :mod:`goalstore.analyses.consistency`).

Arrays are (draw × stimulus × unit × time bin); stimulus splits are (split × stimuli)
index arrays.  :func:`corrected_scores` gives the noise-corrected score per (draw × split
× time bin × target unit) of thesis eq. 3.4; :func:`draw_halves` forms the split-half
averages of a block of draws.  A mapping with an operator form (ridge, see
:mod:`~goalstore.analyses.mappings`) is solved once per source by :func:`source_operators`
and applied to any number of target blocks by :func:`operator_scores`.  No xarray, no
orchestration: which source predicts which target is decided in :mod:`goalstore.analyses.consistency`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from goalstore.analyses.blas import blas_limit
from goalstore.analyses.mappings import fit_predict
from goalstore.analyses.reliability import centred, correlation, pearson, spearman_brown
from goalstore.errors import AnalysisInputError

TEMPORAL_MODES = ("per_bin", "fixed")

#: Bytes of source design rows one :func:`source_operators` step may hold (draws × splits in groups).
_DESIGN_BYTES = 64 * 2**20


def _design(a: np.ndarray, idx: np.ndarray, temporal: str) -> np.ndarray:
    """Rows of ``a`` (D × stimulus × unit × T) for the stimulus indices ``idx`` (S × n), laid out
    as (D × S × T' × samples × unit): per bin T' = T; fixed T' = 1 and samples = n·T."""
    sel = a[:, idx]  # D × S × n × unit × T
    if temporal == "per_bin":
        return sel.transpose(0, 1, 4, 2, 3)
    d, s, n, u, t = sel.shape
    return sel.transpose(0, 1, 2, 4, 3).reshape(d, s, 1, n * t, u)


def _unfold(pred: np.ndarray, n_bins: int, temporal: str) -> np.ndarray:
    """Predictions back to (D × S × T × n_test × unit)."""
    if temporal == "per_bin":
        return pred
    d, s, _, nt, q = pred.shape
    return pred.reshape(d, s, nt // n_bins, n_bins, q).transpose(0, 1, 3, 2, 4)


def _map(
    mapping: Any, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, temporal: str
) -> np.ndarray:
    """``M(x; y)`` fitted on ``train`` stimuli, predicted on ``test`` → (D × S × T × n_test × q).

    ``x`` may have a single draw (a model) while ``y`` has many: a column-independent
    mapping then solves all draws as extra target columns of one problem.
    """
    n_bins = y.shape[-1]
    xtr, xte, ytr = _design(x, train, temporal), _design(x, test, temporal), _design(y, train, temporal)
    d = ytr.shape[0]
    n, p = xtr.shape[-2:]
    with blas_limit(min(n, p) * max(n, p) * max(n, xte.shape[-2], ytr.shape[-1])):
        return _unfold(_fit(mapping, x, xtr, xte, ytr, d), n_bins, temporal)


def _fit(mapping: Any, x: np.ndarray, xtr: np.ndarray, xte: np.ndarray, ytr: np.ndarray, d: int) -> np.ndarray:
    if x.shape[0] == 1 and d > 1 and getattr(mapping, "column_independent", False):
        q = ytr.shape[-1]
        stacked = np.moveaxis(ytr, 0, -2).reshape(*ytr.shape[1:-1], d * q)
        pred = fit_predict(mapping, xtr[0], stacked, xte[0])  # S × T' × n_test × (d·q)
        pred = np.moveaxis(pred.reshape(*pred.shape[:-1], d, q), -2, 0)
    else:
        if x.shape[0] != d:
            xtr = np.broadcast_to(xtr, (d, *xtr.shape[1:]))
            xte = np.broadcast_to(xte, (d, *xte.shape[1:]))
        pred = fit_predict(mapping, xtr, ytr, xte)
    return pred


def _test_rows(y: np.ndarray, test: np.ndarray) -> np.ndarray:
    return y[:, test].transpose(0, 1, 4, 2, 3)  # D × S × T × n_test × q


def uses_operators(mapping: Any) -> bool:
    """Whether ``mapping`` is solved once per source (``prepare``/``apply``) rather than per target set."""
    return bool(getattr(mapping, "operator_form", False)) and hasattr(mapping, "prepare")


def source_operators(
    mapping: Any, x: np.ndarray, train: np.ndarray, test: np.ndarray, temporal: str
) -> np.ndarray:
    """``mapping.prepare`` of source ``x`` (draw × stimulus × unit × T) for every (draw × split × T')
    → (draw × split × T' × n_test' × n_train').

    Draws × splits are solved in groups whose design rows stay within ``_DESIGN_BYTES``, so
    memory is bounded by the operators, not by a draw's (split × stimulus × source unit) rows.
    """
    d, n_splits = x.shape[0], len(train)
    n_bins, p = x.shape[-1], x.shape[2]
    pair_bytes = 8 * 3 * (train.shape[1] + test.shape[1]) * n_bins * p
    group = max(1, _DESIGN_BYTES // max(pair_bytes, 1))
    pairs = [(i, j) for i in range(d) for j in range(n_splits)]
    out = None
    n, nt = train.shape[1], test.shape[1]
    if temporal == "fixed":
        n, nt = n * n_bins, nt * n_bins
    with blas_limit(min(n, p) * max(n, p) * max(n, nt)):
        for start in range(0, len(pairs), group):
            draws, splits = (np.array(v) for v in zip(*pairs[start : start + group], strict=True))
            xs = x[draws]  # g × stimulus × unit × T (one draw per pair)
            xtr = np.stack([_design(xs[k : k + 1], train[splits[k] : splits[k] + 1], temporal)[0, 0]
                            for k in range(len(draws))])
            xte = np.stack([_design(xs[k : k + 1], test[splits[k] : splits[k] + 1], temporal)[0, 0]
                            for k in range(len(draws))])
            ops = mapping.prepare(xtr, xte)  # g × T' × n_test' × n_train'
            if out is None:
                out = np.empty((d, n_splits, *ops.shape[1:]))
            out[draws, splits] = ops
    return out


def uses_grams(mapping: Any) -> bool:
    """Whether ``mapping`` can build its dual operator from Gram matrices (:func:`gram_operators`)."""
    return uses_operators(mapping) and getattr(mapping, "prepare_gram", None) is not None


def _row_index(idx: np.ndarray, n_bins: int, temporal: str) -> np.ndarray:
    """Stimulus indices (S × n) as indices into the rows of :func:`source_gram` (S × n'): per bin the
    stimuli; fixed the (stimulus, bin) samples in :func:`_design`'s order (stimulus-major)."""
    if temporal == "per_bin":
        return idx
    return (idx[:, :, None] * n_bins + np.arange(n_bins)).reshape(len(idx), -1)


def source_gram(x: np.ndarray, temporal: str) -> np.ndarray:
    """Gram matrices ``K = X Xᵀ`` over all stimuli of a source ``x`` (draw × stimulus × unit × T)
    → (draw × T' × rows × rows); per bin the rows are the stimuli, fixed the (stimulus, bin) samples.

    The rows are first centred by their mean over all stimuli: a ridge map depends on the
    training rows only through their deviations from the training mean, which no common shift
    changes, and the centred products lose less to rounding.  ``K`` is additive over source
    units, so a pooled source's Gram matrix is the sum of its animals'.
    """
    d, _, p, _ = x.shape
    rows = x.transpose(0, 3, 1, 2) if temporal == "per_bin" else x.transpose(0, 1, 3, 2).reshape(d, 1, -1, p)
    rows = rows - rows.mean(axis=-2, keepdims=True)
    with blas_limit(rows.shape[-2] ** 2 * p):
        return np.matmul(rows, np.swapaxes(rows, -1, -2))


def gram_operators(
    mapping: Any, gram: np.ndarray, train: np.ndarray, test: np.ndarray, temporal: str, n_bins: int
) -> np.ndarray:
    """:func:`source_operators` of the dual ridge from the source's :func:`source_gram` ``K``
    (draw × T' × rows × rows) → (draw × split × T' × n_test' × n_train').

    Per split the blocks ``K_tt`` (train × train) and ``K_et`` (test × train) are indexed out of
    ``K`` and centred by the training mean ``x̄ = X_trᵀ1/n`` algebraically, with
    ``r = K_tt 1/n``, ``c = K_et 1/n``, ``g = 1ᵀK_tt 1/n²``::

        (X_tr − 1x̄ᵀ)(X_tr − 1x̄ᵀ)ᵀ = K_tt − r1ᵀ − 1rᵀ + g       (= H K_tt H, H = I − 11ᵀ/n)
        (X_te − 1x̄ᵀ)(X_tr − 1x̄ᵀ)ᵀ = K_et − 1rᵀ − c1ᵀ + g

    so the cost per split is the n' × n' solve, independent of the number of source units.
    """
    tr, te = _row_index(train, n_bins, temporal), _row_index(test, n_bins, temporal)
    n = tr.shape[1]
    out = np.empty((gram.shape[0], len(tr), gram.shape[1], te.shape[1], n))
    with blas_limit(n * n * max(n, te.shape[1])):
        for i, k in enumerate(gram):  # k: T' × rows × rows
            ktt = np.moveaxis(k[:, tr[:, :, None], tr[:, None, :]], 1, 0)  # S × T' × n × n
            ket = np.moveaxis(k[:, te[:, :, None], tr[:, None, :]], 1, 0)  # S × T' × n_test × n
            r = ktt.mean(axis=-1)  # S × T' × n (K_tt symmetric: row means = column means)
            g = r.mean(axis=-1)[..., None, None]
            kc = ktt - r[..., :, None] - r[..., None, :] + g
            kx = ket - r[..., None, :] - ket.mean(axis=-1)[..., :, None] + g
            out[i] = mapping.prepare_gram(kc, kx)
    return out


def _scores(p1: np.ndarray, p2: np.ndarray | None, b1: np.ndarray, b2: np.ndarray | None,
            test: np.ndarray) -> np.ndarray:
    """Eq. 3.4 from the two halves' predictions (D × S × T × n_test × q) and the target halves."""
    if b2 is None:
        return pearson(p1, _test_rows(b1, test), axis=-2)
    c1, c2 = centred(p1, axis=-2), centred(p2, axis=-2)  # each array centred once for all three
    t1, t2 = centred(_test_rows(b1, test), axis=-2), centred(_test_rows(b2, test), axis=-2)
    numerator = correlation(c1, t2, axis=-2)
    map_reliability = spearman_brown(correlation(c1, c2, axis=-2))
    del c2
    target_reliability = spearman_brown(correlation(t1, t2, axis=-2))
    valid = (map_reliability > 0) & (target_reliability > 0)  # both terms, not just their product
    denominator = np.where(valid, map_reliability * target_reliability, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, numerator / np.sqrt(denominator), np.nan)


def operator_scores(
    operators: tuple[np.ndarray, np.ndarray | None],
    target: tuple[np.ndarray, np.ndarray | None],
    train: np.ndarray,
    test: np.ndarray,
    mapping: Any,
    temporal: str = "per_bin",
) -> np.ndarray:
    """:func:`corrected_scores` from :func:`source_operators` of the two source halves (the second
    ``None`` when both halves share the source): one n_test' × n_train' × q product per
    (draw × split × T') and half, whatever the size of the source."""
    b1, b2 = target
    n_bins = b1.shape[-1]
    ops1, ops2 = operators
    ops2 = ops1 if ops2 is None else ops2
    y1 = _design(b1, train, temporal)
    with blas_limit(ops1.shape[-2] * ops1.shape[-1] * y1.shape[-1]):
        p1 = _unfold(mapping.apply(ops1, y1), n_bins, temporal)
        p2 = None if b2 is None else mapping.apply(ops2, _design(b2, train, temporal))
    p2 = None if p2 is None else _unfold(p2, n_bins, temporal)
    return _scores(p1, p2, b1, b2, test)


def corrected_scores(
    source: tuple[np.ndarray, np.ndarray | None],
    target: tuple[np.ndarray, np.ndarray | None],
    train: np.ndarray,
    test: np.ndarray,
    mapping: Any,
    temporal: str = "per_bin",
) -> np.ndarray:
    """Noise-corrected score per (draw × split × time bin × target unit).

    ``source`` and ``target`` are the two split-half averages, each (draw × stimulus ×
    unit × time bin); a source with one draw (a model) is shared by all target draws.
    A second half of ``None`` means no repeated trials: the score is then the plain
    test-set correlation.  ``train``/``test`` are (split × stimuli) index arrays.  A mapping
    with an operator form is solved once per source half (see :func:`source_operators`).
    """
    if temporal not in TEMPORAL_MODES:
        raise AnalysisInputError(f"temporal {temporal!r}: unknown; expected one of {', '.join(TEMPORAL_MODES)}")
    s1, s2 = source
    b1, b2 = target
    if uses_operators(mapping):
        ops1 = source_operators(mapping, s1, train, test, temporal)
        ops2 = None if (s2 is None or b2 is None) else source_operators(mapping, s2, train, test, temporal)
        return operator_scores((ops1, ops2), target, train, test, mapping, temporal)
    p1 = _map(mapping, s1, b1, train, test, temporal)
    if b2 is None:
        return _scores(p1, None, b1, None, test)
    p2 = _map(mapping, s1 if s2 is None else s2, b2, train, test, temporal)
    return _scores(p1, p2, b1, b2, test)


def draw_halves(values: np.ndarray, draws: slice, w1: np.ndarray | None, w2: np.ndarray | None):
    """Split-half averages for a chunk of draws: two (draws × stimulus × unit × T) arrays, or
    (values, None) with no repeated trials."""
    if w1 is None:
        return values[None], None
    flat = values.reshape(-1, values.shape[-1]).T  # trial × (stimulus·unit·T), a view
    shape = (-1, *values.shape[:-1])
    with blas_limit(flat.size * len(w1[draws])):
        return np.matmul(w1[draws], flat).reshape(shape), np.matmul(w2[draws], flat).reshape(shape)
