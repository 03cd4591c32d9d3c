"""Importer of the published lr-identify ``dataset.pkl`` (Nayebi et al., NeurIPS 2020).

Layout: a dict with ``X`` (examples × 21 checkpoints × observables), ``Y`` (labels),
``meta`` (a record array with at least ``learning_rule``; other fields such as
``model``/``architecture``, ``dataset``/``task``, ``batch_size``, ``layer``,
``seed``/``model_seed``, ``data_seed`` are used when present), ``obs_keys`` (the
name of each observable column, e.g. ``weights_abs_mean``) and optionally
``X_cat``.  It becomes the long ``lr_observables`` table of the corpus store;
checkpoints are taken as epochs 0, 5, …, 100 (the published cadence).

A pickle can execute code when loaded, so it is loaded only with
``trust_pickle=True`` (``--trust-pickle`` on the command line).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from goalstore.errors import CorruptStoreError, GoalstoreError

CHECKPOINT_EPOCHS = 5
_OBSERVABLES = {"weights": "weights", "weight": "weights", "w": "weights", "activations": "activations",
                "activation": "activations", "act": "activations", "acts": "activations",
                "activity_change": "activity_change", "activitychange": "activity_change",
                "grad": "activity_change", "delta": "activity_change"}
_FUNCTIONS = {"raw": "raw", "identity": "raw", "abs": "abs", "square": "square", "sq": "square"}
_STATISTICS = {"norm": "norm", "mean": "mean", "var": "var", "skew": "skew", "kurtosis": "kurtosis",
               "kurt": "kurtosis", "median": "median", "q3": "q3", "third_quartile": "q3"}


class UntrustedPickleError(GoalstoreError):
    exit_code = 13


def parse_obs_key(key: str) -> tuple[str, str, str]:
    """``weights_abs_mean`` → (weights, abs, mean); unknown layouts keep the key as the observable."""
    text = key.lower()
    for name, observable in sorted(_OBSERVABLES.items(), key=lambda kv: -len(kv[0])):
        if text.startswith(name + "_"):
            rest = text[len(name) + 1:].split("_")
            function = _FUNCTIONS.get(rest[0], None) if len(rest) > 1 else "raw"
            statistic = _STATISTICS.get("_".join(rest[1:]) if len(rest) > 1 else rest[0])
            if function and statistic:
                return observable, function, statistic
    return key, "", ""


def _field(meta: np.ndarray, names: tuple[str, ...], default, n: int) -> np.ndarray:
    available = meta.dtype.names or ()
    for name in names:
        if name in available:
            return np.asarray(meta[name])
    return np.full(n, default)


def load_lr_identify(path: str | Path, trust_pickle: bool = False) -> pd.DataFrame:
    """The lr-identify pickle at ``path`` as an ``lr_observables`` table (pandas)."""
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
    obs_keys = [str(k) for k in data["obs_keys"]]
    meta = np.asarray(data["meta"])
    if x.ndim != 3:
        raise CorruptStoreError(f"{path}: X has shape {x.shape}; expected examples × checkpoints × observables")
    n, n_checkpoints, n_obs = x.shape
    if len(obs_keys) != n_obs:
        raise CorruptStoreError(f"{path}: {len(obs_keys)} obs_keys for {n_obs} observable columns of X")
    if len(data["Y"]) != n or len(meta) != n:
        raise CorruptStoreError(f"{path}: X has {n} examples but Y has {len(data['Y'])} and meta {len(meta)}")
    labels = _field(meta, ("learning_rule",), None, n)
    if labels[0] is None:
        labels = np.asarray(data["Y"]).astype(str)
    architecture = _field(meta, ("architecture", "model", "arch"), "unknown", n).astype(str)
    task = _field(meta, ("task", "dataset"), "unknown", n).astype(str)
    batch = _field(meta, ("batch_size", "batch"), -1, n).astype(int)
    model_seed = _field(meta, ("model_seed", "seed", "rand_seed"), -1, n).astype(int)
    data_seed = _field(meta, ("data_seed", "data_order_seed"), -1, n).astype(int)
    layer = _field(meta, ("layer", "layer_name"), "layer", n).astype(str)
    layer_index = _field(meta, ("layer_index", "layer_idx"), -1, n).astype(int)
    position = _field(meta, ("layer_position", "position"), "unknown", n).astype(str)
    run = _field(meta, ("run_id",), None, n)
    if run[0] is None:
        run = np.array([f"{a}-{t}-{r}-b{b}-m{m}-d{d}" for a, t, r, b, m, d in
                        zip(architecture, task, labels, batch, model_seed, data_seed, strict=True)])
    parsed = [parse_obs_key(k) for k in obs_keys]
    per_example = n_checkpoints * n_obs
    frame = pd.DataFrame({
        "run_id": np.repeat(run.astype(str), per_example),
        "task": np.repeat(task, per_example), "architecture": np.repeat(architecture, per_example),
        "learning_rule": np.repeat(np.asarray(labels).astype(str), per_example),
        "batch_size": np.repeat(batch, per_example), "model_seed": np.repeat(model_seed, per_example),
        "data_seed": np.repeat(data_seed, per_example), "layer": np.repeat(layer, per_example),
        "layer_index": np.repeat(layer_index, per_example),
        "layer_position": np.repeat(position, per_example),
        "epoch": np.tile(np.repeat(np.arange(n_checkpoints) * CHECKPOINT_EPOCHS, n_obs), n),
        "observable": np.tile([p[0] for p in parsed], n * n_checkpoints),
        "function": np.tile([p[1] for p in parsed], n * n_checkpoints),
        "statistic": np.tile([p[2] for p in parsed], n * n_checkpoints),
        "value": x.reshape(-1),
    })
    return frame
