"""vqcore.io.locks: exclusive locks that a holder's death releases, with flock and, where fcntl is
missing, with lock files (the fallback is tested here on Linux by taking fcntl away)."""
from __future__ import annotations

import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vqcore.io import atomic, locks
from vqcore.io.atomic import atomic_write_text
from vqcore.io.locks import LockFile, exclusive_lock, lock_backend

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")


@pytest.fixture
def no_fcntl(monkeypatch):
    """As on a platform with neither fcntl nor msvcrt: locks are lock files."""
    monkeypatch.setattr(locks, "fcntl", None)
    monkeypatch.setattr(locks, "msvcrt", None)
    assert lock_backend() == "lockfile"


@pytest.fixture(params=["flock", "lockfile"])
def backend(request, monkeypatch) -> str:
    if request.param == "lockfile":
        monkeypatch.setattr(locks, "fcntl", None)
        monkeypatch.setattr(locks, "msvcrt", None)
    elif locks.fcntl is None:
        pytest.skip("no fcntl here")
    assert lock_backend() == request.param
    return request.param


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_backend_is_flock_where_fcntl_exists():
    assert lock_backend() == ("flock" if locks.fcntl is not None else "msvcrt" if locks.msvcrt else "lockfile")


# -- lock files ----------------------------------------------------------------------------------

def test_a_lock_file_holds_its_owner_and_excludes_a_second_holder(no_fcntl, tmp_path):
    path = tmp_path / "run.lock"
    held = LockFile.acquire(path, wait=False)
    assert held is not None
    pid, host, token = path.read_text().split("\n")[:3]
    assert (int(pid), host, token) == (os.getpid(), socket.gethostname(), held.token)
    assert LockFile.acquire(path, wait=False) is None  # a live owner: not stale
    held.release()
    assert not path.exists()
    again = LockFile.acquire(path, wait=False)
    assert again is not None and again.token != held.token
    held.release()  # not ours any more: nothing happens
    assert path.exists()
    again.release()


def test_a_lock_of_a_dead_process_is_broken(no_fcntl, tmp_path):
    path = tmp_path / "run.lock"
    path.write_text(f"{_dead_pid()}\n{socket.gethostname()}\nabc\n")
    held = LockFile.acquire(path, wait=False)
    assert held is not None and path.read_text().startswith(f"{os.getpid()}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.lock"]  # nothing left aside
    held.release()


def test_an_unknown_owner_is_trusted_until_the_file_is_old(no_fcntl, tmp_path):
    path = tmp_path / "run.lock"
    for content in ("garbage", f"{os.getpid()}\nanother-host\nxyz\n", ""):
        path.write_text(content)
        assert LockFile.acquire(path, wait=False) is None  # young: its owner may be alive
        old = time.time() - locks.STALE_AFTER_S - 60
        os.utime(path, (old, old))
        held = LockFile.acquire(path, wait=False)
        assert held is not None
        held.release()


def test_a_lock_made_while_a_stale_one_is_broken_is_given_back(no_fcntl, tmp_path, monkeypatch):
    path = tmp_path / "run.lock"
    path.write_text(f"{_dead_pid()}\n{socket.gethostname()}\nold\n")
    real_rename = os.rename

    def rename_after_a_new_holder(src, dst):  # another process broke it first and made its own
        os.unlink(src)
        Path(src).write_text(f"{os.getpid()}\n{socket.gethostname()}\nnew\n")
        monkeypatch.setattr(locks.os, "rename", real_rename)
        real_rename(src, dst)

    monkeypatch.setattr(locks.os, "rename", rename_after_a_new_holder)
    assert LockFile.break_if_stale(path)
    assert path.read_text().endswith("new\n")  # the new holder keeps its lock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.lock"]


def test_exclusive_lock_waits_for_the_holder(no_fcntl, tmp_path):
    path = tmp_path / "run.lock"
    held = LockFile.acquire(path)
    with exclusive_lock(path, wait=False) as got:
        assert got is False
    os.utime(path, (0, 0))
    path.write_text(f"{_dead_pid()}\n{socket.gethostname()}\n{held.token}\n")  # its holder died
    with exclusive_lock(path, wait=True, poll_s=0.01) as got:
        assert got is True
    assert not path.exists()


def test_a_folder_that_takes_no_lock_file_runs_unlocked(backend, tmp_path):
    folder = tmp_path / "plain"
    folder.write_text("a file, not a folder")
    with exclusive_lock(folder / "run.lock") as got:
        assert got is None


