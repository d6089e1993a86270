"""vqcore.quantizers.product (ProductVQ): one codebook per contiguous part."""
from __future__ import annotations

import torch

import vqcore


def test_pvq_equals_per_part_nearest_search():
    torch.manual_seed(0)
    q = vqcore.ProductVQ(12, stages=3, bits_per_stage=4)
    x = torch.randn(300, 12)
    parts = x.reshape(300, 3, 4)
    expected = torch.stack([torch.cdist(parts[:, m], q.codebooks[m].detach()).argmin(1) for m in range(3)], 1)
    assert torch.equal(q.encode(x), expected)
    assert torch.allclose(q.quantize(x).reshape(300, 3, 4)[:, 1], q.codebooks[1][expected[:, 1]])
