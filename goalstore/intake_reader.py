"""An Intake 2 reader for data goalstore ships: it calls a goalstore source loader.

Shipped entries (``origin: package``) name a loader (``"module:function"``) and
its keyword arguments; reading the entry, through Intake or
:func:`goalstore.open`, returns the canonical store as a dask-backed
``xarray.Dataset``.  ``{GOALSTORE_DATA}`` in a data URL stands for the
package's ``goalstore/data`` directory.
"""

from __future__ import annotations

from typing import Any, ClassVar

from intake import import_name
from intake.readers import datatypes
from intake.readers.readers import BaseReader


class SourceLoaderReader(BaseReader):
    """Read a vendored source through a goalstore loader into its canonical form."""

    imports: ClassVar[set[str]] = {"goalstore"}
    implements: ClassVar[set[type]] = {datatypes.FileData}
    output_instance = "xarray:Dataset"

    def _read(self, data: Any = None, loader: str = "", loader_kwargs: dict | None = None,
              **kwargs: Any) -> Any:
        if not loader:
            raise ValueError("SourceLoaderReader needs a 'loader' ('module:function')")
        dataset = import_name(loader)(**(loader_kwargs or {}))
        return dataset.chunk()
