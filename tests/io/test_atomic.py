"""vqcore.io.atomic: a write either replaces the whole file or leaves the old one as it was."""
from __future__ import annotations

import os
import stat

import pytest

from vqcore.io import atomic
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
