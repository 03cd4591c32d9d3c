"""Inter-animal consistency and noise-corrected model predictivity (notes §1; thesis eq. 3.4).

For a target unit of animal B and a source ``S`` (another animal A, the pooled other
animals, or a model layer), with trials split into halves 1 and 2 and all correlations
taken across *test* stimuli::

                    Corr( M(S¹; B¹), B² )
    ───────────────────────────────────────────────────────────
    sqrt( SB(Corr( M(S¹; B¹), M(S²; B²) )) · SB(Corr( B¹, B² )) )

``M`` is fitted on training stimuli.  A model is deterministic, so ``S¹ = S² = X``.
With no repeated trials both denominator terms are 1 and the score is the plain
test-set correlation ``Corr(M(S; B), B)`` (thesis eqs. 4.3–4.4).  The score is averaged
over split-half draws, stimulus splits and source animals, per target unit; a draw in
which either reliability term is not positive (an unreliable map or target) is left out
of the mean, and a unit with no valid draw gets NaN.

Split-half draws, stimulus splits and (per-bin) time bins are batch axes of one
computation; draws are processed in chunks of bounded memory with a progress bar.
Temporal data are mapped either per time bin (``temporal="per_bin"``: a weight set per
bin) or temporally fixed (``"fixed"``: one weight set for all bins, the bins of the
training stimuli stacked as samples); results keep the ``time_bin`` dim.

This module orchestrates the mapping problems (which source predicts which target,
pooled or per animal, per model layer, per temporal mode) and reads lazily opened
recordings in bounded blocks.  The array core is :mod:`~goalstore.analyses.consistency_core`,
the shared response preparation :mod:`~goalstore.analyses.responses` and the per-area
summaries and JSON report :mod:`~goalstore.analyses.consistency_summary`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import xarray as xr

from goalstore.analyses.consistency_core import (
    TEMPORAL_MODES,
    corrected_scores,
    draw_halves,
    gram_operators,
    operator_scores,
    source_gram,
    source_operators,
    uses_grams,
    uses_operators,
)
from goalstore.analyses.consistency_execution import consistency_sums, predictivity_sums
from goalstore.analyses.consistency_summary import area_summaries, json_best_layers, summary
from goalstore.analyses.mappings import make_mapping, mapping_name
from goalstore.analyses.reliability import check_finite, pearson, spearman_brown, split_half_weights
from goalstore.analyses.responses import as_array, responses_of
from goalstore.analyses.rsa import rsa_consistency
from goalstore.analyses.stimulus_splits import SplitScheme, stimulus_splits
from goalstore.errors import AnalysisInputError

__all__ = ["TEMPORAL_MODES", "consistency_analysis", "corrected_scores", "inter_animal_consistency",
           "json_best_layers", "model_predictivity", "summary"]

_CHUNK_BYTES = 256 * 2**20


# ------------------------------------------------------------ memory bounds
def _draw_chunks(n_draws: int, per_draw_bytes: int, budget: int | None = None) -> list[slice]:
    size = max(1, min(n_draws, (budget or _CHUNK_BYTES) // max(per_draw_bytes, 1)))
    return [slice(i, min(i + size, n_draws)) for i in range(0, n_draws, size)]



def _unit_blocks(units: np.ndarray, per_unit_bytes: int, budget: int | None = None) -> list[np.ndarray]:
    """``units`` in blocks whose loaded data stay near ``budget`` bytes (recordings larger than RAM)."""
    size = max(1, (budget or _CHUNK_BYTES) // max(per_unit_bytes, 1))
    return [units[i : i + size] for i in range(0, len(units), size)] or [units]


def _load(responses: xr.DataArray, units: np.ndarray) -> np.ndarray:
    """The responses of ``units`` as float64 (stimulus × unit × T [× trial]); NaN refused, naming the unit."""
    contiguous = len(units) > 0 and units[-1] - units[0] == len(units) - 1 and bool(np.all(np.diff(units) == 1))
    # a run of units (an animal, a block of it) as a slice: a lazy array reads just its chunks (an index
    # array would go through dask's take/shuffle: most of the read time at 40,000 units)
    block = responses.isel(unit=slice(int(units[0]), int(units[-1]) + 1) if contiguous else units)
    if block.chunks is not None:  # dask-backed (a lazily opened store): read here, in this thread
        import dask

        with dask.config.set(scheduler="synchronous"):
            block = block.load()
    values = as_array(block)
    if not np.isfinite(values).all():
        check_finite(block)
    return values


def _shape(responses: xr.DataArray) -> tuple[int, int, bool]:
    """(stimuli, time bins, repeated trials?) without reading data."""
    n_bins = responses.sizes.get("time_bin", 1)
    return responses.sizes["stimulus"], n_bins, responses.sizes.get("trial", 1) > 1


def _squeeze_trials(values: np.ndarray, repeated: bool) -> np.ndarray:
    return values[..., 0] if values.ndim == 4 and not repeated else values



# ---------------------------------------------------------------- result
def _config_attrs(
    kind: str,
    mapping: Any,
    scheme: SplitScheme,
    n_draws: int,
    seed: int,
    temporal: str,
    repeated: bool,
    **extra: Any,
) -> dict[str, Any]:
    import json

    from goalstore._version import __version__

    return {
        "analysis": kind,
        "mapping": type(mapping).__name__,
        "mapping_params": json.dumps(
            {
                k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                for k, v in mapping.get_params().items()
            }
        ),
        "split_scheme": json.dumps(asdict(scheme)),
        "n_draws": int(n_draws),
        "seed": int(seed),
        "temporal": temporal,
        "repeated_trials": int(repeated),
        "goalstore_version": __version__,
        **extra,
    }


def _internal_sums(responses: xr.DataArray, w1: np.ndarray, w2: np.ndarray, total: np.ndarray) -> None:
    """Add ``Σ_d SB(r_d)`` over the draws of ``w1, w2`` to ``total`` (unit × T): the Spearman–Brown
    corrected split-half correlation across all stimuli of every unit, read in unit blocks."""
    n_units = responses.sizes["unit"]
    trials = 8 * responses.sizes["stimulus"] * responses.sizes.get("time_bin", 1) * responses.sizes["trial"]
    for block in _unit_blocks(np.arange(n_units), trials, _CHUNK_BYTES // 4):
        values = _load(responses, block)
        # a draw: both halves and pearson's centred copies of them
        for chunk in _draw_chunks(len(w1), 32 * int(np.prod(values.shape[:3])), _CHUNK_BYTES // 2):
            a, b = draw_halves(values, chunk, w1, w2)
            total[block] += spearman_brown(pearson(a, b, axis=1)).sum(axis=0)
            del a, b
        del values  # before the next block is read


def _internal_result(responses: xr.DataArray, total: np.ndarray, n_draws: int) -> xr.DataArray:
    """Split-half internal consistency across all stimuli (mean over draws), unit × T."""
    return _result(
        responses,
        total / n_draws,
        "internal_consistency",
        "Spearman-Brown corrected split-half reliability across all stimuli (mean over split-half draws)",
    )["internal_consistency"]


def _result(responses: xr.DataArray, per_unit: np.ndarray, name: str, description: str) -> xr.Dataset:
    """A dataset of one unit [× time_bin] variable carrying the recording's unit / bin coordinates."""
    unit_coords = {c: ("unit", responses[c].values) for c in responses.coords if responses[c].dims == ("unit",)}
    dims: tuple[str, ...] = ("unit",)
    coords = dict(unit_coords)
    values = per_unit[:, 0] if "time_bin" not in responses.dims else per_unit
    if "time_bin" in responses.dims:
        dims = ("unit", "time_bin")
        for c in responses.coords:
            if responses[c].dims == ("time_bin",):
                coords[c] = ("time_bin", responses[c].values, responses[c].attrs)
    return xr.Dataset({name: (dims, values, {"units": "1", "description": description})}, coords=coords)


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="fit")


