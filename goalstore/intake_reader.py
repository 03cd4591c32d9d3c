"""An Intake 2 reader for data goalstore ships: it calls a goalstore source loader.

One catalog convention names an entry's loader, for every entry that has one: the entry's
**metadata** carries ``loader`` (``"module:function"``) and ``loader_kwargs`` (a mapping).
A remote entry's loader is called with the verified local download first
(``loader(path, **loader_kwargs)``, by :func:`goalstore.open`); a shipped entry's
(``origin: package``) with the keyword arguments only, through :class:`SourceLoaderReader`, so
``intake.from_yaml_file(...)[name].read()`` and :func:`goalstore.open` return the same canonical
store as a dask-backed ``xarray.Dataset``.  ``{GOALSTORE_DATA}`` in a data URL stands for the
package's ``goalstore/data`` directory.
"""

from __future__ import annotations

from typing import Any, ClassVar

from intake import import_name
from intake.readers import datatypes
from intake.readers.readers import BaseReader


def call_loader(metadata: dict[str, Any], *args: Any) -> Any:
    """Call the loader an entry's ``metadata`` names with ``args`` and its ``loader_kwargs``."""
    loader = metadata.get("loader")
    if not loader:
        raise ValueError("the entry names no loader; expected metadata 'loader' ('module:function') "
                         "and 'loader_kwargs'")
    return import_name(loader)(*args, **(metadata.get("loader_kwargs") or {}))


class SourceLoaderReader(BaseReader):
    """Read a vendored source through the goalstore loader its metadata names into its canonical form."""

    imports: ClassVar[set[str]] = {"goalstore"}
    implements: ClassVar[set[type]] = {datatypes.FileData}
    output_instance = "xarray:Dataset"

    def _read(self, data: Any = None, **kwargs: Any) -> Any:
        return call_loader(self.metadata).chunk()