# -- mutual exclusion across processes, with either backend --------------------------------------------

def _increment(path: str, lock: str, times: int, start: float) -> None:
    while time.time() < start:
        time.sleep(0.001)
    for _ in range(times):
        with exclusive_lock(lock, poll_s=0.001) as got:
            assert got
            value = int(Path(path).read_text())
            time.sleep(0.002)  # a lost update would show without the lock
            Path(path).write_text(str(value + 1))


@needs_fork
def test_processes_take_turns(backend, tmp_path):
    counter = tmp_path / "count"
    counter.write_text("0")
    start = time.time() + 0.3
    ctx = multiprocessing.get_context("fork")  # the children keep this backend (fcntl taken away or not)
    procs = [ctx.Process(target=_increment, args=(str(counter), str(tmp_path / "c.lock"), 15, start))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert counter.read_text() == "45"
    assert not (tmp_path / "c.lock").exists()


def _die_holding(lock: str, ready: str) -> None:
    with exclusive_lock(lock):
        Path(ready).touch()
        os._exit(0)  # no clean-up: the lock file stays


@needs_fork
def test_a_killed_holder_does_not_block_the_next_one(backend, tmp_path):
    lock, ready = tmp_path / "run.lock", tmp_path / "ready"
    proc = multiprocessing.get_context("fork").Process(target=_die_holding, args=(str(lock), str(ready)))
    proc.start()
    proc.join(30)
    assert ready.exists() and lock.exists()
    with exclusive_lock(lock, wait=False) as got:
        assert got is True


@needs_fork
def test_run_claims_share_the_work_without_fcntl(no_fcntl, tmp_path):
    from tests.experiments.test_run_lock import KEYS, fake_runner

    log = tmp_path / "computed.log"
    start = time.time() + 0.3
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=fake_runner, args=(str(tmp_path / "runs"), str(log), start)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    computed = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(computed) == sorted(KEYS)  # each run once
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(f"{k}.json" for k in KEYS)


# -- atomic writes without fcntl -------------------------------------------------------------------

def test_a_write_without_fcntl_leaves_no_lock_file(no_fcntl, tmp_path):
    target = tmp_path / "out.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_stale_temporaries_and_orphan_locks_are_removed_without_fcntl(no_fcntl, tmp_path):
    target = tmp_path / "out.json"
    orphan = tmp_path / ".out.json.0123456789abcdef.tmp"  # a killed writer's, its lock file gone with it
    orphan.write_bytes(b"half")
    os.utime(orphan, (0, 0))
    dead = tmp_path / ".out.json.fedcba9876543210.tmp"
    dead.write_bytes(b"half")
    os.utime(dead, (0, 0))
    (tmp_path / f"{dead.name}.lock").write_text(f"{_dead_pid()}\n{socket.gethostname()}\nx\n")
    alive = tmp_path / ".out.json.00000000000000aa.tmp"
    alive.write_bytes(b"being written")
    os.utime(alive, (0, 0))
    (tmp_path / f"{alive.name}.lock").write_text(f"{os.getpid()}\n{socket.gethostname()}\ny\n")
    renamed = tmp_path / ".out.json.00000000000000bb.tmp.lock"  # a writer killed after its rename
    renamed.write_text(f"{_dead_pid()}\n{socket.gethostname()}\nz\n")
    atomic_write_text(target, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, f"{alive.name}.lock", "out.json"])


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_writers_temporary_is_removed_without_fcntl(tmp_path):
    from tests.io.test_atomic import ATOMIC_FILE, HANGING_WRITER

    target = tmp_path / "out.json"
    target.write_text("old")
    child = subprocess.Popen([sys.executable, "-c", HANGING_WRITER, str(ATOMIC_FILE), str(target), "nofcntl"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        [tmp] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert re.fullmatch(r"\.out\.json\.[0-9a-f]{16}\.tmp", tmp.name)
        assert (tmp_path / f"{tmp.name}.lock").read_text().startswith(f"{child.pid}\n")
        os.utime(tmp, (0, 0))  # as old as can be: only its lock file says its writer is alive
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(locks, "fcntl", None)
            atomic_write_text(target, "mine")
            assert tmp.exists() and target.read_text() == "mine"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(locks, "fcntl", None)
        atomic_write_text(target, "again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert atomic.STALE_AFTER_S == locks.STALE_AFTER_S
