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


# -- untrusted files: the header is checked before any tensor is read -----------------------------------
def _raw_file(path, header: dict, data: bytes = b"") -> None:
    import json
    import struct

    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_a_header_claiming_huge_tensors_names_the_file(tmp_path):
    path = tmp_path / "huge.safetensors"
    _raw_file(path, {"__metadata__": {"format": "mine/1"},
                     "w": {"dtype": "F32", "shape": [1, 2 ** 24, 64], "data_offsets": [0, 2 ** 32]}})
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": not a safetensors file"):
        read_safetensors(path, "mine/1")


def test_max_bytes_refuses_before_reading(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"a": torch.zeros(10), "b": torch.zeros(5, dtype=torch.float64)}, "mine/1")
    assert sorted(read_safetensors(path, "mine/1", max_bytes=80)[1]) == ["a", "b"]
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*80 bytes.*max_bytes=79"):
        read_safetensors(path, "mine/1", max_bytes=79)


def test_check_sees_the_header_and_can_refuse_before_reading(tmp_path):
    from vqcore.io.tensors import TensorHeader

    path = tmp_path / "c.safetensors"
    write_safetensors(path, {"w": torch.zeros(2, 3, dtype=torch.float16), "n": torch.tensor(4)}, "mine/1", {"k": "v"})
    seen = []
    read_safetensors(path, "mine/1", check=lambda meta, headers: seen.append((meta, headers)))
    assert seen == [({"format": "mine/1", "k": "v"}, {"w": TensorHeader("F16", (2, 3)), "n": TensorHeader("I64", ())})]
    assert seen[0][1]["w"].nbytes == 12

    def refuse(meta, headers):
        raise ValueError(f"{path}: no thanks")

    read = []
    with pytest.raises(ValueError, match="no thanks"):
        read_safetensors(path, "mine/1", check=refuse)
    # the wrong format is refused before check runs
    read_safetensors(path, "mine/1", check=lambda m, h: read.append(1))
    with pytest.raises(ValueError, match="'format'"):
        read_safetensors(path, "other/1", check=lambda m, h: read.append(2))
    assert read == [1]


@pytest.mark.parametrize("bad", [3, None, b"x"], ids=["int", "none", "bytes"])
def test_a_path_of_the_wrong_type_is_named(bad):
    with pytest.raises(ValueError, match="path"):
        read_safetensors(bad, "mine/1")
    with pytest.raises(ValueError, match="path"):
        write_safetensors(bad, {"a": torch.zeros(1)}, "mine/1")


def test_writing_into_a_folder_or_below_a_file_names_the_target(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "dir")) + ": cannot write the file") as info:
        write_safetensors(tmp_path / "dir", {"a": torch.zeros(1)}, "mine/1")
    assert ".tmp" not in str(info.value) and isinstance(info.value.__cause__, OSError)
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "m.safetensors"
    with pytest.raises(ValueError, match=re.escape(str(target)) + ": cannot write the file"):
        write_safetensors(target, {"a": torch.zeros(1)}, "mine/1")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_metadata_and_tensors_are_named(tmp_path):
    with pytest.raises(ValueError, match="metadata: keys and values must be strings.*'n': 3"):
        write_safetensors(tmp_path / "x.safetensors", {"a": torch.zeros(1)}, "mine/1", {"n": 3})
    with pytest.raises(ValueError, match="tensors: .*'a': list"):
        write_safetensors(tmp_path / "x.safetensors", {"a": [1.0]}, "mine/1")
    assert not (tmp_path / "x.safetensors").exists()
