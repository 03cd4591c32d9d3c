"""goalstore: the dataset and feature store for goal-driven systems neuroscience.

>>> import goalstore
>>> goalstore.search(kind="recording")          # doctest: +SKIP
>>> ds = goalstore.open("demo-recording")       # dask-backed xarray.Dataset  # doctest: +SKIP
>>> old = goalstore.open("demo-recording@1")    # as it was at version 1      # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from goalstore._version import __version__

if TYPE_CHECKING:
    from goalstore.api import (
        add_file,
        analyze,
        build,
        catalog,
        describe,
        extract,
        fetch,
        history,
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

#: where each public name lives; imported on first use (PEP 562), so ``import goalstore`` and the
#: command line start without loading xarray, pandas and intake until a command needs them
_PUBLIC = {
    **{name: "goalstore.api" for name in (
        "add_file", "analyze", "build", "catalog", "describe", "extract", "fetch", "history",
        "lr_classifier_view", "open", "rebuild", "register_remote", "repair", "search", "verify", "write")},
    "GoalstoreError": "goalstore.errors", "SchemaError": "goalstore.errors",
    "validate": "goalstore.schema", "StoreRoot": "goalstore.store",
}


def __getattr__(name: str) -> Any:
    """``goalstore.NAME``: a name of :data:`_PUBLIC`, else any public function of :mod:`goalstore.api`
    (e.g. ``goalstore.import_stimuli``), imported on first use."""
    import importlib
    import importlib.util

    module = _PUBLIC.get(name)
    if module is None and not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is None:
        module = "goalstore.api"  # a submodule is left to the import system (``from goalstore import x``)
    if module is not None:
        value = getattr(importlib.import_module(module), name, None)
        if value is not None and (name in _PUBLIC or callable(value)):
            globals()[name] = value
            return value
    raise AttributeError(f"module 'goalstore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


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
