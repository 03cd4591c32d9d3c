"""Content checksums of stores: one sha256 over a file or a whole directory tree.

A directory's checksum hashes every file's relative path and content in sorted
order, so renaming, adding, removing or editing any file changes it.  Files are
read in blocks, so memory stays bounded for stores larger than RAM.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.digest()


def content_checksum(path: Path) -> str:
    """``"sha256:<hex>"`` of a file, or of every file below a directory."""
    path = Path(path)
    if path.is_file():
        return "sha256:" + _file_digest(path).hex()
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(_file_digest(file))
    return "sha256:" + digest.hexdigest()
