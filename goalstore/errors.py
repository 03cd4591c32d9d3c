"""Errors a user can cause, each with one clear message and a CLI exit code.

Everything goalstore raises on purpose derives from :class:`GoalstoreError`; the
CLI prints its message (no traceback unless ``--debug``) and exits with
``exit_code``.  Anything else escaping the CLI is a bug and is shown in full.
"""

from __future__ import annotations


class GoalstoreError(Exception):
    """Base class of every error goalstore raises deliberately."""

    exit_code = 1


class SchemaError(GoalstoreError, ValueError):
    """An object does not follow the canonical schema (see :mod:`goalstore.schema`)."""

    exit_code = 3


class EntryNotFoundError(GoalstoreError, KeyError):
    """No catalog entry has the requested name; ``matches`` lists the closest names."""

    exit_code = 4

    def __init__(self, name: str, matches: list[str] | None = None):
        self.name = name
        self.matches = list(matches or [])
        hint = f" Did you mean: {', '.join(self.matches)}?" if self.matches else ""
        super().__init__(f"no catalog entry named {name!r}.{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class VersionSpecError(GoalstoreError, ValueError):
    """A ``NAME@VERSION`` reference is malformed or names no recorded version."""

    exit_code = 5


class StoreRootError(GoalstoreError, OSError):
    """The store root cannot be created, written or used as a DataLad dataset."""

    exit_code = 6


class CorruptStoreError(GoalstoreError, OSError):
    """A stored file is missing, truncated or unreadable."""

    exit_code = 7


class ChecksumError(GoalstoreError, ValueError):
    """Content does not match its recorded or published checksum."""

    exit_code = 8


class RemoteUnavailableError(GoalstoreError, OSError):
    """A remote file could not be downloaded."""

    exit_code = 9


class ProvenanceError(GoalstoreError, RuntimeError):
    """A store has no recorded command to re-execute, or re-execution failed."""

    exit_code = 10


class AnalysisInputError(GoalstoreError, ValueError):
    """Data handed to an analysis cannot be analysed as it is (NaNs, negative values, …)."""

    exit_code = 12


#: Environment variable naming the file where a recorded command (``goalstore produce`` inside
#: ``datalad run``) reports the goalstore error it stopped with, so the caller can raise it again.
ERROR_REPORT_ENV = "GOALSTORE_ERROR_REPORT"


def report_error(exc: GoalstoreError, path: str) -> None:
    """Write ``exc`` (class, message, exit code) as JSON to ``path``."""
    import json

    cls = type(exc)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"module": cls.__module__, "class": cls.__qualname__, "message": str(exc),
                   "exit_code": exc.exit_code}, handle)


def reported_error(path: str) -> GoalstoreError | None:
    """The error a recorded command reported into ``path`` (same class where it is a goalstore
    error class, same message and exit code), or None if it reported nothing."""
    import importlib
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    cls: type = GoalstoreError
    if str(record.get("module", "")).startswith("goalstore"):
        try:
            found = getattr(importlib.import_module(record["module"]), record["class"])
            cls = found if isinstance(found, type) and issubclass(found, GoalstoreError) else cls
        except (ImportError, AttributeError):
            pass
    error = cls.__new__(cls)
    Exception.__init__(error, str(record.get("message", "")))
    error.exit_code = int(record.get("exit_code", cls.exit_code))
    return error