# ------------------------------------------------------ mapping problems
def inter_animal_consistency(
    recording: xr.Dataset | xr.DataArray,
    mapping: str | Any = "ridge",
    pooled: bool = False,
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: str = "per_bin",
    variable: str | None = None,
    progress: bool = False,
    executor: Any = None,
    **mapping_params: Any,
) -> xr.Dataset:
    """Noise-corrected inter-animal consistency of every unit (thesis eq. 3.4).

    Within each area, every animal in turn is the target: its units are predicted from
    each other animal (pairwise; scores averaged over source animals) or, with
    ``pooled``, from the concatenated units of all other animals.  Returns a dataset
    with ``consistency`` per target unit (and time bin), ``consistency_median`` /
    ``_sem`` / ``_n_units`` per area, and the units' split-half ``internal_consistency``.

    A lazily opened recording is read per mapping problem: the source units plus a block of
    target units at a time, so memory is bounded by a source animal and a target block.
    ``executor`` (a ``dask.distributed.Client``; ``None``: in process) spreads chunks of draws ×
    mapping problems over its workers (:mod:`~goalstore.analyses.consistency_execution`).
    """
    scheme = scheme or SplitScheme(seed=seed)
    responses = responses_of(recording, variable)
    mapping = make_mapping(mapping, **mapping_params)
    n_stimuli, n_bins, repeated = _shape(responses)
    n_trials = responses.sizes.get("trial", 1)
    animals = np.asarray(responses["animal"].values).astype(str)
    areas = np.asarray(responses["area"].values).astype(str)
    if scheme.stratify and scheme.stratify not in responses.coords:
        raise AnalysisInputError(f"coordinate {scheme.stratify!r}: not on the stimuli; cannot stratify by it")
    categories = np.asarray(responses[scheme.stratify].values) if scheme.stratify else None
    train, test = stimulus_splits(n_stimuli, scheme, categories)
    w1, w2 = split_half_weights(n_trials, n_draws, seed) if repeated else (None, None)
    n_draws_used = n_draws if repeated else 1
    total = np.zeros((n_bins, len(animals)))
    count = np.zeros((n_bins, len(animals)))
    if not any(len(set(animals[areas == a].tolist())) > 1 for a in set(areas.tolist())):
        names = ", ".join(sorted(set(animals.tolist())))
        raise AnalysisInputError(f"recording: no area has units of two animals (animals {names}); "
                                 "inter-animal consistency needs at least two per area")
    tasks = []  # (source unit indices, target unit indices) of one mapping problem
    for area in sorted(set(areas.tolist())):
        in_area = areas == area
        names = sorted(set(animals[in_area].tolist()))
        for target in names:
            target_units = np.flatnonzero(in_area & (animals == target))
            sources = [[a for a in names if a != target]] if pooled else [[a] for a in names if a != target]
            for source in sources:
                tasks.append((np.flatnonzero(in_area & np.isin(animals, source)), target_units))
    if not pooled and getattr(mapping, "column_independent", False):  # one fit per source, all its targets
        merged: dict[bytes, list[np.ndarray]] = {}
        for src, tgt in tasks:
            merged.setdefault(src.tobytes(), [src]).append(tgt)
        tasks = [(v[0], np.concatenate(v[1:])) for v in merged.values()]
    run = _streamed if uses_operators(mapping) else _per_block
    if uses_grams(mapping) and _gram_groups(responses, tasks, train, temporal) is not None:
        run = _gram_streamed
    internal = np.zeros((responses.sizes["unit"], n_bins))  # Σ over draws of the internal consistency
    if executor is None:
        run(responses, tasks, mapping, train, test, temporal, (w1, w2), repeated, (total, count), progress)
        if repeated:
            _internal_sums(responses, w1, w2, internal)
    else:  # the internal consistency as work items too, on the same shipped recording
        consistency_sums(executor, run, responses, tasks, mapping, train, test, temporal, (w1, w2), repeated,
                         (total, count), progress, (_internal_sums, internal) if repeated else None)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.where(count > 0, count, 1), np.nan).T  # unit × T
    if not np.isfinite(mean).any():
        raise AnalysisInputError("recording: no unit has a defined consistency (constant or unreliable "
                                 "responses in every unit: the noise ceiling is zero or undefined)")
    ds = _result(
        responses,
        mean,
        "consistency",
        "noise-corrected inter-animal consistency per target unit "
        "(mean over source animals, split-half draws and stimulus splits)",
    )
    ds.update(area_summaries(ds["consistency"], areas, "consistency"))
    if repeated:
        ds["internal_consistency"] = _internal_result(responses, internal, len(w1))
    ds.attrs.update(
        _config_attrs(
            "inter-animal consistency",
            mapping,
            scheme,
            n_draws_used,
            seed,
            temporal,
            repeated,
            pooled=int(bool(pooled)),
        )
    )
    return ds


