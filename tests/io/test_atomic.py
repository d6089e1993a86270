"""vqcore.io.atomic: a write either replaces the whole file or leaves the old one as it was."""
from __future__ import annotations

import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vqcore.io import atomic, locks
from vqcore.io.atomic import atomic_write_bytes, atomic_write_text


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_creates_folders_and_returns_the_path(tmp_path):
    target = tmp_path / "a" / "b" / "out.bin"
    assert atomic_write_bytes(target, b"\x00\x01") == target
    assert target.read_bytes() == b"\x00\x01"
    assert atomic_write_text(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode("utf-8")
    assert _leftovers(target.parent) == []


def test_a_new_file_gets_mode_644_and_an_overwrite_keeps_the_mode(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "one")
    assert _mode(target) == 0o644
    os.chmod(target, 0o600)
    atomic_write_text(target, "two")
    assert target.read_text() == "two" and _mode(target) == 0o600


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failed_write_leaves_the_target_untouched_and_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)

    def fail(*args, **kwargs):
        raise OSError(f"{failing} failed")

    monkeypatch.setattr(atomic.os, failing, fail)
    with pytest.raises(OSError, match=f"{failing} failed"):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old" and _mode(target) == 0o640
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_data_that_cannot_be_written_leaves_no_file(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text, not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


# -- temporaries left by killed writes -----------------------------------------------------------

ATOMIC_FILE = Path(atomic.__file__)
# a writer that hangs in os.replace, holding its locked temporary; imports vqcore/io's atomic.py and
# locks.py alone (no torch); with "nofcntl" as its third argument, as if fcntl did not exist
HANGING_WRITER = """
import importlib, os, sys, time, types
if sys.argv[3:] == ["nofcntl"]:
    sys.modules["fcntl"] = None
package = types.ModuleType("io_alone")
package.__path__ = [os.path.dirname(sys.argv[1])]
sys.modules["io_alone"] = package
mod = importlib.import_module("io_alone.atomic")
def hang(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(120)
os.replace = hang
mod.atomic_write_bytes(sys.argv[2], b"never")
"""

needs_flock = pytest.mark.skipif(locks.fcntl is None, reason="no fcntl here")


def _orphan(folder: Path, target: str, age_s: float = 3600.0, random: str | None = None) -> Path:
    """A temporary as a killed write of ``target`` leaves it, last modified ``age_s`` ago."""
    tmp = folder / f".{target}.{random or secrets.token_hex(8)}.tmp"
    tmp.write_bytes(b"half")
    old = time.time() - age_s
    os.utime(tmp, (old, old))
    return tmp


def test_the_next_write_removes_stale_temporaries_of_that_target_only(tmp_path):
    target = tmp_path / "out.json"
    stale = _orphan(tmp_path, "out.json")
    legacy = _orphan(tmp_path, "out.json", random="ab_c9xyz")  # tempfile.mkstemp's names, earlier versions
    young = _orphan(tmp_path, "out.json", age_s=5.0)  # a writer may be about to lock it
    other = _orphan(tmp_path, "other.json")  # another target's
    longer = _orphan(tmp_path, "out.json.x")  # ".out.json.x.<hex>.tmp" also starts with ".out.json."
    unrelated = tmp_path / ".out.json.notes.tmp"
    unrelated.write_text("mine")
    os.utime(unrelated, (0, 0))
    folder = tmp_path / f".out.json.{secrets.token_hex(8)}.tmp"
    folder.mkdir()
    os.utime(folder, (0, 0))
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists() and not legacy.exists()
    assert young.exists() and other.exists() and longer.exists() and unrelated.exists() and folder.is_dir()


@needs_flock
def test_a_locked_temporary_is_kept_whatever_its_age(tmp_path):
    target = tmp_path / "out.json"
    tmp = _orphan(tmp_path, "out.json", age_s=10 * 86400)
    with open(tmp, "rb") as held:
        locks.fcntl.flock(held.fileno(), locks.fcntl.LOCK_EX | locks.fcntl.LOCK_NB)
        atomic_write_text(target, "one")
        assert tmp.exists()
        assert atomic.remove_stale_temporaries(target, older_than_s=0) == []
    assert atomic.remove_stale_temporaries(target) == [tmp]
    assert not tmp.exists()


@needs_flock
def test_a_live_writers_temporary_survives_and_a_killed_writers_is_removed(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    child = subprocess.Popen([sys.executable, "-c", HANGING_WRITER, str(ATOMIC_FILE), str(target)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        [tmp] = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert re.fullmatch(r"\.out\.json\.[0-9a-f]{16}\.tmp", tmp.name)
        os.utime(tmp, (0, 0))  # as old as can be: only its lock says its writer is alive
        atomic_write_text(target, "mine")
        assert tmp.exists() and target.read_text() == "mine"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL and tmp.exists()
    atomic_write_text(target, "again")
    assert not tmp.exists() and target.read_text() == "again"
    assert _leftovers(tmp_path) == []


def test_a_folder_that_cannot_take_the_temporary_is_reported_by_the_targets_name(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    real_open = os.open

    def refuse(file, flags, *args, **kwargs):
        if str(file).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", refuse)
    with pytest.raises(PermissionError) as info:
        atomic_write_text(target, "x")
    monkeypatch.undo()
    assert info.value.filename == str(target) and ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
