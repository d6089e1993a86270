"""vqcore.quantizers.residual (ResidualVQ): the greedy residual search."""
from __future__ import annotations

import torch

import vqcore


def test_rvq_equals_greedy_residual_search():
    torch.manual_seed(0)
    q = vqcore.ResidualVQ(10, stages=3, bits_per_stage=4)
    x = torch.randn(300, 10)
    residual = x.clone()
    expected = []
    for m in range(3):
        d = torch.cdist(residual, q.codebooks[m].detach())
        idx = d.argmin(1)
        expected.append(idx)
        residual = residual - q.codebooks[m].detach()[idx]
    assert torch.equal(q.encode(x), torch.stack(expected, 1))
    assert torch.allclose(q.quantize(x), x - residual, atol=1e-5)
