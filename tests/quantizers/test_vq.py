"""vqcore.quantizers.vq (VQ) and the nearest-codeword search it uses (vqcore.quantizers.nearest)."""
from __future__ import annotations

import torch

import vqcore
from vqcore.quantizers.nearest import nearest, squared_distances


def test_vq_is_nearest_codeword_and_batched_nearest_agrees():
    torch.manual_seed(0)
    q = vqcore.VQ(5, bits=5)
    x = torch.randn(4, 7, 5)
    codes = q.encode(x)
    assert codes.shape == (4, 7, 1)
    expected = torch.cdist(x.reshape(-1, 5), q.codebooks[0].detach()).argmin(1)
    assert torch.equal(codes.reshape(-1), expected)
    books = torch.randn(3, 6, 5)
    pts = torch.randn(3, 20, 5)
    assert torch.equal(nearest(pts, books), torch.stack([torch.cdist(pts[i], books[i]).argmin(1) for i in range(3)]))


def test_squared_distances_match_cdist_and_are_never_negative():
    x = torch.randn(2, 30, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    books = torch.randn(2, 9, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    d = squared_distances(x, books)
    assert d.shape == (2, 30, 9)
    assert torch.allclose(d, torch.cdist(x, books) ** 2)
    assert bool((squared_distances(books[0], books[0]) >= 0).all())
