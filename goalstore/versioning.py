"""DataLad / git-annex operations on the store root dataset.

Everything that touches version control lives here: creating the dataset with
goalstore's ``datalad.cfg`` applied, saving, recording provenance with
``datalad run``, re-executing it with ``datalad rerun``, listing the history of a
path, materialising a path as it was at an older commit, and ``git annex fsck``.

DataLad is imported lazily (it is slow to import), so reading stores never pays
for it.  The ``git-annex`` executable comes from the ``git-annex`` wheel installed
next to goalstore; its directory is put on ``PATH`` for DataLad and git.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalstore.errors import (
    ERROR_REPORT_ENV,
    CorruptStoreError,
    ProvenanceError,
    StoreRootError,
    reported_error,
)

RUN_RECORD = re.compile(
    r"=== Do not change lines below ===\n(?P<json>.*?)\n\^\^\^ Do not change lines above \^\^\^",
    re.DOTALL,
)


def _prepare_environment() -> None:
    """Make ``git-annex`` and ``goalstore`` (for recorded commands) findable, and give git
    an identity if the user has none."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + path
    if shutil.which("git") is None:  # reported when a store is used (see git())
        return
    for key, var, default in (
        ("user.name", "GIT_AUTHOR_NAME", "goalstore"),
        ("user.email", "GIT_AUTHOR_EMAIL", "goalstore@localhost"),
    ):
        probe = subprocess.run(["git", "config", "--get", key], capture_output=True, text=True)
        if probe.returncode != 0 and var not in os.environ:
            os.environ[var] = default
            os.environ[var.replace("AUTHOR", "COMMITTER")] = default


_prepare_environment()