def _accumulate(sums: tuple[np.ndarray, np.ndarray], tgt: np.ndarray, scores: np.ndarray) -> None:
    """Add a (D × S × T × q) block of scores to the running (T × unit) sums and counts."""
    finite = np.isfinite(scores)
    np.add.at(sums[0], (slice(None), tgt), np.where(finite, scores, 0.0).sum(axis=(0, 1)))
    np.add.at(sums[1], (slice(None), tgt), finite.sum(axis=(0, 1)))


def _per_block(responses, tasks, mapping, train, test, temporal, weights, repeated, sums, progress) -> None:
    """Each (source, target block) problem fitted on its own: mappings without an operator form."""
    w1, w2 = weights
    n_stimuli, n_bins, _ = _shape(responses)
    n_trials = responses.sizes.get("trial", 1)
    n_splits = len(train)
    n_draws_used = len(w1) if repeated else 1
    per_unit = 8 * n_stimuli * n_bins * (n_trials + 6 * n_splits)
    jobs = []
    for src, tgt in tasks:
        blocks = (
            [tgt]
            if not getattr(mapping, "column_independent", False)
            else _unit_blocks(tgt, per_unit, max(_CHUNK_BYTES - per_unit * len(src), _CHUNK_BYTES // 4))
        )
        jobs += [(src, block) for block in blocks]
    bar = _progress(len(jobs), progress, "consistency")
    for src, tgt in jobs:
        values = _squeeze_trials(_load(responses, np.concatenate([src, tgt])), repeated)
        s_idx, t_idx = np.arange(len(src)), np.arange(len(src), len(src) + len(tgt))
        for chunk in _draw_chunks(n_draws_used, 8 * n_stimuli * values.shape[1] * n_bins * 6 * n_splits):
            h1, h2 = draw_halves(values, chunk, w1, w2)
            scores = corrected_scores(
                (h1[:, :, s_idx], None if h2 is None else h2[:, :, s_idx]),
                (h1[:, :, t_idx], None if h2 is None else h2[:, :, t_idx]),
                train,
                test,
                mapping,
                temporal,
            )  # D × S × T × q
            _accumulate(sums, tgt, scores)
        bar.update(1)
    bar.close()


def _source_halves(responses, src, chunk, weights, repeated, per_unit) -> tuple[np.ndarray, np.ndarray | None]:
    """The split-half averages of the source units for a chunk of draws, read in unit blocks
    (the source's trials are never all in memory at once)."""
    parts = [
        draw_halves(_squeeze_trials(_load(responses, block), repeated), chunk, *weights)
        for block in _unit_blocks(src, per_unit)
    ]
    h1 = np.concatenate([a for a, _ in parts], axis=2)
    return h1, (None if parts[0][1] is None else np.concatenate([b for _, b in parts], axis=2))


def _stream_sizes(responses, train, test, w1, repeated) -> tuple[int, int, int, int, int, int, int, int]:
    """The sizes a streamed run plans its memory with: stimuli, time bins, trials, stimulus splits,
    training and test stimuli per split, split-half draws used and halves per draw."""
    n_stimuli, n_bins, _ = _shape(responses)
    return (n_stimuli, n_bins, responses.sizes.get("trial", 1), len(train), train.shape[1], test.shape[1],
            len(w1) if repeated else 1, 2 if repeated else 1)


def _streamed(responses, tasks, mapping, train, test, temporal, weights, repeated, sums, progress) -> None:
    """Each source solved once per chunk of draws (``prepare``: one n_test × n_train operator per
    draw × split × T'), the target units streamed through it in blocks (``apply``).

    Memory: a chunk of draws holds the source's split-half averages and operators
    (``_CHUNK_BYTES`` together); a target block holds its trials and its halves.
    """
    w1, w2 = weights
    n_stimuli, n_bins, n_trials, n_splits, n_train, n_test, n_draws_used, halves = _stream_sizes(
        responses, train, test, w1, repeated)
    rows = n_bins if temporal == "fixed" else 1
    op_bytes = 8 * halves * n_splits * n_bins * n_train * n_test * rows  # per draw (T' · n_te' · n_tr')
    plan = []
    for src, tgt in tasks:
        per_draw = 8 * halves * n_stimuli * len(src) * n_bins + op_bytes
        chunks = _draw_chunks(n_draws_used, per_draw)
        size = chunks[0].stop - chunks[0].start
        per_target = 8 * n_stimuli * n_bins * (n_trials + 2 * halves * size + 4 * size * n_splits)
        plan.append((src, chunks, _unit_blocks(tgt, per_target)))
    bar = _progress(sum(len(c) * len(b) for _, c, b in plan), progress, "consistency")
    per_unit = 8 * n_stimuli * n_bins * n_trials
    for src, chunks, blocks in plan:
        for chunk in chunks:
            s1, s2 = _source_halves(responses, src, chunk, weights, repeated, per_unit)
            ops1 = source_operators(mapping, s1, train, test, temporal)
            ops2 = None if s2 is None else source_operators(mapping, s2, train, test, temporal)
            del s1, s2
            for tgt in blocks:
                values = _squeeze_trials(_load(responses, tgt), repeated)
                scores = operator_scores((ops1, ops2), draw_halves(values, chunk, w1, w2), train, test,
                                         mapping, temporal)
                del values  # before the next block is read
                _accumulate(sums, tgt, scores)
                bar.update(1)
    bar.close()


def _gram_groups(responses, tasks, train, temporal) -> list[tuple[list[np.ndarray], list]] | None:
    """Tasks by area for :func:`_gram_streamed`: (the area's animals' unit indices, [(animal positions
    of the source, target units)]); ``None`` where it does not apply: a source that is not a union
    of whole animals, a primal problem (more training rows than source units) or Gram matrices of
    one draw beyond the memory budget."""
    n_stimuli, n_bins, _ = _shape(responses)
    rows = n_stimuli * (n_bins if temporal == "fixed" else 1)
    n_train = train.shape[1] * (n_bins if temporal == "fixed" else 1)
    animals = np.asarray(responses["animal"].values).astype(str)
    areas = np.asarray(responses["area"].values).astype(str)
    by_area: dict[str, tuple[list[np.ndarray], list]] = {}
    for src, tgt in tasks:
        if len(src) < n_train:
            return None
        area = areas[src[0]]
        groups, jobs = by_area.setdefault(area, ([], []))
        keys = sorted(set(animals[src].tolist()))
        members = []
        for name in keys:
            units = np.flatnonzero((areas == area) & (animals == name))
            found = [i for i, g in enumerate(groups) if np.array_equal(g, units)]
            if not found:
                groups.append(units)
            members.append(found[0] if found else len(groups) - 1)
        if not np.array_equal(np.sort(np.concatenate([groups[i] for i in members])), np.sort(src)):
            return None
        jobs.append((members, tgt))
    one_draw = max(_gram_bytes(len(groups), rows, n_bins, temporal) for groups, _ in by_area.values())
    return list(by_area.values()) if one_draw <= _CHUNK_BYTES else None


def _gram_bytes(n_groups: int, rows: int, n_bins: int, temporal: str) -> int:
    """Bytes of one draw's Gram matrices in :func:`_gram_streamed`: both halves of every animal of
    an area and of one source's sum."""
    return 8 * 2 * (n_groups + 1) * (1 if temporal == "fixed" else n_bins) * rows * rows


def _animal_grams(responses, units, chunk, weights, repeated, temporal, per_unit) -> list[np.ndarray | None]:
    """Both halves' :func:`source_gram` of ``units`` for a chunk of draws, summed over blocks of units read
    one at a time (``K`` is additive over units, and each unit's rows are centred on their own): the
    source's trials are never all in memory, and each block is read once per chunk of draws."""
    grams: list[np.ndarray | None] = [None, None]
    for block in _unit_blocks(units, per_unit, _CHUNK_BYTES // 4):
        halves = draw_halves(_squeeze_trials(_load(responses, block), repeated), chunk, *weights)
        for k, half in enumerate(halves):
            if half is not None:
                gram = source_gram(half, temporal)
                if grams[k] is None:
                    grams[k] = gram
                else:
                    grams[k] += gram
        del halves
    return grams


def _gram_streamed(responses, tasks, mapping, train, test, temporal, weights, repeated, sums, progress) -> None:
    """Dual ridge from Gram matrices (issue 16): per chunk of draws each animal's full-stimulus Gram
    matrix ``K_b = X_b X_bᵀ`` (per half and T') is formed once, summed over blocks of its units
    (:func:`_animal_grams`: each block read once per chunk of draws); a source's is the sum over its
    animals (pooled: all others), every split's train/test blocks are indexed out of it
    (:func:`~goalstore.analyses.consistency_core.gram_operators`), and the target units are streamed
    through the operators as in :func:`_streamed`.

    Memory (issue 16: peak near the budget, whatever the recording): a chunk of draws holds the
    area's animals' Gram matrices, one source's summed ones and its operators (half of
    ``_CHUNK_BYTES``, at least one draw), so that a recording with small Gram matrices (few stimuli,
    many units) takes all its draws in one chunk and is read twice in all; a source block read for its
    Gram matrices with its halves a quarter, a target block with its halves and scores the other half.
    """
    w1, w2 = weights
    n_stimuli, n_bins, n_trials, n_splits, n_train, n_test, n_draws_used, halves = _stream_sizes(
        responses, train, test, w1, repeated)
    rows, bins = (n_stimuli * n_bins, 1) if temporal == "fixed" else (n_stimuli, n_bins)
    scale = n_bins if temporal == "fixed" else 1
    op_bytes = 8 * halves * n_splits * bins * (n_train * scale) * (n_test * scale)
    plan = _gram_groups(responses, tasks, train, temporal)
    bar = _progress(sum(len(jobs) for _, jobs in plan) * n_draws_used, progress, "consistency")
    for groups, jobs in plan:
        per_draw = _gram_bytes(len(groups), rows, n_bins, temporal) + op_bytes
        chunks = _draw_chunks(n_draws_used, per_draw, _CHUNK_BYTES // 2)
        size = chunks[0].stop - chunks[0].start
        # a source unit read for its Gram matrices: its trials, its halves for the chunk and a centred copy
        per_unit = 8 * n_stimuli * n_bins * (n_trials + 2 * halves * size)
        # a target unit: its trials, both halves, and per split the design rows, predictions and
        # centred copies (about 6 arrays of the stimuli per draw × split)
        per_target = 8 * n_stimuli * n_bins * (2 * n_trials + 2 * halves * size + 6 * size * n_splits)
        for chunk in chunks:
            grams = [_animal_grams(responses, units, chunk, weights, repeated, temporal, per_unit)
                     for units in groups]
            for members, tgt in jobs:
                ops = [None, None]
                for k in range(halves):
                    gram = sum(grams[i][k] for i in members)
                    ops[k] = gram_operators(mapping, gram, train, test, temporal, n_bins)
                    del gram
                for block in _unit_blocks(tgt, per_target, _CHUNK_BYTES // 2):
                    values = _squeeze_trials(_load(responses, block), repeated)
                    scores = operator_scores((ops[0], ops[1]), draw_halves(values, chunk, w1, w2), train, test,
                                             mapping, temporal)
                    del values
                    _accumulate(sums, block, scores)
                bar.update(chunk.stop - chunk.start)
                del ops
            del grams
    bar.close()


def _layer_sums(responses, features, blocks, mapping, train, test, temporal, weights, repeated, sums,
                progress) -> None:
    """Add the predictivity scores of the recorded units (read in ``blocks``) from each layer's
    ``features`` (stimulus × unit × T) to the running (layer × T × unit) sums and counts."""
    w1, w2 = weights
    n_stimuli, n_bins, _ = _shape(responses)
    n_draws_used = len(w1) if repeated else 1
    bar = _progress(len(blocks) * len(features), progress, "predictivity")
    for block in blocks:
        values = _squeeze_trials(_load(responses, block), repeated)
        chunks = _draw_chunks(n_draws_used, 8 * n_stimuli * len(block) * n_bins * 6 * len(train))
        for li, x in enumerate(features):
            for chunk in chunks:
                h1, h2 = draw_halves(values, chunk, w1, w2)
                scores = corrected_scores((x[None], None), (h1, h2), train, test, mapping, temporal)
                finite = np.isfinite(scores)
                sums[0][li][:, block] += np.where(finite, scores, 0.0).sum(axis=(0, 1))
                sums[1][li][:, block] += finite.sum(axis=(0, 1))
            bar.update(1)
    bar.close()


def check_same_bins(recording: xr.DataArray, activations: xr.DataArray) -> None:
    """Refuse activations over time bins that start at other times than the recording's (both with
    ``time_bin_start``): a model's steps are compared bin by bin only once placed on the recording's
    time axis (``goalstore extract --align RECORDING``)."""
    if "time_bin" not in activations.dims or activations.sizes["time_bin"] < 2:
        return
    if "time_bin_start" not in recording.coords or "time_bin_start" not in activations.coords:
        return
    ours = np.asarray(activations["time_bin_start"].values, dtype=float)
    theirs = np.asarray(recording["time_bin_start"].values, dtype=float)
    if ours.shape == theirs.shape and not np.allclose(ours, theirs):
        raise AnalysisInputError(
            f"coordinate 'time_bin_start': the activations' bins start at {ours[0]:g}–{ours[-1]:g} ms, the "
            f"recording's at {theirs[0]:g}–{theirs[-1]:g} ms; extract the model aligned to the recording "
            "(goalstore extract --align RECORDING)"
        )


def model_predictivity(
    recording: xr.Dataset | xr.DataArray,
    activations: xr.Dataset | xr.DataArray,
    mapping: str | Any = "ridge",
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: str = "per_bin",
    variable: str | None = None,
    activation_variable: str | None = None,
    progress: bool = False,
    executor: Any = None,
    **mapping_params: Any,
) -> xr.Dataset:
    """Noise-corrected predictivity of every recorded unit from each model layer.

    The model's units carry a ``layer`` coordinate; each layer is a source ``X`` with
    ``X¹ = X²``.  Stimuli are matched by ``stimulus_id`` (a recorded stimulus missing from
    the activations is an error).  Activations without ``time_bin`` are used for every
    bin.  Returns ``predictivity`` (layer × unit [× time_bin]), per-layer medians per area,
    and the ``best_layer`` per area (highest median, averaged over bins).  A lazily opened
    recording is read in blocks of units, so memory does not grow with the recording.  ``executor``
    (a ``dask.distributed.Client``; ``None``: in process) spreads chunks of draws × layers over its
    workers (:mod:`~goalstore.analyses.consistency_execution`).
    """
    import pandas as pd

    scheme = scheme or SplitScheme(seed=seed)
    responses = responses_of(recording, variable)
    model = responses_of(activations, activation_variable)
    check_finite(model, "activations")
    ids = np.asarray(responses["stimulus_id"].values)
    model_ids = np.asarray(model["stimulus_id"].values)
    missing = np.setdiff1d(ids, model_ids)
    if missing.size:
        raise AnalysisInputError(
            f"coordinate 'stimulus_id': {missing.size} recorded stimuli are missing from the "
            f"activations (e.g. {', '.join(map(str, missing[:3]))}); source and target "
            "must show the same stimuli"
        )
    model = model.isel(stimulus=pd.Index(model_ids).get_indexer(ids))
    if "layer" not in model.coords:
        raise AnalysisInputError("coordinate 'layer': missing on the activations' units")
    mapping = make_mapping(mapping, **mapping_params)
    n_stimuli, n_bins, repeated = _shape(responses)
    n_trials = responses.sizes.get("trial", 1)
    x_all = as_array(model)
    if x_all.shape[2] == 1 and n_bins > 1:
        x_all = np.repeat(x_all, n_bins, axis=2)
    elif x_all.shape[2] != n_bins:
        raise AnalysisInputError(
            f"dim 'time_bin': activations have {x_all.shape[2]} bins, the recording {n_bins}"
        )
    else:
        check_same_bins(responses, model)
    categories = np.asarray(responses[scheme.stratify].values) if scheme.stratify else None
    train, test = stimulus_splits(n_stimuli, scheme, categories)
    w1, w2 = split_half_weights(n_trials, n_draws, seed) if repeated else (None, None)
    n_draws_used = n_draws if repeated else 1
    layers = list(dict.fromkeys(np.asarray(model["layer"].values).astype(str).tolist()))
    layer_of = np.asarray(model["layer"].values).astype(str)
    n_units = responses.sizes["unit"]
    total = np.zeros((len(layers), n_bins, n_units))
    count = np.zeros_like(total)
    per_unit = 8 * n_stimuli * n_bins * (n_trials + 6 * scheme.n_splits)
    blocks = (
        _unit_blocks(np.arange(n_units), per_unit)
        if getattr(mapping, "column_independent", False)
        else [np.arange(n_units)]
    )
    features = [x_all[:, layer_of == layer] for layer in layers]
    if executor is None:
        _layer_sums(responses, features, blocks, mapping, train, test, temporal, (w1, w2), repeated,
                    (total, count), progress)
    else:
        predictivity_sums(executor, _layer_sums, responses, features, blocks, mapping, train, test, temporal,
                          (w1, w2), repeated, (total, count), progress)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.where(count > 0, count, 1), np.nan).transpose(0, 2, 1)
    per_layer = [_result(responses, m, "predictivity", "")["predictivity"] for m in mean]
    predictivity = xr.concat(per_layer, dim="layer").assign_coords(layer_name=("layer", layers))
    predictivity.attrs = {
        "units": "1",
        "description": "noise-corrected predictivity of each recorded unit "
        "from a model layer (mean over split-half draws and "
        "stimulus splits)",
    }
    ds = xr.Dataset({"predictivity": predictivity})
    areas = np.asarray(responses["area"].values).astype(str)
    ds.update(area_summaries(ds["predictivity"], areas, "predictivity"))
    score = ds["predictivity_median"].mean("time_bin") if "time_bin" in ds.dims else ds["predictivity_median"]
    best = score.fillna(-np.inf).argmax("layer")
    ds["best_layer_index"] = best.assign_attrs(
        units="1", description="index along layer of the best layer (highest median predictivity)"
    )
    ds["best_layer_predictivity"] = (
        ds["predictivity_median"]
        .isel(layer=best)
        .drop_vars(["layer_name"], errors="ignore")
        .assign_attrs(units="1", description="median predictivity of the best layer per area")
    )
    ds.attrs.update(
        _config_attrs(
            "model predictivity",
            mapping,
            scheme,
            n_draws_used,
            seed,
            temporal,
            repeated,
            model=str(model.attrs.get("model", model.name or "model")),
            best_layers=[layers[int(i)] for i in np.atleast_1d(best.values)],
        )
    )
    return ds



# ------------------------------------------------------------- whole analysis
def consistency_analysis(
    recording: xr.Dataset | xr.DataArray,
    mappings: tuple[str, ...] = ("ridge",),
    pooled: bool = False,
    scheme: SplitScheme | None = None,
    n_draws: int = 100,
    seed: int = 0,
    temporal: tuple[str, ...] = ("per_bin",),
    model: xr.Dataset | xr.DataArray | None = None,
    variable: str | None = None,
    progress: bool = False,
    executor: Any = None,
) -> xr.Dataset:
    """Inter-animal consistency (and, with ``model``, predictivity per layer) for each mapping and
    temporal mode, as one labelled dataset (dims ``mapping`` × ``temporal`` × …); ``executor``: see
    :func:`inter_animal_consistency`.

    ``rsa`` among ``mappings`` adds the noise-corrected RSA variables instead of a
    regression.  Pure: data in, labelled result out.
    """
    scheme = scheme or SplitScheme(seed=seed)
    for mode in temporal:
        if mode not in TEMPORAL_MODES:
            raise AnalysisInputError(f"temporal {mode!r}: unknown; expected one of {', '.join(TEMPORAL_MODES)}")
    names = [mapping_name(m) for m in mappings]
    for name in names:
        if name != "rsa":
            make_mapping(name)  # refuse unknown names before any work
    regressions = [n for n in names if n != "rsa"]
    parts, pred_parts = [], []
    internal = None
    for name in regressions:
        per_mode, pred_mode = [], []
        for mode in temporal:
            part = inter_animal_consistency(
                recording, name, pooled, scheme, n_draws, seed, mode, variable, progress, executor
            )
            if "internal_consistency" in part:
                internal = part["internal_consistency"]
                part = part.drop_vars("internal_consistency")
            per_mode.append(part)
            if model is not None:
                pred_mode.append(
                    model_predictivity(
                        recording, model, name, scheme, n_draws, seed, mode, variable, progress=progress,
                        executor=executor,
                    )
                )
        parts.append(
            xr.concat(
                per_mode, dim="temporal", data_vars="all", coords="minimal", compat="override"
            ).assign_coords(temporal_mode=("temporal", list(temporal)))
        )
        if pred_mode:
            pred_parts.append(
                xr.concat(
                    pred_mode, dim="temporal", data_vars="all", coords="minimal", compat="override"
                ).assign_coords(temporal_mode=("temporal", list(temporal)))
            )
    ds = xr.Dataset()
    if parts:
        ds = xr.concat(parts, dim="mapping", data_vars="all", coords="minimal", compat="override")
        ds = ds.assign_coords(mapping_name=("mapping", regressions))
        if internal is not None:
            ds["internal_consistency"] = internal
        if pred_parts:
            pred = xr.concat(pred_parts, dim="mapping", data_vars="all", coords="minimal", compat="override")
            pred = pred.assign_coords(mapping_name=("mapping", regressions))
            ds = xr.merge(
                [ds, pred[[v for v in pred.data_vars]]], compat="override", combine_attrs="drop_conflicts"
            )
    if "rsa" in names:
        responses = responses_of(recording, variable)
        model_da = None if model is None else responses_of(model, None)
        if model_da is not None:
            import pandas as pd

            ids = np.asarray(responses["stimulus_id"].values)
            model_da = model_da.isel(
                stimulus=pd.Index(np.asarray(model_da["stimulus_id"].values)).get_indexer(ids)
            )
        rsa = rsa_consistency(responses, pooled, n_draws, seed, model_da)
        ds = xr.merge([ds, rsa], compat="override", combine_attrs="override" if not parts else "drop_conflicts")
    ds.attrs.update(parts[0].attrs if parts else {})
    ds.attrs.update(
        {
            "mappings": ",".join(names),
            "temporal_modes": ",".join(temporal),
            "pooled": int(bool(pooled)),
            "n_draws": int(n_draws),
            "seed": int(seed),
        }
    )
    ds.attrs.pop("mapping", None)
    ds.attrs.pop("mapping_params", None)
    ds.attrs.pop("temporal", None)
    if pred_parts:
        ds.attrs["best_layers"] = json_best_layers(ds)
    return ds
