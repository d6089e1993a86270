"""vqcore.io.tensors: safetensors files tagged with a format, read back only under that format."""
from __future__ import annotations

import re

import pytest
import torch

from vqcore.io.tensors import read_safetensors, write_safetensors


def _tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"weights": torch.randn(3, 4, generator=gen).T,  # not contiguous
            "counts": torch.arange(5), "flag": torch.tensor([True, False])}


def test_write_read_round_trip_keeps_tensors_and_metadata(tmp_path):
    path = tmp_path / "sub" / "model.safetensors"
    tensors = _tensors()
    assert write_safetensors(path, tensors, "test-format/1", {"note": "hello"}) == path
    meta, back = read_safetensors(path, "test-format/1")
    assert meta == {"format": "test-format/1", "note": "hello"}
    assert sorted(back) == sorted(tensors)
    for key, value in tensors.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value)
        assert back[key].device.type == "cpu"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_the_format_key_is_set_by_the_writer(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"x": torch.zeros(1)}, "mine/2")
    assert read_safetensors(path, "mine/2")[0] == {"format": "mine/2"}


def test_a_wrong_format_tag_names_the_file_and_both_formats(tmp_path):
    path = tmp_path / "other.safetensors"
    write_safetensors(path, {"x": torch.ones(2)}, "other/1")
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*'mine/1'.*'other/1'"):
        read_safetensors(path, "mine/1")


def test_a_missing_file_names_the_file(tmp_path):
    path = tmp_path / "missing.safetensors"
    with pytest.raises(ValueError, match=re.escape(repr(str(path))) + " is not a file"):
        read_safetensors(path, "mine/1")


def test_a_file_that_is_not_safetensors_names_the_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x00" * 3)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a safetensors file"):
        read_safetensors(path, "mine/1")


def test_the_format_tag_cannot_be_replaced(tmp_path):
    import pytest
    import torch

    from vqcore.io.tensors import write_safetensors

    with pytest.raises(ValueError, match="metadata: key 'format'"):
        write_safetensors(tmp_path / "x.safetensors", {"a": torch.zeros(2)}, "fmt/1", {"format": "other"})
    assert not (tmp_path / "x.safetensors").exists()
