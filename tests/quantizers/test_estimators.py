"""vqcore.quantizers.estimators: noise substitution (NSVQ), straight-through (STE) and EMA updates."""
from __future__ import annotations

import pytest
import torch

import vqcore


def test_nsvq_output_has_exactly_the_hard_error_norm_and_grads_reach_codebooks(q):
    torch.manual_seed(0)
    x = torch.randn(64, 8, requires_grad=True)
    out = q(x)
    hard = torch.linalg.vector_norm(x - out.quantized, dim=-1)
    noisy = torch.linalg.vector_norm(out.output - x, dim=-1)
    assert torch.allclose(hard, noisy, rtol=1e-5, atol=1e-6)
    out.output.pow(2).sum().backward()
    assert q.codebooks.grad is not None and q.codebooks.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("cls,kwargs", [
    (vqcore.VQ, {"bits": 4}),
    (vqcore.ResidualVQ, {"stages": 2, "bits_per_stage": 3}),
    (vqcore.AdditiveVQ, {"stages": 2, "bits_per_stage": 3, "beam_width": 4}),
    (vqcore.ProductVQ, {"stages": 2, "bits_per_stage": 3}),
])
def test_ste_forward_equals_hard_quantization_with_losses(cls, kwargs):
    torch.manual_seed(0)
    q = cls(8, estimator="ste", **kwargs)
    x = torch.randn(32, 8, requires_grad=True)
    out = q(x)
    assert torch.allclose(out.output, q.quantize(x.detach()), atol=1e-6)
    assert out.loss.item() > 0
    out.loss.backward()
    assert q.codebooks.grad.abs().sum() > 0  # codebook loss trains the codebook
    x.grad = None
    q(x).output.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))  # straight through


@pytest.mark.parametrize("cls,kwargs", [(vqcore.VQ, {"bits": 3}), (vqcore.ResidualVQ, {"stages": 2, "bits_per_stage": 2})])
def test_ema_moves_codebooks_towards_their_data(cls, kwargs):
    torch.manual_seed(0)
    q = cls(4, estimator="ema", ema_decay=0.5, **kwargs)
    assert not q.codebooks.requires_grad
    x = torch.randn(512, 4) + 3.0
    before = q.quantize(x).sub(x).pow(2).mean().item()
    q.train()
    for _ in range(30):
        q(x)
    assert q.quantize(x).sub(x).pow(2).mean().item() < 0.5 * before
    with pytest.raises(ValueError, match="estimator"):
        vqcore.AdditiveVQ(4, 2, 2, estimator="ema")


@pytest.mark.parametrize("cls,kwargs", [(vqcore.VQ, {"bits": 6}), (vqcore.ResidualVQ, {"stages": 2, "bits_per_stage": 6})])
def test_ema_entries_unused_in_the_first_step_keep_their_place(cls, kwargs):
    # The running counts start at one vector per entry: an entry no vector chose is not divided by
    # the smoothing constant (it used to jump to ~1e4 times its norm after one step).
    torch.manual_seed(0)
    q = cls(16, estimator="ema", **kwargs)
    before = q.codebooks.detach().clone()
    q.train()
    out = q(torch.randn(64, 16))
    chosen = torch.zeros(q.num_stages, q.codebook_size, dtype=torch.bool)
    chosen.scatter_(1, out.codes.T, True)
    unused = ~chosen
    assert unused.any()
    after = q.codebooks.detach()
    assert torch.allclose(after[unused], before[unused], rtol=1e-3, atol=1e-4)
    assert after.norm(dim=-1).max() < 2 * before.norm(dim=-1).max()
