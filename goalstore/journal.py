"""Write transactions of a store root: the inter-process lock, the journals that let an
interrupted write be finished or rolled back, and the recovery that does either.

Every change to a store root — a direct write, a recorded run (``build``, ``rebuild``), a
download, a catalog repair — happens while its process holds the root's lock (``flock`` on
``<scratch>/write.lock``), from recovery to commit, so writers are serialised and a second
process waits for the first.  Before touching the tree a writer records a *transaction journal*
(``txn-*.json``): its owner (pid and process start time) and the paths it will change.  The
journal is removed once the change is committed.  A journal that outlives its owner (the
process was killed) is settled by the next process that takes the lock:

* a direct write whose new content was fully in place and registered is *finished*: its
  content is checked against the checksum the journal recorded and then saved — the catalog
  then claims exactly the version history has;
* anything else is *rolled back*: the paths are restored to the last commit (``HEAD``), so
  the catalog and the files again describe the newest committed version.

Recovery touches only journals whose owner is gone; a recorded command (``goalstore
produce`` inside ``datalad run``) works inside its parent's lock, lent to it through
:data:`LOCK_HOLDER_ENV`.  :func:`fault` is the hook the fault-injection suite uses to kill a
writer at a named point.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from goalstore.errors import StoreRootError

#: ``"<pid>:<root>"``: the process ``pid`` holds the lock of ``root`` and lends it to its children
#: (the command ``datalad run`` records runs inside the lock its caller took).
LOCK_HOLDER_ENV = "GOALSTORE_LOCK_HOLDER"
#: Test hook: ``GOALSTORE_FAULT=<point>`` kills the process (SIGKILL) at that point of a write.
FAULT_ENV = "GOALSTORE_FAULT"
#: How long recovery waits for git's ``index.lock`` of a killed writer's git child to go away.
INDEX_LOCK_WAIT_S = 10.0

_held: dict[str, int] = {}  # store roots whose lock this process holds → nesting depth


def fault(point: str) -> None:
    """Kill this process at ``point`` when :data:`FAULT_ENV` names it (fault-injection tests)."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------- owners
def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (Linux ``/proc``), to tell a reused pid from its owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def owner() -> dict[str, Any]:
    """This process, as a journal records its owner."""
    return {"pid": os.getpid(), "start": _start_time(os.getpid())}


def owner_alive(record: dict[str, Any]) -> bool:
    """Whether the process that wrote journal ``record`` is still running."""
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    start = record.get("start")
    return not (start and _start_time(pid) not in (None, start))


# --------------------------------------------------------------------- lock
def _lent_to_us(root: Path) -> bool:
    pid, _, held_root = os.environ.get(LOCK_HOLDER_ENV, "").partition(":")
    return held_root == str(root) and pid.isdigit() and owner_alive({"pid": int(pid)})


def holds_lock(root: Path) -> bool:
    """Whether this process holds (or was lent) the lock of ``root``."""
    return bool(_held.get(str(root))) or _lent_to_us(root)


