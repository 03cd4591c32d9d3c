"""What a sweep writes and :mod:`goalstore.lr_corpus` reads back: statistic names and raw-matrix keys.

Torch-free, so goalstore imports these names without loading the training stack.
(``builders`` never imports goalstore; goalstore imports from here.)

* :data:`ALL_STATISTICS` — (observable, function, statistic) of the 45 statistics
  :mod:`builders.observables` records; :data:`FINITE_24` — the 24 that stay finite in every
  run and feed the classifiers (notes §5).
* ``raw.npz`` (:data:`RAW_FILE`) in a run's directory holds the kept raw matrices, one array
  per :func:`raw_key` ``"<epoch>/<layer>/<kind>"`` (kind ``activations``, ``input_gradient``
  or ``weights``); :func:`parse_raw_key` reads a key back.
"""

from __future__ import annotations

#: Functions applied before a statistic (``raw`` = identity).
FUNCTION_NAMES = ("raw", "abs", "square")
#: Statistics of weights and activations (activity change has ``mean`` only).
STATISTICS = ("norm", "mean", "var", "skew", "kurtosis", "median", "q3")
OBSERVABLES = ("weights", "activations", "activity_change")

#: (observable, function, statistic) of every statistic recorded (45).
ALL_STATISTICS: tuple[tuple[str, str, str], ...] = tuple(
    [(o, f, s) for o in ("weights", "activations") for f in FUNCTION_NAMES for s in STATISTICS]
    + [("activity_change", f, "mean") for f in FUNCTION_NAMES]
)

#: The 24 statistics that remain finite in every run (notes §5).
FINITE_24: tuple[tuple[str, str, str], ...] = tuple(
    [("weights", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3", "var")]
    + [("weights", "square", s) for s in ("mean", "median", "q3")]
    + [("activations", f, s) for f in ("abs", "raw") for s in ("mean", "median", "norm", "q3")]
    + [("activity_change", f, "mean") for f in FUNCTION_NAMES]
)

#: File of a run's kept raw matrices, inside ``work_dir/<run_id>/``.
RAW_FILE = "raw.npz"
RAW_KINDS = ("activations", "input_gradient", "weights")


def raw_key(epoch: int, layer: str, kind: str) -> str:
    """The ``raw.npz`` key of one raw matrix: ``"<epoch>/<layer>/<kind>"``."""
    return f"{epoch}/{layer}/{kind}"


def parse_raw_key(key: str) -> tuple[int, str, str]:
    """``(epoch, layer, kind)`` of a :func:`raw_key`."""
    epoch, layer, kind = key.split("/")
    return int(epoch), layer, kind
