"""Importer of the published lr-identify ``dataset.pkl`` (Nayebi et al., NeurIPS 2020).

Layout: a dict with ``X`` (examples × 21 checkpoints × observables), ``Y`` (labels),
``meta`` (a record array; ``learning_rule`` and any of ``model``/``architecture``,
``dataset``/``task``, ``batch_size``, ``layer``, ``seed``/``model_seed``/``rand_seed``,
``data_seed``, ``run_id`` are used when present), ``obs_keys`` (the name of each
observable column) and optionally ``X_cat`` (the early/middle/deep one-hot of each
example, per checkpoint: examples × checkpoints × 3, or examples × 3).

Published observable names are ``<measure><function>_<statistic>``: measure
``weight`` / ``act`` / ``gradavg`` (the layer-wise activity change), function ``raw`` /
``abs`` / ``sq``, statistic ``norm``, ``mean``, ``median``, ``thirdquartile``, ``var``,
``skew``, ``kurtosis`` or ``id`` (the activity change's only statistic, its mean) —
e.g. ``weightabs_mean``, ``actraw_thirdquartile``, ``gradavgsq_id``.  They map onto
goalstore's (observable, function, statistic) triples, e.g. ``weightabs_mean`` →
(weights, abs, mean) and ``gradavgsq_id`` → (activity_change, square, mean).
goalstore's own ``observable_function_statistic`` names (``weights_abs_mean``) are
accepted too; any other name is refused, naming the first unknown key.

Every example (row of ``X``) stays its own example: its ``run_id`` is the run's
identifying fields (those present) plus the row number, so examples whose ``meta``
does not tell them apart never collapse into one.  Checkpoints are taken as epochs
0, 5, …, 100 (the published cadence).

Deciding apart from doing: :func:`read_lr_identify` reads and checks the pickle into a
:class:`PublishedCorpus` (small: the array as published); :func:`observable_batches`
streams its long ``lr_observables`` table in bounded record batches, so importing
never builds the million-row table in memory.

A pickle can execute code when loaded, so it is loaded only with
``trust_pickle=True`` (``--trust-pickle`` on the command line).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from goalstore.errors import AnalysisInputError, CorruptStoreError, GoalstoreError

CHECKPOINT_EPOCHS = 5
POSITIONS = ("early", "middle", "deep")

#: Published measure / function / statistic names → goalstore's.
PUBLISHED_MEASURES = {"weight": "weights", "act": "activations", "gradavg": "activity_change"}
PUBLISHED_FUNCTIONS = {"raw": "raw", "abs": "abs", "sq": "square"}
PUBLISHED_STATISTICS = {"norm": "norm", "mean": "mean", "median": "median", "thirdquartile": "q3",
                        "var": "var", "skew": "skew", "kurtosis": "kurtosis", "id": "mean"}
_PUBLISHED = re.compile(rf"^({'|'.join(PUBLISHED_MEASURES)})({'|'.join(PUBLISHED_FUNCTIONS)})_"
                        rf"({'|'.join(PUBLISHED_STATISTICS)})$")
_CANONICAL = re.compile(r"^(weights|activations|activity_change)_(raw|abs|square)_"
                        r"(norm|mean|var|skew|kurtosis|median|q3)$")

#: The 24 published names that stay finite in every run (lr-identify's ``ADMISSIBLE_OBS['all']``):
#: 13 weight, 8 activation and 3 activity-change statistics.
PUBLISHED_FINITE_24: tuple[str, ...] = tuple(
    [f"weight{f}_{s}" for f in ("abs", "raw") for s in ("mean", "median", "norm", "thirdquartile", "var")]
    + [f"weightsq_{s}" for s in ("mean", "median", "thirdquartile")]
    + [f"act{f}_{s}" for f in ("abs", "raw") for s in ("mean", "median", "norm", "thirdquartile")]
    + [f"gradavg{f}_id" for f in ("abs", "raw", "sq")]
)


class UntrustedPickleError(GoalstoreError):
    exit_code = 13


class UnknownObservableError(AnalysisInputError):
    """An ``obs_keys`` name maps onto no goalstore statistic (exit 12)."""


def parse_obs_key(key: str) -> tuple[str, str, str]:
    """A published (``weightabs_mean``) or goalstore (``weights_abs_mean``) observable name as
    goalstore's (observable, function, statistic); :class:`UnknownObservableError` otherwise."""
    text = str(key).strip().lower()
    published = _PUBLISHED.match(text)
    if published:
        measure, function, statistic = published.groups()
        if (measure == "gradavg") != (statistic == "id"):
            raise UnknownObservableError(
                f"observable {key!r}: statistic {statistic!r} is not published for {measure!r} "
                "(gradavg has only 'id'; weight and act have norm, mean, median, thirdquartile, var, "
                "skew, kurtosis)")
        return PUBLISHED_MEASURES[measure], PUBLISHED_FUNCTIONS[function], PUBLISHED_STATISTICS[statistic]
    canonical = _CANONICAL.match(text)
    if canonical:
        return canonical.group(1), canonical.group(2), canonical.group(3)
    raise UnknownObservableError(
        f"observable {key!r}: unknown name; expected <weight|act|gradavg><raw|abs|sq>_<statistic> "
        "(e.g. weightabs_mean, gradavgsq_id) or observable_function_statistic (e.g. weights_abs_mean)")


