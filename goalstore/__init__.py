"""goalstore: the dataset and feature store for goal-driven systems neuroscience.

>>> import goalstore
>>> goalstore.search(kind="recording")          # doctest: +SKIP
>>> ds = goalstore.open("demo-recording")       # dask-backed xarray.Dataset  # doctest: +SKIP
>>> old = goalstore.open("demo-recording@1")    # as it was at version 1      # doctest: +SKIP
"""

from goalstore._version import __version__
from goalstore.api import (
    add_file,
    analyze,
    build,
    catalog,
    describe,
    extract,
    fetch,
    history,
    import_model,
    import_rate_maps,
    import_stimuli,
    lr_classifier_view,
    open,
    rebuild,
    register_remote,
    repair,
    search,
    verify,
    write,
)
from goalstore.errors import GoalstoreError, SchemaError
from goalstore.schema import validate
from goalstore.store import StoreRoot

__all__ = [
    "GoalstoreError",
    "SchemaError",
    "StoreRoot",
    "__version__",
    "add_file",
    "analyze",
    "build",
    "catalog",
    "describe",
    "extract",
    "fetch",
    "history",
    "import_model",
    "import_rate_maps",
    "import_stimuli",
    "lr_classifier_view",
    "open",
    "rebuild",
    "register_remote",
    "repair",
    "search",
    "validate",
    "verify",
    "write",
]
