"""vqcore.quantizers.space_filling (SpaceFillingVQ): the curve, its growth and its training pass.

The curve trained by vqcore.training.fit_sfvq is tested in tests/test_training.py.
"""
from __future__ import annotations

import pytest
import torch

import vqcore
from vqcore.quantizers.space_filling import decode_curve


def test_sfvq_doubling_keeps_old_vertices_and_adds_twins(gen):
    q = vqcore.SpaceFillingVQ(2, bits=3, eps=0.1)
    q.init_from_data(torch.randn(400, 2, generator=gen()))
    old = q.vertices.detach().clone()
    assert q.grow() == 8
    new = q.vertices.detach()
    assert torch.allclose(new[0::2][:2], old[:2]) and torch.allclose(new[1::2][2:], old[2:])
    assert torch.allclose(new[1], 0.9 * old[0] + 0.1 * old[1])  # twin eps along the curve
    assert torch.allclose(new[4], 0.1 * old[1] + 0.9 * old[2])
    with pytest.raises(ValueError, match="already has all"):
        q.grow()


def test_sfvq_initial_vertices_are_norm_group_means(gen):
    x = torch.randn(400, 3, generator=gen(2))
    q = vqcore.SpaceFillingVQ(3, bits=4)
    q.init_from_data(x)
    order = x.norm(dim=1).argsort()
    assert torch.allclose(q.vertices[0], x[order[:100]].mean(0))
    assert torch.allclose(q.vertices[3], x[order[300:]].mean(0))


def test_sfvq_training_reduces_error_and_reaches_both_vertices():
    torch.manual_seed(0)
    q = vqcore.SpaceFillingVQ(2, bits=3)
    q.init_from_data(torch.randn(100, 2))
    out = q(torch.randn(64, 2))
    out.quantized.pow(2).sum().backward()
    assert (q.codebooks.grad[0, :4].abs().sum(-1) > 0).sum() >= 2
    assert "fractional_index" in out.extras and out.codes.shape == (64, 1)


def test_decode_curve_interpolates_between_neighbouring_vertices():
    vertices = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    points = decode_curve(vertices, torch.tensor([0.0, 0.5, 1.25, 2.0]))
    assert torch.allclose(points, torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.5], [1.0, 2.0]]))


def test_sfvq_has_no_codebook_replacement():
    with pytest.raises(RuntimeError, match="order"):
        vqcore.SpaceFillingVQ(2, bits=3).replace_unused_codebooks(1)