@contextlib.contextmanager
def locked(root: Path, scratch: Path, on_acquire: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the inter-process lock of store root ``root`` (re-entrant within a process).

    ``on_acquire`` runs right after the lock is taken (recovery of dead writers' journals),
    never when the lock is already held or lent.  A process that has to wait says so on stderr.
    """
    key = str(root)
    if holds_lock(root):
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        handle = open(scratch / "write.lock", "a")
    except OSError as exc:
        raise StoreRootError(f"store root {root} is not writable: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"goalstore: waiting for another process writing to {root}", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        _held[key] = 1
        try:
            if on_acquire is not None:
                on_acquire()
            yield
        finally:
            _held.pop(key, None)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def lend_lock(root: Path) -> Iterator[None]:
    """Let child processes (a recorded command) work inside the lock this process holds, in ``root``
    (also named as ``$GOALSTORE_HOME``, for commands recorded without ``--home .``)."""
    lent = {LOCK_HOLDER_ENV: f"{os.getpid()}:{root}", "GOALSTORE_HOME": str(root)}
    previous = {var: os.environ.get(var) for var in lent}
    os.environ.update(lent)
    try:
        yield
    finally:
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def creation_lock(path: Path) -> Iterator[None]:
    """Serialise the creation of store root ``path`` (a lock file beside it, in its parent; where the
    parent is not writable, creation goes ahead unserialised and fails or succeeds on its own)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.parent / f"{'' if path.name.startswith('.') else '.'}{path.name}.create-lock", "a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------- journals
def _write_json(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically (a journal is never half-written)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def begin(scratch: Path, kind: str, paths: list[str], **info: Any) -> Path:
    """Record a transaction of ``kind`` ("write", "run", "save") about to change ``paths``."""
    journal = scratch / f"txn-{uuid.uuid4().hex}.json"
    _write_json(journal, {**owner(), "kind": kind, "paths": list(paths), "stage": "begun", **info})
    return journal


def advance(journal: Path, stage: str) -> None:
    """Move transaction ``journal`` on to ``stage``."""
    state = _read_json(journal) or {}
    _write_json(journal, {**state, "stage": stage})


def end(journal: Path) -> None:
    """The transaction is committed (or undone): forget its journal."""
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()


# ------------------------------------------------------------------- swaps
def swap(scratch: Path, new: Path, final: Path, retire: Path | None = None) -> None:
    """Move ``new`` into place at ``final`` (and ``retire``, an old layout, out of the way)
    through a journal, so that a kill at any point rolls back to the old content or finishes.

    Only links into the annex move, never annexed content.  An exception undoes the swap.
    """
    journal = scratch / f"swap-{uuid.uuid4().hex}.json"
    moves = [(p, scratch / f"old-{uuid.uuid4().hex}") for p in (final, retire)
             if p is not None and (p.exists() or p.is_symlink())]
    state = {**owner(), "final": str(final), "new": str(new), "stage": "start",
             "moves": [[str(a), str(b)] for a, b in moves]}
    _write_json(journal, state)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        for i, (source, aside) in enumerate(moves):
            os.rename(source, aside)  # moves links into the annex, never the annexed content
            if i == 0:
                fault("mid-swap")
        os.rename(new, final)
    except BaseException:
        _settle_swap(state)
        journal.unlink()
        raise
    _write_json(journal, {**state, "stage": "swapped"})
    _settle_swap({**state, "stage": "swapped"})
    journal.unlink()


def _settle_swap(state: dict[str, Any]) -> None:
    """Finish a swap that got its new content in place, else put the old content back."""
    moves = [(Path(a), Path(b)) for a, b in state.get("moves", [])]
    if state.get("stage") == "swapped":
        for _, aside in moves:
            remove(aside)
        return
    for original, aside in moves:
        if aside.exists() or aside.is_symlink():
            if original.exists() or original.is_symlink():
                remove(original)
            os.rename(aside, original)
    if state.get("new"):
        remove(Path(state["new"]))


def remove(path: Path) -> None:
    """Remove a file, link or directory tree (links only: annexed content stays in the annex)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ----------------------------------------------------------------- recovery
def recover(root: Path, scratch: Path, finish: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Settle every journal in ``scratch`` whose owner is gone; return what was done.

    Run with the lock held.  Swaps are finished or rolled back first; then each transaction is
    finished when ``finish(state)`` succeeds (it checks and saves a completed write) and is
    otherwise rolled back to ``HEAD``.  Scratch content no live journal refers to is removed.
    """
    if not scratch.exists():
        return []
    done: list[dict[str, Any]] = []
    live = False
    for path in sorted(scratch.glob("swap-*.json")):
        state = _read_json(path)
        if state is not None and owner_alive(state):
            live = True
            continue
        if state is not None and "moves" not in state and state.get("old"):  # older journal layout
            state["moves"] = [[state["final"], state["old"]]]
        if state is not None:
            _settle_swap(state)
        path.unlink()
    transactions = []
    for path in sorted(scratch.glob("txn-*.json")):
        state = _read_json(path)
        if state is not None and owner_alive(state):
            live = True
            continue
        transactions.append((path, state))
    if transactions:
        _clear_stale_index_lock(root)
    for path, state in transactions:
        if state is not None:
            finished = state.get("stage") in ("registered", "saving") and finish(state)
            if not finished:
                restore_to_head(root, state.get("paths", []))
            done.append({"transaction": state.get("kind"), "paths": state.get("paths"),
                         "action": "finished" if finished else "rolled back"})
        path.unlink()
    if not live:
        for leftover in [*scratch.glob("new-*"), *scratch.glob("old-*"), *scratch.glob(".*.tmp")]:
            remove(leftover)
    return done


def _clear_stale_index_lock(root: Path) -> None:
    """git's ``index.lock`` left by a killed writer's git child: wait for a child still finishing,
    then remove it (no other writer can be at work: we hold the store root's lock)."""
    lock = root / ".git" / "index.lock"
    deadline = time.monotonic() + INDEX_LOCK_WAIT_S
    while lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()


def restore_to_head(root: Path, paths: list[str]) -> None:
    """Put ``paths`` (relative to ``root``) back as the last commit has them (absent if it has not)."""
    from goalstore import versioning

    paths = [p for p in paths if p]
    if not paths:
        return
    versioning.git(root, "reset", "-q", "HEAD", "--", *paths, check=False)
    for p in paths:
        remove(root / p)
    committed = [p for p in paths if versioning.git(root, "ls-tree", "--name-only", "HEAD", "--", p,
                                                     check=False).strip()]
    if committed:
        versioning.git(root, "checkout", "HEAD", "--", *committed)