def git(root: Path, *args: str, check: bool = True, input: bytes | None = None) -> str:
    """Run ``git -C root ARGS`` and return its stdout (text)."""
    if shutil.which("git") is None:
        raise StoreRootError("git is not installed; goalstore's stores are git/DataLad datasets")
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, input=input)
    if check and proc.returncode != 0:
        raise StoreRootError(f"git {' '.join(args)} failed in {root}: "
                             f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode(errors="replace")


def read_settings(cfg: Path) -> dict[str, str]:
    """Parse a git-config-syntax file into ``{key: value}`` (via ``git config -f``)."""
    proc = subprocess.run(["git", "config", "-f", str(cfg), "--list"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise StoreRootError(f"cannot parse {cfg}: {proc.stderr.strip()}")
    settings: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        settings[key] = value
    return settings


def is_dataset(root: Path) -> bool:
    return (root / ".datalad" / "config").is_file() and (root / ".git").exists()


def create_dataset(root: Path, cfg: Path) -> None:
    """Create a DataLad dataset at ``root`` and apply the settings of ``cfg``.

    ``[annex]`` keys become ``.gitattributes`` rules; ``datalad.*`` and
    ``goalstore.*`` keys go into the dataset's ``.datalad/config``.  Scratch and
    cache directories are git-ignored.  The result is committed.
    """
    import datalad.api as dl

    settings = read_settings(cfg)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".goalstore-write-probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StoreRootError(f"store root {root} is not writable: {exc.strerror or exc}") from None
    dl.create(path=str(root), force=True, annex=True, result_renderer="disabled")
    attributes = (root / ".gitattributes").read_text().splitlines()
    if "annex.backend" in settings:  # replace DataLad's default backend rule
        attributes = [a for a in attributes if not a.startswith("* annex.backend=")]
        attributes.insert(0, f"* annex.backend={settings['annex.backend']}")
    attributes += ["/.gitignore annex.largefiles=nothing", "/.gitattributes annex.largefiles=nothing"]
    (root / ".gitattributes").write_text("\n".join(attributes) + "\n")
    if "annex.largefiles" in settings:  # expressions contain spaces: not expressible in .gitattributes
        git(root, "annex", "config", "--set", "annex.largefiles", settings["annex.largefiles"])
    for key, value in settings.items():
        if key.startswith(("datalad.", "goalstore.")):
            git(root, "config", "-f", ".datalad/config", key, value)
    ignored = [settings.get("goalstore.layout.scratch", ".goalstore-tmp"),
               settings.get("goalstore.layout.cache", ".goalstore-cache")]
    (root / ".gitignore").write_text("".join(f"/{p}/\n" for p in ignored))
    save(root, "configure store dataset from goalstore's datalad.cfg",
         [".gitattributes", ".gitignore", ".datalad/config"])


def save(root: Path, message: str, paths: list[str] | None = None) -> None:
    """``datalad save`` the given paths (relative to ``root``; all changes if None)."""
    import datalad.api as dl

    absolute = [str(root / p) for p in paths] if paths else None
    results = dl.save(dataset=str(root), path=absolute, message=message, on_failure="ignore",
                      result_renderer="disabled", return_type="list")
    failed = [r for r in results if r.get("status") in ("error", "impossible")]
    if failed:
        raise StoreRootError(f"datalad save failed: {failed[0].get('message')}")


def run(root: Path, command: str, outputs: list[str], message: str,
        inputs: list[str] | None = None) -> dict[str, Any]:
    """Execute ``command`` in ``root`` through ``datalad run`` and record it.

    Declared ``outputs`` are unlocked by DataLad before the command runs, so the
    command never writes over annexed content in place.
    """
    import datalad.api as dl

    with _error_report() as report, contextlib.chdir(root):  # runs in, and only in, the dataset root
        # paths relative to the dataset root (the cwd), so the record is portable
        results = dl.run(cmd=command, dataset=str(root), inputs=list(inputs or []),
                         outputs=list(outputs),
                         message=message, explicit=True, on_failure="ignore",
                         result_renderer="disabled", return_type="list")
        return _check_run_results(results, command, report)


def rerun(root: Path, commit: str) -> dict[str, Any]:
    """Re-execute the command recorded in ``commit`` (``datalad rerun``)."""
    import datalad.api as dl

    with _error_report() as report, contextlib.chdir(root):
        results = dl.rerun(revision=commit, dataset=str(root), on_failure="ignore",
                           result_renderer="disabled", return_type="list")
        return _check_run_results(results, f"datalad rerun {commit}", report)


@contextlib.contextmanager
def _error_report() -> Iterator[str]:
    """A scratch file (outside the dataset) named to the recorded command through
    ``GOALSTORE_ERROR_REPORT``, where ``goalstore produce`` reports the error it stops with."""
    import tempfile

    handle, path = tempfile.mkstemp(prefix="goalstore-error-", suffix=".json")
    os.close(handle)
    previous = os.environ.get(ERROR_REPORT_ENV)
    os.environ[ERROR_REPORT_ENV] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ERROR_REPORT_ENV, None)
        else:
            os.environ[ERROR_REPORT_ENV] = previous
        with contextlib.suppress(OSError):
            os.unlink(path)


def _check_run_results(results: list[dict[str, Any]], what: str, report: str | None = None) -> dict[str, Any]:
    """Raise on a failed run: the recorded command's own goalstore error (its class, message and
    exit code) where it reported one into ``report``, else :class:`ProvenanceError`."""
    failed = [r for r in results if r.get("status") in ("error", "impossible")]
    if failed:
        cause = reported_error(report) if report else None
        if cause is not None:
            raise cause
        msg = failed[0].get("message")
        if isinstance(msg, tuple):
            msg = msg[0] % msg[1:] if len(msg) > 1 else msg[0]
        raise ProvenanceError(f"{what} failed: {msg}")
    return {"results": [{k: r.get(k) for k in ("action", "status", "path")} for r in results]}


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


@dataclass
class Version:
    """One commit that changed a store path; ``number`` counts from 1 (oldest)."""

    number: int
    commit: str
    date: str
    message: str
    run: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.number, "commit": self.commit, "date": self.date,
                "message": self.message, "provenance": self.run}


def history(root: Path, relpath: str | list[str]) -> list[Version]:
    """Commits that changed ``relpath`` (any of several paths: a store's layouts across format
    changes), oldest first, with their ``datalad run`` records."""
    paths = [relpath] if isinstance(relpath, str) else list(relpath)
    log = git(root, "log", "--reverse", "--format=%H%x1f%aI%x1f%s%x1f%B%x1e", "--", *paths)
    versions = []
    for number, record in enumerate(filter(str.strip, log.split("\x1e")), start=1):
        commit, date, subject, body = record.strip("\n").split("\x1f", 3)
        match = RUN_RECORD.search(body)
        run_record = json.loads(match.group("json")) if match else None
        subject = re.sub(r"^\[DATALAD RUNCMD\]\s*", "", subject)
        versions.append(Version(number, commit, date, subject, run_record))
    return versions


def recorded_metadata(root: Path, commit: str, catalog: str, name: str) -> dict[str, Any] | None:
    """The catalog metadata recorded for store ``name`` at ``commit`` (None if there is none)."""
    import yaml

    text = git(root, "show", f"{commit}:{catalog}", check=False)
    try:
        meta = (yaml.safe_load(text) or {}).get("entries", {})[name]["metadata"]
    except (yaml.YAMLError, AttributeError, KeyError, TypeError):
        return None
    return meta if isinstance(meta, dict) else None


def recorded_checksum(root: Path, commit: str, catalog: str, name: str) -> str | None:
    """The content checksum the catalog recorded for store ``name`` at ``commit``."""
    return (recorded_metadata(root, commit, catalog, name) or {}).get("checksum")


def materialise(root: Path, commit: str, relpath: str, destination: Path) -> Path:
    """Recreate ``relpath`` as it was at ``commit`` under ``destination``; return its path.

    Git-tracked files are written from git; annexed files become symlinks to their
    annex objects (read-only, never copied).  Raises :class:`CorruptStoreError`
    if an annexed object of that version is not present locally.
    """
    target = destination / relpath
    marker = destination / (relpath.rstrip("/") + ".complete")
    if marker.exists():
        return target
    listing = git(root, "ls-tree", "-r", "-z", "--full-tree", commit, "--", relpath)
    entries = []
    for item in filter(None, listing.split("\0")):
        meta, path = item.split("\t", 1)
        mode, _, sha = meta.split()
        entries.append((mode, sha, path))
    if not entries:
        raise CorruptStoreError(f"{relpath} does not exist at commit {commit}")
    staging = destination / (relpath.rstrip("/") + f".partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    blobs = _cat_blobs(root, [sha for _, sha, _ in entries])
    pointers = {}  # unlocked annexed files: their keys, located in one batch
    for (mode, _sha, path), content in zip(entries, blobs, strict=True):
        out = staging / Path(path).relative_to(relpath) if path != relpath else staging
        out.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":  # a link into the annex, relative to the file's folder
            location = Path(os.path.normpath(root / Path(path).parent / content.decode().strip()))
            if not location.exists():
                raise _absent(path, commit, location.name)
            os.symlink(location, out)
        elif content.startswith(b"/annex/objects/"):
            pointers[out] = (path, Path(content.decode().strip()).name)
        else:
            out.write_bytes(content)
    if pointers:
        keys = [key for _, key in pointers.values()]
        batch = "".join(f"{k}\n" for k in keys).encode()
        locations = git(root, "annex", "contentlocation", "--batch", input=batch, check=False).splitlines()
        for (out, (path, key)), location in zip(pointers.items(), locations + [""] * len(keys), strict=False):
            if not location.strip():
                raise _absent(path, commit, key)
            os.symlink(root / location.strip(), out)
    return _publish(staging, target, marker, commit)


def snapshot(root: Path, relpath: str, destination: Path, commit: str) -> Path:
    """Like :func:`materialise` for the version the working tree holds (saved at ``commit``, with no
    change since): links to the same annexed content, copies of the git-tracked files — read from
    the working tree, which is much faster than from git for a store of many files."""
    target = destination / relpath
    marker = destination / (relpath.rstrip("/") + ".complete")
    if marker.exists():
        return target
    source = root / relpath
    staging = destination / (relpath.rstrip("/") + f".partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")

    def copy(src: Path, out: Path) -> None:
        if src.is_symlink():
            location = src.resolve()
            if not location.exists():
                raise _absent(str(src.relative_to(root)), commit, location.name)
            os.symlink(location, out)
        else:
            shutil.copyfile(src, out)

    if source.is_dir() and not source.is_symlink():
        for folder, dirs, files in os.walk(source):
            here = staging / Path(folder).relative_to(source)
            here.mkdir(parents=True, exist_ok=True)
            for name in files:
                copy(Path(folder) / name, here / name)
            for name in dirs:
                if (Path(folder) / name).is_symlink():
                    copy(Path(folder) / name, here / name)
    else:
        staging.parent.mkdir(parents=True, exist_ok=True)
        copy(source, staging)
    return _publish(staging, target, marker, commit)


def _absent(path: str, commit: str, key: str) -> CorruptStoreError:
    return CorruptStoreError(f"content of {path} at commit {commit[:10]} is not present locally "
                             f"(annex key {key}); fetch it with `datalad get` first")


def _publish(staging: Path, target: Path, marker: Path, commit: str) -> Path:
    """Move a finished ``staging`` tree to ``target`` and mark it complete (once, across processes)."""
    if marker.exists():  # another process materialised it meanwhile
        shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
        return target
    if target.exists() or target.is_symlink():  # an unfinished earlier attempt
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    marker.write_text(commit)
    return target


def _cat_blobs(root: Path, shas: list[str]) -> list[bytes]:
    """Read many git blobs with one ``git cat-file --batch``."""
    proc = subprocess.run(["git", "-C", str(root), "cat-file", "--batch"],
                          input="".join(f"{s}\n" for s in shas).encode(), capture_output=True,
                          check=True)
    out, blobs, pos = proc.stdout, [], 0
    for _ in shas:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        blobs.append(out[header_end + 1: header_end + 1 + size])
        pos = header_end + 1 + size + 1
    return blobs


def annex_fsck(root: Path, relpath: str) -> list[dict[str, Any]]:
    """``git annex fsck`` of ``relpath``; returns the failed files with git-annex's notes."""
    proc = subprocess.run(["git", "-C", str(root), "annex", "fsck", "--json", "--", relpath],
                          capture_output=True, text=True)
    failures = []
    for line in proc.stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not record.get("success", True):
            detail = " ".join(record.get("error-messages", [])).strip()
            failures.append({"file": record.get("file"),
                             "note": detail or "content does not match its annex key (moved to "
                                               ".git/annex/bad by git-annex fsck)"})
    return failures
