"""The attrs every array store carries, built in one place (see ``REQUIRED_ATTRS``).

Sources and analyses pass the descriptive attrs (``species``, ``modality``, ``source``,
``license``, ``citation``, and any extra ones) and get ``kind`` and ``schema_version`` filled in.
The attrs keep the order they are passed in — ``kind`` first and ``schema_version`` right
after ``citation`` — because attr order is part of a written store's bytes (and so of its
checksum).
"""

from __future__ import annotations

from typing import Any

from goalstore.schema.vocabulary import REQUIRED_ATTRS, SCHEMA_VERSION

_DESCRIPTIVE = tuple(a for a in REQUIRED_ATTRS if a not in ("kind", "schema_version"))


def store_attrs(kind: str, **attrs: Any) -> dict[str, Any]:
    """``{"kind": kind, **attrs}`` with ``schema_version`` inserted after ``citation``.

    ``attrs`` must include ``species``, ``modality``, ``source``, ``license`` and ``citation``
    (a ``TypeError`` names the missing ones); values are kept as given, so the schema check on
    write still refuses empty ones.
    """
    missing = [a for a in _DESCRIPTIVE if a not in attrs]
    if missing:
        raise TypeError(f"store_attrs: missing {', '.join(missing)}")
    for reserved in ("kind", "schema_version"):
        if reserved in attrs:
            raise TypeError(f"store_attrs: {reserved!r} is filled in, not passed")
    out: dict[str, Any] = {"kind": kind}
    for name, value in attrs.items():
        out[name] = value
        if name == "citation":
            out["schema_version"] = SCHEMA_VERSION
    return out


def recording_attrs(**attrs: Any) -> dict[str, Any]:
    """:func:`store_attrs` of a ``recording`` store."""
    return store_attrs("recording", **attrs)
