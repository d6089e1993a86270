"""vqcore.quantizers.replacement: codebook entries that training stopped choosing are revived."""
from __future__ import annotations

import torch

import vqcore


def test_replacement_revives_dead_entries():
    torch.manual_seed(0)
    q = vqcore.VQ(2, bits=3)
    with torch.no_grad():
        q.codebooks[0, 4:] = 100.0  # far away: never chosen
    x = torch.randn(256, 2)
    q.train()
    for _ in range(10):
        q(x)
    assert q.replace_unused_codebooks(num_batches=10) == 4
    assert float(q.codebooks[0, 4:].detach().abs().max()) < 50
    assert q.usage_batches.sum() == 0
    for _ in range(10):
        q(x)
    assert q.replace_unused_codebooks(num_batches=10, discard_threshold=0.0) == 0


def test_replacement_is_per_codebook(gen):
    q = vqcore.ResidualVQ(2, stages=2, bits_per_stage=2)
    with torch.no_grad():
        q.codebooks[1, 2:] = 1e3
    q.train()
    q(torch.randn(64, 2, generator=gen()) * 0.1)
    replaced = q.replace_unused_codebooks(1, discard_threshold=0.5)
    assert replaced >= 2 and float(q.codebooks[1].detach().abs().max()) < 1e3
