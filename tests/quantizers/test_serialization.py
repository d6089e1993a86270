"""vqcore.quantizers.serialization: save and load without pickle."""
from __future__ import annotations

import re

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


def test_load_draws_the_random_numbers_a_constructor_draws(q, tmp_path):
    """Loading a valid file behaves as before the checks: one constructor call, same random stream."""
    path = vqcore.save(q, tmp_path / "q.safetensors")
    torch.manual_seed(3)
    vqcore.load(path)
    after_load = torch.rand(4)
    torch.manual_seed(3)
    type(q)(**q.config())
    assert torch.equal(torch.rand(4), after_load)


def test_every_failure_of_load_names_the_file(q, tmp_path):
    path = vqcore.save(q, tmp_path / "q.safetensors")
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*max_values=1"):
        vqcore.load(path, max_values=1)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*device"):
        vqcore.load(path, device="bogus")
    assert vqcore.load(path, max_values=vqcore.quantizers.serialization.MAX_VALUES).config() == q.config()
