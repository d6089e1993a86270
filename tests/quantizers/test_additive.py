"""vqcore.quantizers.additive (AdditiveVQ): its beam search, its options and their persistence.

The search functions themselves are tested in test_beam_search.py.
"""
from __future__ import annotations

import pytest
import torch

import vqcore
from vqcore.quantizers.beam_search import additive_beam_search, additive_exhaustive_search


def test_avq_beam_wider_than_candidates_at_hand():
    torch.manual_seed(1)
    q = vqcore.AdditiveVQ(6, stages=2, bits_per_stage=3, beam_width=16)  # 8-entry codebooks, beam 16
    x = torch.randn(100, 6)
    exhaustive = additive_exhaustive_search(x.double(), q.codebooks.detach().double())
    assert torch.equal(q.encode(x), exhaustive)


def test_avq_beam_codes_are_consistent_with_reported_error():
    torch.manual_seed(3)
    q = vqcore.AdditiveVQ(8, stages=3, bits_per_stage=2, beam_width=2)
    x = torch.randn(50, 8)
    codes = q.encode(x)
    assert codes.shape == (50, 3) and codes.dtype == torch.long
    assert torch.allclose(q.decode(codes), q.codebooks[torch.arange(3), codes].sum(1))


def test_avq_ordered_track_option_is_kept_and_checked(tmp_path, gen):
    q = vqcore.AdditiveVQ(6, stages=3, bits_per_stage=2, beam_width=2, ordered_track=True)
    x = torch.randn(40, 6, generator=gen(2))
    assert torch.equal(q.encode(x), additive_beam_search(x, q.codebooks.detach(), 2, ordered=True))
    vqcore.save(q, tmp_path / "avq.safetensors")
    assert vqcore.load(tmp_path / "avq.safetensors").ordered_track is True
    with pytest.raises(ValueError, match="ordered_track"):
        vqcore.AdditiveVQ(6, stages=3, bits_per_stage=2, ordered_track="yes")


def test_avq_searches_with_the_ordered_track_by_default(gen):
    """The default is never worse than a fixed-order beam search on the same codebooks."""
    q = vqcore.AdditiveVQ(6, stages=3, bits_per_stage=2, beam_width=1)
    assert q.ordered_track is True and q.config()["ordered_track"] is True
    x = torch.randn(300, 6, generator=gen(5))
    stage = torch.arange(3)
    books = q.codebooks.detach()

    def err(codes):
        return ((books[stage, codes].sum(1) - x) ** 2).sum(-1)

    free = additive_beam_search(x, books, 1, ordered=False)
    codes = q.encode(x)
    assert torch.equal(codes, additive_beam_search(x, books, 1, ordered=True))
    assert (err(codes) <= err(free)).all()
    residual = vqcore.ResidualVQ(6, 3, 2)
    residual.codebooks.data.copy_(books)
    assert (err(codes) <= err(residual.encode(x)) + 1e-5).all()  # beam 1 in fixed order: the greedy RVQ
