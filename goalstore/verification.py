"""Integrity checks behind ``goalstore verify``: the working tree and every saved version.

A store's latest content is checked in place (:func:`check_store`); an older
version is materialised from git into a temporary directory (git-tracked files written
from git, annexed files as symlinks to their annex objects, never cached) and its
content checksum compared with the one the catalog recorded at that version's commit
(:func:`check_version`).  Where a checksum differs, :func:`bad_annexed_files` names the
annexed files whose content no longer matches its annex key, read-only (unlike
``git annex fsck``, which moves such content aside and writes its own state).

``git annex fsck`` needs to write to the annex: on a read-only store root it retries
its locks for ever, so it is skipped there (:func:`root_is_read_only`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from goalstore import versioning
from goalstore.checksum import content_checksum
from goalstore.errors import CorruptStoreError

FSCK_SKIPPED = "annex fsck skipped: store root is read-only (content checked against the recorded checksums)"
_KEY = re.compile(r"^(?P<backend>[A-Z0-9]+?)E?-s(?P<size>\d+)(?:-[a-zA-Z]\d+)*--(?P<hash>[0-9a-f]+)")
_HASHES = {"SHA256": "sha256", "SHA512": "sha512", "SHA384": "sha384", "SHA224": "sha224", "SHA1": "sha1",
           "MD5": "md5", "BLAKE2B512": "blake2b", "SHA3_256": "sha3_256", "SHA3_512": "sha3_512"}


def root_is_read_only(root: Path) -> bool:
    """Whether this process cannot write to the store root or its annex (``git annex fsck`` would hang)."""
    annex = root / ".git" / "annex"
    return not os.access(root, os.W_OK) or (annex.is_dir() and not os.access(annex, os.W_OK))


def absent_content(path: Path) -> list[Path]:
    """Annexed files at or below ``path`` whose content is not present (dangling annex links)."""
    return [p for p in ([path] if path.is_symlink() else path.rglob("*")) if p.is_symlink() and not p.exists()]


def bad_annexed_files(path: Path) -> list[Path]:
    """Annexed files at or below ``path`` whose content's size or hash differs from their annex key."""
    bad = []
    for link in ([path] if path.is_symlink() else sorted(path.rglob("*"))):
        if not (link.is_symlink() and link.exists()):
            continue
        match = _KEY.match(Path(os.readlink(link)).name)
        if not match:
            continue
        target = link.resolve()
        if target.stat().st_size != int(match["size"]):
            bad.append(link)
            continue
        algorithm = _HASHES.get(match["backend"])
        if algorithm and _digest(target, algorithm) != match["hash"]:
            bad.append(link)
    return bad


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_content(path: Path, recorded: str | None, label: Path, *, name_bad: bool = True) -> list[str]:
    """Problems of the content at ``path``: absent annexed content, or a checksum differing from
    ``recorded`` (then, if ``name_bad``, also the annexed files that no longer match their key);
    paths are shown relative to ``label``."""
    missing = absent_content(path)
    if missing:
        return [f"content missing: {p.relative_to(label)}" for p in missing]
    actual = content_checksum(path)
    if actual == recorded:
        return []
    problems = [f"checksum mismatch: recorded {recorded}, found {actual}"]
    if name_bad:
        problems += [f"annexed content does not match its key: {p.relative_to(label)}"
                     for p in bad_annexed_files(path)]
    return problems


def check_version(root: Path, version: versioning.Version, relpath: str, catalog: str, name: str,
                  scratch: Path) -> dict[str, Any]:
    """Materialise ``version`` of store ``name`` under ``scratch`` (removed afterwards) and compare its
    content checksum with the one the catalog recorded at that commit."""
    entry = versioning.recorded_metadata(root, version.commit, catalog, name) or {}
    recorded, relpath = entry.get("checksum"), entry.get("path") or relpath  # its layout at that commit
    destination = scratch / f"v{version.number}"
    try:
        if recorded is None:
            problems = [f"no checksum recorded for {name} in {catalog} at this commit"]
        else:
            path = versioning.materialise(root, version.commit, relpath, destination)
            problems = check_content(path, recorded, destination)
    except CorruptStoreError as exc:  # an annexed object of this version is absent
        problems = [str(exc)]
    finally:
        shutil.rmtree(destination, ignore_errors=True)
    return {"version": version.number, "commit": version.commit, "ok": not problems, "problems": problems}


def check_store(root: Path, name: str, meta: dict[str, Any], catalog: str, *, all_versions: bool = False,
                read_only: bool = False) -> dict[str, Any]:
    """The ``verify`` report of one store built in ``root`` (catalog metadata ``meta``).

    The working tree is checked against the catalog's checksum, then (``all_versions``) every older
    version against the checksum recorded at its commit, then, unless the root is ``read_only``,
    ``git annex fsck`` runs over the working tree (last: it moves corrupt annexed content aside).
    """
    relpath = meta["path"]
    path = root / relpath
    if path.exists() or path.is_symlink():
        latest = check_content(path, meta.get("checksum"), root, name_bad=read_only)
    else:
        latest = [f"missing: {relpath}"]
    uncommitted = versioning.git(root, "status", "--porcelain", "--", relpath, check=False).strip()
    if uncommitted:  # the catalog and the files must describe a saved version
        latest.append(f"uncommitted changes: {len(uncommitted.splitlines())} path(s) under {relpath} differ "
                      "from the last saved version")
    older: list[dict[str, Any]] = []
    in_working_tree = None  # the saved version the working tree holds
    if all_versions:
        versions = versioning.history(root, [relpath, *meta.get("former_paths", [])])
        if versions and meta.get("checksum") == versioning.recorded_checksum(
                root, versions[-1].commit, catalog, name):
            in_working_tree = versions.pop()
        with tempfile.TemporaryDirectory(prefix="goalstore-verify-") as scratch:
            older = [check_version(root, v, relpath, catalog, name, Path(scratch)) for v in versions]
    if not read_only and path.exists():
        latest += [f"annex: {f['file']}: {f['note']}" for f in versioning.annex_fsck(root, relpath)]
    problems = latest + [f"version {v['version']} ({v['commit'][:10]}): {p}"
                         for v in older for p in v["problems"]]
    report: dict[str, Any] = {"name": name, "ok": not problems, "problems": problems}
    if all_versions:
        if in_working_tree is not None:
            older.append({"version": in_working_tree.number, "commit": in_working_tree.commit,
                          "ok": not latest, "problems": latest})
        report["versions"] = older
    if read_only:
        report["notes"] = [FSCK_SKIPPED]
    return report
