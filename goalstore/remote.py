"""Remote catalog entries: download on first open, verify against the published
checksum with pooch, and keep the verified file in the store root.

A remote entry's metadata carries ``remote: {url, checksum, filename}``; the
checksum is pooch's ``"<alg>:<hex>"`` (e.g. ``sha1:…`` for Brain-Score files).
HTTP(S)/FTP go through pooch's downloaders; every other fsspec URL (``file://``,
``s3://``…) through fsspec.  A file obtained elsewhere is registered with
:func:`add_file`, which verifies the checksum before keeping it.

An entry made of several files (a brainio stimulus set: a zip of images and its CSV) lists the others
under ``remote.companions``, each ``{url, checksum, filename}`` like the main file: they are fetched and
verified with it into the same folder, and the entry's loader receives the main file's path (it finds
the companions beside it).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import fsspec
import pooch

from goalstore.errors import ChecksumError, RemoteUnavailableError


def _fsspec_downloader(url: str, output_file: str, pooch_obj: Any = None) -> None:
    with fsspec.open(url, "rb") as source, open(output_file, "wb") as target:
        shutil.copyfileobj(source, target, length=1 << 20)


def _downloader(url: str):
    if url.split("://", 1)[0].lower() in ("http", "https", "ftp", "sftp", "doi"):
        return pooch.downloaders.choose_downloader(url, progressbar=True)
    return _fsspec_downloader


def local_path(downloads: Path, name: str, remote: dict[str, Any]) -> Path:
    return downloads / name / remote["filename"]


def files(remote: dict[str, Any]) -> list[dict[str, Any]]:
    """The files of a remote entry, ``{url, checksum, filename}`` each: the main file, then its companions."""
    return [remote, *(remote.get("companions") or [])]


def local_paths(downloads: Path, name: str, remote: dict[str, Any]) -> list[Path]:
    """Where the files of a remote entry are kept (main file first)."""
    return [local_path(downloads, name, spec) for spec in files(remote)]


def fetch(name: str, remote: dict[str, Any], downloads: Path) -> Path:
    """Return the verified local copy of a remote entry's main file, downloading it (and its companions)
    if needed."""
    paths = [_fetch_one(name, spec, downloads) for spec in files(remote)]
    return paths[0]


def _fetch_one(name: str, remote: dict[str, Any], downloads: Path) -> Path:
    target = local_path(downloads, name, remote)
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = not target.exists()
    try:
        path = pooch.retrieve(url=remote["url"], known_hash=remote.get("checksum"),
                              fname=remote["filename"], path=target.parent,
                              downloader=_downloader(remote["url"]), progressbar=False)
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise ChecksumError(f"entry {name!r}: the file downloaded from {remote['url']} does not "
                                f"match its checksum {remote.get('checksum')}; refused ({exc})") from None
        raise
    except Exception as exc:  # network / filesystem errors of any downloader
        raise RemoteUnavailableError(
            f"entry {name!r}: could not download {remote['url']} ({type(exc).__name__}: {exc}). "
            f"If you have the file from elsewhere, register it with "
            f"`goalstore add-file {name} PATH` (its checksum is verified).") from None
    if fresh and not remote.get("checksum"):
        warnings.warn(f"entry {name!r}: no checksum is published for {remote['url']}; the downloaded "
                      f"file has sha256:{pooch.file_hash(str(path))} (recorded by its annex key)",
                      stacklevel=2)
    return Path(path)


def add_file(name: str, remote: dict[str, Any], source: Path, downloads: Path, force: bool = False) -> Path:
    """Verify ``source`` against the entry's checksum and keep a copy in the store root.

    Without a published checksum, a copy already kept is the reference: a file that differs
    from it is refused unless ``force``.  For an entry of several files, ``source`` is the one whose
    file name it has (e.g. the CSV or the zip of a stimulus set)."""
    source = Path(source)
    if not source.is_file():
        raise RemoteUnavailableError(f"entry {name!r}: {source} is not a file")
    specs = files(remote)
    if len(specs) > 1:
        matching = [spec for spec in specs if spec["filename"] == source.name]
        if not matching:
            raise ChecksumError(f"entry {name!r}: {source.name} is none of its files; expected a file named "
                                f"{' or '.join(spec['filename'] for spec in specs)}")
        remote = matching[0]
    checksum = remote.get("checksum")
    target = local_path(downloads, name, remote)
    if checksum:
        alg, _, expected = checksum.partition(":")
        actual = pooch.file_hash(str(source), alg=alg)
        if actual != expected:
            raise ChecksumError(f"entry {name!r}: {source} has {alg} {actual}, expected {expected}; "
                                "refused")
    elif target.exists() and not force:
        kept, new = pooch.file_hash(str(target)), pooch.file_hash(str(source))
        if kept != new:
            raise ChecksumError(f"entry {name!r}: no checksum is published and the copy already kept has "
                                f"sha256 {kept}, {source} has {new}; refused (use --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return target
