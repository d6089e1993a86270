"""Atomic file writes: a crash or an error never leaves a half-written file behind.

A write goes to a temporary file ``.<name>.<random>.tmp`` in the target's folder (``<random>``: 16
hex digits), which is fsync'd and renamed over the target with :func:`os.replace`; the folder is
then fsync'd so that the rename itself is durable.

A writer killed between creating its temporary and the rename (SIGKILL, power loss) leaves the
temporary behind. The next successful write of the same target removes that target's stale
temporaries (:func:`remove_stale_temporaries`). A temporary is stale when both hold:

- it has not been modified for :data:`STALE_AFTER_S` seconds (ten minutes), and
- no process holds its lock: every writer holds an exclusive lock on its temporary from the moment
  it creates it until after the rename (:func:`fcntl.flock` on POSIX, :func:`msvcrt.locking` on
  Windows), and the system drops that lock when the writer dies, however it dies.

The lock alone says whether the writer is alive, also across PID namespaces; the age covers the
instant between creating the file and locking it, and file systems whose locks are not seen by
other machines (NFS mounted ``nolock``). A live writer's temporary is therefore never removed,
whatever its age. Temporaries of the names earlier versions made (``.<name>.<8 characters>.tmp``,
from :func:`tempfile.mkstemp`, unlocked) are removed by the age rule and the lock test alike.
Failing to remove one is logged and never fails the write.

Locks come from :mod:`vqcore.io.locks` (``flock`` on POSIX, ``msvcrt`` on Windows, lock files
elsewhere); with lock files a temporary's lock is ``<temporary>.lock``.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

from .locks import STALE_AFTER_S, LockFile, lock_backend, try_lock

logger = logging.getLogger(__name__)

__all__ = ["STALE_AFTER_S", "atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_CLOEXEC", 0)
# the random part: ours (16 hex digits), or tempfile.mkstemp's (8 of [a-z0-9_]) from earlier versions
_RANDOM = r"(?:[0-9a-f]{16}|[a-z0-9_]{8})"


def _create_temporary(path: Path) -> tuple[int, Path, LockFile | None]:
    """Create and lock ``.<name>.<random>.tmp`` beside ``path`` (with a lock file: also that); an
    error names ``path``."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, _FLAGS, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:  # the target is what the caller knows and can act on
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        owner = None
        if lock_backend() == "lockfile":
            try:
                owner = LockFile.acquire(_lock_of(tmp), wait=False)
            except OSError as exc:  # the age rule alone protects it
                logger.debug("cannot make the lock file of %s (%s)", tmp, exc)
        elif not try_lock(fd):
            logger.debug("cannot lock %s; its clean-up relies on its age alone", tmp)
        return fd, tmp, owner
    raise FileExistsError(f"cannot create a temporary file beside {str(path)!r}: every name tried exists")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync'd, then
    :func:`os.replace`; on any failure the temporary file is removed and ``path`` is untouched.
    A new file gets mode 0o644, an existing one keeps its mode. Afterwards the stale temporaries
    of ``path`` (see the module's notes) are removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp, owner = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if os.name == "posix":  # rename while still locked, so no one sees it unlocked
                os.replace(tmp, path)
        if os.name != "posix":  # Windows cannot rename an open file
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if owner is not None:
            owner.release()
    _fsync_folder(path.parent)
    remove_stale_temporaries(path)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; not possible everywhere (Windows), so best effort."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporaries that killed writes of ``path`` left in its folder: those unmodified
    for ``older_than_s`` seconds whose lock no process holds (the module's notes give the rule).
    Returns the paths removed; errors are logged, never raised."""
    path = Path(path)
    prefix = f".{path.name}."
    pattern = re.compile(re.escape(prefix) + _RANDOM + r"\.tmp")
    cutoff = time.time() - older_than_s
    removed = []
    try:
        with os.scandir(path.parent) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix) and pattern.fullmatch(e.name)]
    except OSError as exc:
        logger.debug("cannot list %s for stale temporaries: %s", path.parent, exc)
        return []
    if lock_backend() == "lockfile":
        _remove_orphan_locks(path.parent, prefix, pattern)
    for name in names:
        candidate = path.parent / name
        if _remove_if_stale(candidate, cutoff):
            logger.info("removed %s, a temporary left by a write of %s that did not finish", candidate, path)
            removed.append(candidate)
    return removed


def _remove_if_stale(tmp: Path, cutoff: float) -> bool:
    """Remove ``tmp`` if it is a regular file last modified before ``cutoff`` whose lock can be
    taken (so no live writer holds it); True if it was removed."""
    if lock_backend() == "lockfile":
        return _remove_if_stale_lockfile(tmp, cutoff)
    try:
        if not stat.S_ISREG(os.lstat(tmp).st_mode):
            return False
        fd = os.open(tmp, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    closed = False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_mtime >= cutoff:
            return False
        if not try_lock(fd):  # a live writer holds it (or the file system refuses locks: keep it)
            return False
        now = os.stat(tmp, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):  # the name was reused meanwhile
            return False
        if os.name != "posix":  # Windows removes no open file; the random name is never made again
            os.close(fd)
            closed = True
        os.unlink(tmp)
        return True
    except OSError as exc:
        logger.debug("cannot remove stale temporary %s: %s", tmp, exc)
        return False
    finally:
        if not closed:
            os.close(fd)


def _lock_of(tmp: Path) -> Path:
    return tmp.with_name(tmp.name + ".lock")


def _remove_if_stale_lockfile(tmp: Path, cutoff: float) -> bool:
    """The lock-file rule: ``tmp`` unmodified since ``cutoff`` and its lock file absent or stale."""
    try:
        st = os.lstat(tmp)
        if not stat.S_ISREG(st.st_mode) or st.st_mtime >= cutoff:
            return False
        lock = _lock_of(tmp)
        if lock.exists() and not LockFile.break_if_stale(lock):
            return False
        os.unlink(tmp)
        return True
    except OSError as exc:
        logger.debug("cannot remove stale temporary %s: %s", tmp, exc)
        return False


def _remove_orphan_locks(folder: Path, prefix: str, pattern: re.Pattern[str]) -> None:
    """Lock files of temporaries that are gone (a writer killed after its rename), when stale."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix) and e.name.endswith(".tmp.lock")]
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name[:-len(".lock")]) and not (folder / name[:-len(".lock")]).exists():
            LockFile.break_if_stale(folder / name)
