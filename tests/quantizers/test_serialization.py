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


@pytest.mark.parametrize("fill", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("make", [lambda: vqcore.VQ(8, 2), lambda: vqcore.ResidualVQ(8, 2, 2),
                                  lambda: vqcore.ProductVQ(8, 2, 2), lambda: vqcore.AdditiveVQ(8, 2, 2),
                                  lambda: vqcore.SpaceFillingVQ(8, 3)], ids=["VQ", "RVQ", "PVQ", "AVQ", "SFVQ"])
def test_save_refuses_codebooks_that_load_would_refuse(tmp_path, make, fill):
    q = make()
    with torch.no_grad():
        q.codebooks[0, 1, 0] = fill
    target = tmp_path / "diverged.safetensors"
    with pytest.raises(ValueError, match=re.escape(str(target))) as info:
        vqcore.save(q, target)
    assert type(q).__name__ in str(info.value) and "'codebooks'" in str(info.value)
    assert "NaN or inf" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


def test_save_refuses_the_other_values_load_refuses(tmp_path):
    ema = vqcore.ResidualVQ(4, 2, 2, estimator="ema")
    with torch.no_grad():
        ema.ema_cluster_size[0, 0] = -1.0
    with pytest.raises(ValueError, match="ResidualVQ.*'ema_cluster_size'.*negative"):
        vqcore.save(ema, tmp_path / "e.safetensors")
    big = vqcore.VQ(4, 2)
    with torch.no_grad():
        big.codebooks[0, 0] = 1e30  # finite, but its squared norm overflows float32
    with pytest.raises(ValueError, match="too large to search"):
        vqcore.save(big, tmp_path / "b.safetensors")
    sfvq = vqcore.SpaceFillingVQ(4, 3)
    sfvq._num_active.fill_(3)
    with pytest.raises(ValueError, match="'_num_active'"):
        vqcore.save(sfvq, tmp_path / "s.safetensors")
    assert list(tmp_path.iterdir()) == []
    good = vqcore.ResidualVQ(4, 2, 2, estimator="ema")  # and a valid one still round-trips
    back = vqcore.load(vqcore.save(good, tmp_path / "ok.safetensors"))
    assert torch.equal(back.codebooks, good.codebooks) and torch.equal(back.ema_cluster_size, good.ema_cluster_size)
