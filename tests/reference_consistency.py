"""A straightforward loop implementation of noise-corrected consistency (notes §1, thesis eq. 3.4),
kept as the reference the vectorised :mod:`goalstore.analyses.consistency` must agree with (tests and
``benchmarks/bench_consistency.py``).  It loops over areas, target animals, sources, split-half draws,
stimulus splits, time bins and target units, fits with ``clone(mapping).fit`` (scikit-learn's ``Ridge``
for ridge) and correlates with ``np.corrcoef``."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import Ridge

from goalstore.analyses.mappings import OneToOneMapping, RidgeMapping
from goalstore.analyses.reliability import split_half_weights
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits


def _corr(a, b):
    # constant up to rounding (spread below 1e-10 of the magnitude) has no correlation
    for v in (a, b):
        if np.linalg.norm(v - v.mean()) <= 1e-10 * np.abs(v).max() * np.sqrt(len(v)):
            return np.nan
    return np.corrcoef(a, b)[0, 1]


def _sb(r):
    return 2 * r / (1 + r)


def _fit_predict(mapping, x_train, y_train, x_test):
    if isinstance(mapping, RidgeMapping):
        model = Ridge(alpha=mapping.alpha).fit(x_train, y_train)
        return model.predict(x_test)
    if isinstance(mapping, OneToOneMapping):
        out = np.empty((len(x_test), y_train.shape[1]))
        for j in range(y_train.shape[1]):
            corrs = [_corr(x_train[:, i], y_train[:, j]) for i in range(x_train.shape[1])]
            best = int(np.argmax(np.where(np.isnan(corrs), -np.inf, corrs)))
            out[:, j] = x_test[:, best]
        return out
    return np.asarray(clone(mapping).fit(x_train, y_train).predict(x_test)).reshape(len(x_test), -1)


def _fits(mapping, x, y, train, test, temporal):
    """Predictions (stim_test × T × q) of y from x (stim × p × T)."""
    n_bins = y.shape[2]
    if temporal == "per_bin":
        return np.stack(
            [_fit_predict(mapping, x[train, :, t], y[train, :, t], x[test, :, t]) for t in range(n_bins)],
            axis=1,
        )
    xtr = np.concatenate([x[[s], :, t] for s in train for t in range(n_bins)])
    ytr = np.concatenate([y[[s], :, t] for s in train for t in range(n_bins)])
    xte = np.concatenate([x[[s], :, t] for s in test for t in range(n_bins)])
    return _fit_predict(mapping, xtr, ytr, xte).reshape(len(test), n_bins, -1)


def reference_consistency(
    values, animals, areas, mapping, scheme: SplitScheme, n_draws, seed, temporal="per_bin", pooled=False
):
    """values: stimulus × unit × T × trial; returns unit × T mean corrected consistency."""
    train_all, test_all = stimulus_splits(values.shape[0], scheme)
    w1, w2 = split_half_weights(values.shape[3], n_draws, seed)
    total = np.zeros((values.shape[1], values.shape[2]))
    count = np.zeros_like(total)
    for area in sorted(set(areas)):
        names = sorted(set(animals[areas == area]))
        for target in names:
            tgt = np.flatnonzero((areas == area) & (animals == target))
            sources = [[a for a in names if a != target]] if pooled else [[a] for a in names if a != target]
            for source in sources:
                src = np.flatnonzero((areas == area) & np.isin(animals, source))
                for d in range(n_draws):
                    half1 = values[..., w1[d] > 0].mean(axis=-1)
                    half2 = values[..., w2[d] > 0].mean(axis=-1)
                    for train, test in zip(train_all, test_all, strict=True):
                        p1 = _fits(mapping, half1[:, src], half1[:, tgt], train, test, temporal)
                        p2 = _fits(mapping, half2[:, src], half2[:, tgt], train, test, temporal)
                        for j, unit in enumerate(tgt):
                            for t in range(values.shape[2]):
                                b1, b2 = half1[test, unit, t], half2[test, unit, t]
                                num = _corr(p1[:, t, j], b2)
                                rm, rt = _sb(_corr(p1[:, t, j], p2[:, t, j])), _sb(_corr(b1, b2))
                                if rm > 0 and rt > 0 and np.isfinite(num):
                                    total[unit, t] += num / np.sqrt(rm * rt)
                                    count[unit, t] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


def reference_predictivity(values, model, mapping, scheme: SplitScheme, n_draws, seed, temporal="per_bin"):
    """values: stimulus × unit × T × trial; model: stimulus × model unit × T; returns unit × T."""
    train_all, test_all = stimulus_splits(values.shape[0], scheme)
    w1, w2 = split_half_weights(values.shape[3], n_draws, seed)
    total = np.zeros((values.shape[1], values.shape[2]))
    count = np.zeros_like(total)
    for d in range(n_draws):
        half1 = values[..., w1[d] > 0].mean(axis=-1)
        half2 = values[..., w2[d] > 0].mean(axis=-1)
        for train, test in zip(train_all, test_all, strict=True):
            p1 = _fits(mapping, model, half1, train, test, temporal)
            p2 = _fits(mapping, model, half2, train, test, temporal)
            for unit in range(values.shape[1]):
                for t in range(values.shape[2]):
                    b1, b2 = half1[test, unit, t], half2[test, unit, t]
                    num = _corr(p1[:, t, unit], b2)
                    rm, rt = _sb(_corr(p1[:, t, unit], p2[:, t, unit])), _sb(_corr(b1, b2))
                    if rm > 0 and rt > 0 and np.isfinite(num):
                        total[unit, t] += num / np.sqrt(rm * rt)
                        count[unit, t] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)