@dataclass
class PublishedCorpus:
    """A read and checked lr-identify pickle.

    ``x``: examples × checkpoints × observables (float64, as published); ``statistics``: the
    (observable, function, statistic) of each observable column; ``examples``: one row per
    example with the ``lr_observables`` group columns; ``epochs``: the checkpoints' epochs.
    """

    x: np.ndarray
    statistics: list[tuple[str, str, str]]
    examples: pd.DataFrame
    epochs: np.ndarray

    @property
    def n_rows(self) -> int:
        """Rows of the long table: examples × checkpoints × observables."""
        return int(np.prod(self.x.shape))


def _field(meta: np.ndarray, names: tuple[str, ...]) -> np.ndarray | None:
    available = meta.dtype.names or ()
    for name in names:
        if name in available:
            return np.asarray(meta[name])
    return None


def _positions(x_cat: object, n: int, n_checkpoints: int, path: Path) -> np.ndarray:
    """Early/middle/deep of each example from ``X_cat`` (one-hot per example and checkpoint)."""
    cat = np.asarray(x_cat, dtype=float)
    if cat.ndim == 3 and cat.shape[:2] == (n, n_checkpoints) and cat.shape[2] == 3:
        cat = cat[:, 0, :]  # the layer's depth repeats along the trajectory
    if cat.shape != (n, 3) or not np.all((cat == 0) | (cat == 1)) or not np.all(cat.sum(axis=1) == 1):
        raise CorruptStoreError(f"{path}: X_cat has shape {np.shape(x_cat)}; expected a one-hot "
                                f"early/middle/deep code of shape ({n}, {n_checkpoints}, 3) or ({n}, 3)")
    return np.asarray(POSITIONS)[cat.argmax(axis=1)]


