"""Exclusive locks that a process's death releases, on every platform.

:func:`lock_backend` says how this platform locks: ``"flock"`` (:func:`fcntl.flock`, POSIX: the
kernel drops the lock when its holder dies, however it dies), ``"msvcrt"`` (:func:`msvcrt.locking`
on the first byte, Windows: likewise), or, where neither module exists, ``"lockfile"``: a lock is
then a file made with ``O_CREAT | O_EXCL`` (:class:`LockFile`) that holds its owner's process id,
host and a random token, and is removed on release. Such a lock is stale when its owner is a
process of this host that no longer exists, or, when its owner cannot be read or is on another
host, when the file is older than :data:`STALE_AFTER_S`. A stale lock is broken by renaming it
aside first, so that of two processes breaking it at once one wins, and a lock made meanwhile is
given back.

:func:`exclusive_lock` holds a lock named by a path with whichever backend is there: the run
caches' per-run locks (:mod:`vqcore.experiments.run_cache`). :mod:`vqcore.io.atomic` locks its
temporaries with :func:`try_lock` or a :class:`LockFile`.
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: msvcrt's locks on Windows, else lock files
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # not Windows
    msvcrt = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = ["STALE_AFTER_S", "LockFile", "exclusive_lock", "lock_backend", "try_lock"]

#: How long (seconds) a file whose owner cannot be asked (an unlocked temporary, a lock file of
#: unknown owner) must have been left unmodified before it counts as stale.
STALE_AFTER_S = 600.0


def lock_backend() -> str:
    """How locks are taken here: ``"flock"`` (POSIX), ``"msvcrt"`` (Windows) or ``"lockfile"``."""
    if fcntl is not None:
        return "flock"
    return "msvcrt" if msvcrt is not None else "lockfile"


def try_lock(fd: int) -> bool | None:
    """An exclusive lock on the open file ``fd``, without waiting: True when taken, False when another
    process holds it, None when the file system takes no locks. For the ``flock`` and ``msvcrt`` backends."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the file
        return True
    except (BlockingIOError, PermissionError):  # EWOULDBLOCK (flock), EACCES (msvcrt): held
        return False
    except OSError as exc:
        if fcntl is None and exc.errno == getattr(errno, "EDEADLOCK", -1):  # msvcrt: held
            return False
        return None


def _wait_lock(fd: int, poll_s: float) -> None:
    """Wait for an exclusive lock on ``fd`` (``flock``: the kernel queues us; ``msvcrt``: poll)."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while not try_lock(fd):
        time.sleep(poll_s)


class LockFile:
    """A lock held by the existence of a file made with ``O_CREAT | O_EXCL`` (the ``"lockfile"``
    backend), which holds its owner: ``<pid>\\n<host>\\n<token>\\n``. See the module's notes."""

    def __init__(self, path: Path, token: str) -> None:
        self.path, self.token = path, token

    @classmethod
    def acquire(cls, path: str | os.PathLike, *, wait: bool = True, poll_s: float = 0.05) -> LockFile | None:
        """Make the lock file ``path``; when it exists, break it if stale, else wait for it (or, with
        ``wait`` False, return None). An :class:`OSError` when the folder takes no file."""
        path = Path(path)
        token = secrets.token_hex(8)
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
            except FileExistsError:
                if cls.break_if_stale(path):
                    continue
                if not wait:
                    return None
                time.sleep(poll_s)
                continue
            try:
                os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n{token}\n".encode())
            finally:
                os.close(fd)
            return cls(path, token)

    def release(self) -> None:
        """Remove the lock file, if it is still ours."""
        if _read_owner(self.path)[2] == self.token:
            with suppress(FileNotFoundError):
                os.unlink(self.path)

    @staticmethod
    def break_if_stale(path: str | os.PathLike, older_than_s: float = STALE_AFTER_S) -> bool:
        """Remove the lock file ``path`` if it is stale (module notes); True if it is gone now."""
        path = Path(path)
        owner = _read_owner(path)
        if owner is None:
            return True  # already gone
        if not _owner_is_gone(path, owner, older_than_s):
            return False
        aside = path.with_name(f"{path.name}.{secrets.token_hex(4)}.broken")
        try:
            os.rename(path, aside)  # one breaker wins the rename; the others find the name gone
        except FileNotFoundError:
            return True
        except OSError as exc:
            logger.debug("cannot break stale lock %s: %s", path, exc)
            return False
        if _read_owner(aside) != owner:  # a new lock was made in between: give it back
            with suppress(OSError, AttributeError):
                os.link(aside, path)  # only if the name is still free
        with suppress(OSError):
            os.unlink(aside)
        logger.info("broke the stale lock %s (owner %s)", path, owner[:2])
        return True


def _read_owner(path: Path) -> tuple[str, str, str] | None:
    """The lock file's (pid, host, token) lines (empty where missing); None when there is no file."""
    try:
        lines = path.read_bytes()[:512].decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError:
        lines = []
    lines += ["", "", ""]
    return lines[0].strip(), lines[1].strip(), lines[2].strip()


def _owner_is_gone(path: Path, owner: tuple[str, str, str], older_than_s: float) -> bool:
    """A process of this host that no longer exists; else (unknown owner, another host) the file's age."""
    pid, host, _ = owner
    if pid.isdigit() and host == socket.gethostname() and os.name == "posix":
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:  # it exists (PermissionError: another user's)
            return False
        return False
    try:
        return time.time() - os.stat(path).st_mtime > older_than_s
    except OSError:
        return True


@contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = True, poll_s: float = 0.05) -> Iterator[bool | None]:
    """Hold the exclusive lock named by the file ``path`` for the ``with`` block, with
    :func:`lock_backend`'s means. Yields True once held (waiting for another holder unless ``wait``
    is False: then False at once), or None when no lock file can be made there (a read-only folder:
    the caller goes on unlocked). The file is removed on exit, before the lock is released."""
    path = Path(path)
    if lock_backend() == "lockfile":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            held = LockFile.acquire(path, wait=wait, poll_s=poll_s)
        except OSError as exc:
            logger.debug("no lock for %s (%s); running unlocked", path, exc)
            yield None
            return
        try:
            yield held is not None
        finally:
            if held is not None:
                held.release()
        return
    fd = _lock_fd(path, wait, poll_s)
    if fd is None or fd < 0:
        yield None if fd is not None else False
        return
    try:
        yield True
    finally:
        with suppress(OSError):  # Windows removes no open file: the next holder reuses it
            os.unlink(path)  # before the release: a waiter then sees that its file is gone
        os.close(fd)


def _lock_fd(path: Path, wait: bool, poll_s: float) -> int | None:
    """An open descriptor of ``path`` holding its lock (``flock`` or ``msvcrt``); None when another
    process holds it and ``wait`` is False; -1 when no lock can be had (no file, no locks)."""
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            logger.debug("no lock for %s (%s); running unlocked", path, exc)
            return -1
        try:
            got = try_lock(fd)
            if got is None:
                logger.debug("no lock for %s (the file system takes none); running unlocked", path)
                os.close(fd)
                return -1
            if not got:
                if not wait:
                    os.close(fd)
                    return None
                logger.info("waiting for another process to release %s", path.name)
                _wait_lock(fd, poll_s)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:  # not a file that its last holder removed while we waited
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
