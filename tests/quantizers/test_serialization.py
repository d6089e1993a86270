"""vqcore.quantizers.serialization: save and load without pickle."""
from __future__ import annotations

import pytest
import torch

import vqcore


def test_save_load_round_trip(q, tmp_path):
    if isinstance(q, vqcore.SpaceFillingVQ):
        q.init_from_data(torch.randn(100, 8))
        q.grow()
    path = vqcore.save(q, tmp_path / "q.safetensors")
    back = vqcore.load(path)
    assert type(back) is type(q) and back.config() == q.config()
    x = torch.randn(40, 8)
    assert torch.equal(back.encode(x), q.encode(x))
    assert torch.allclose(back.quantize(x), q.quantize(x))
    assert not list(tmp_path.glob("*.tmp"))


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors"):
        vqcore.load(bad)
    with pytest.raises(ValueError, match="not a file"):
        vqcore.load(tmp_path / "missing.safetensors")