def read_lr_identify(path: str | Path, trust_pickle: bool = False) -> PublishedCorpus:
    """Read and check the lr-identify pickle at ``path`` (see the module docstring)."""
    path = Path(path)
    if not trust_pickle:
        raise UntrustedPickleError(f"{path} is a pickle, which can run code when loaded; import it only "
                                   "if you trust its source, with --trust-pickle (trust_pickle=True)")
    try:
        with open(path, "rb") as handle:
            data = pickle.load(handle)
    except FileNotFoundError:
        raise CorruptStoreError(f"{path}: no such file") from None
    except Exception as exc:
        raise CorruptStoreError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise CorruptStoreError(f"{path}: expected a dict with X, Y, meta, obs_keys; got {type(data).__name__}")
    missing = [k for k in ("X", "Y", "meta", "obs_keys") if k not in data]
    if missing:
        raise CorruptStoreError(f"{path}: missing key(s) {', '.join(missing)} (expected X, Y, meta, obs_keys)")
    x = np.asarray(data["X"], dtype=float)
    obs_keys = [str(k) for k in np.asarray(data["obs_keys"]).reshape(-1)]
    meta = np.asarray(data["meta"])
    if x.ndim != 3:
        raise CorruptStoreError(f"{path}: X has shape {x.shape}; expected examples × checkpoints × observables")
    n, n_checkpoints, n_obs = x.shape
    if len(obs_keys) != n_obs:
        raise CorruptStoreError(f"{path}: {len(obs_keys)} obs_keys for {n_obs} observable columns of X")
    if len(data["Y"]) != n or len(meta) != n:
        raise CorruptStoreError(f"{path}: X has {n} examples but Y has {len(data['Y'])} and meta {len(meta)}")
    statistics = [parse_obs_key(k) for k in obs_keys]  # refuses the first unknown name
    duplicated = [k for i, k in enumerate(obs_keys) if statistics[i] in statistics[:i]]
    if duplicated:
        raise CorruptStoreError(f"{path}: observable {duplicated[0]!r} names a statistic already present")
    labels = _field(meta, ("learning_rule",))
    labels = np.asarray(data["Y"] if labels is None else labels).astype(str)

    def column(names: tuple[str, ...], default: object, dtype: type) -> np.ndarray:
        values = _field(meta, names)
        return np.full(n, default).astype(dtype) if values is None else values.astype(dtype)

    architecture = column(("architecture", "model", "arch"), "unknown", str)
    task = column(("task", "dataset"), "unknown", str)
    batch = column(("batch_size", "batch"), -1, int)
    model_seed = column(("model_seed", "seed", "rand_seed"), -1, int)
    data_seed = column(("data_seed", "data_order_seed"), -1, int)
    layer = column(("layer", "layer_name"), "layer", str)
    layer_index = column(("layer_index", "layer_idx"), -1, int)
    if "X_cat" in data and data["X_cat"] is not None:
        position = _positions(data["X_cat"], n, n_checkpoints, path)
    else:
        position = column(("layer_position", "position"), "unknown", str)
    run = _field(meta, ("run_id",))
    base = run.astype(str) if run is not None else np.array(
        [f"{a}-{t}-{r}-b{b}-m{m}-d{d}" for a, t, r, b, m, d in
         zip(architecture, task, labels, batch, model_seed, data_seed, strict=True)])
    # the row keeps every example its own, whatever meta holds
    run_id = np.char.add(np.char.add(base.astype(str), "#"), np.char.zfill(np.arange(n).astype(str), 6))
    examples = pd.DataFrame({
        "run_id": run_id, "task": task, "architecture": architecture, "learning_rule": labels,
        "batch_size": batch, "model_seed": model_seed, "data_seed": data_seed, "layer": layer,
        "layer_index": layer_index, "layer_position": position})
    return PublishedCorpus(x, statistics, examples, np.arange(n_checkpoints) * CHECKPOINT_EPOCHS)


def observable_batches(corpus: PublishedCorpus, max_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The long ``lr_observables`` table of ``corpus`` in record batches of at most ``max_rows``
    rows (whole examples; at least one example per batch).  Row order: example, checkpoint,
    observable."""
    n, n_checkpoints, n_obs = corpus.x.shape
    per_example = n_checkpoints * n_obs
    step = max(1, max_rows // per_example)
    observable, function, statistic = (pa.array([s[i] for s in corpus.statistics]) for i in range(3))
    for start in range(0, n, step):
        block = corpus.examples.iloc[start:start + step]
        k = len(block)
        example = np.repeat(np.arange(k), per_example)
        columns = {name: pa.array(block[name].to_numpy()).take(example) for name in block.columns}
        stat = np.tile(np.arange(n_obs), k * n_checkpoints)
        columns.update({
            "epoch": pa.array(np.tile(np.repeat(corpus.epochs, n_obs), k).astype(np.int32)),
            "observable": observable.take(stat), "function": function.take(stat),
            "statistic": statistic.take(stat),
            "value": pa.array(corpus.x[start:start + k].reshape(-1)),
        })
        yield pa.RecordBatch.from_pydict(columns)


def lr_identify_table(corpus: PublishedCorpus) -> pa.Table:
    """The whole long table in memory (small corpora and tests; imports stream the batches)."""
    return pa.Table.from_batches(list(observable_batches(corpus)))


def load_lr_identify(path: str | Path, trust_pickle: bool = False) -> pd.DataFrame:
    """The lr-identify pickle at ``path`` as an ``lr_observables`` table (pandas, in memory)."""
    return lr_identify_table(read_lr_identify(path, trust_pickle)).to_pandas()


def lr_identify_view(corpus: PublishedCorpus, statistics: tuple[tuple[str, str, str], ...] | None) -> object:
    """The classifier view of ``corpus`` straight from its array (no pivot of the long table);
    ``statistics=None`` keeps every statistic, in the published column order."""
    from goalstore.lr_corpus import view_from_cube

    order = list(corpus.statistics) if statistics is None else [s for s in statistics if s in corpus.statistics]
    index = [corpus.statistics.index(s) for s in order]
    cube = corpus.x[:, :, index].transpose(0, 2, 1)
    return view_from_cube(cube, order, [int(e) for e in corpus.epochs], corpus.examples)
