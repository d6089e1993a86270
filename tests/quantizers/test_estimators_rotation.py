"""vqcore.quantizers.estimators.rotation_trick: the rotation trick (Fifty et al., ICLR 2025) on every
quantizer: forward value q, the input gradient rotated and rescaled as the explicit matrix does,
codebooks trained by the codebook loss."""
from __future__ import annotations

import pytest
import torch

from tests.helpers import need
from tests.quantizers.test_estimators_diveq import SPECS, make, norms, train_briefly
from vqcore.quantizers import estimators


def explicit_rotation(x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the ``D x D`` matrix ``R = I - 2 w w^T + 2 v u^T`` and the scale ``||q|| / ||x||``:
    ``(N, D, D), (N,)``."""
    u = x / norms(x).unsqueeze(-1)
    v = q / norms(q).unsqueeze(-1)
    w = (u + v) / norms(u + v).unsqueeze(-1)
    eye = torch.eye(x.shape[-1], dtype=x.dtype).expand(x.shape[0], -1, -1)
    rot = eye - 2 * w.unsqueeze(-1) * w.unsqueeze(-2) + 2 * v.unsqueeze(-1) * u.unsqueeze(-2)
    return rot, norms(q) / norms(x)


def test_the_input_gradient_is_the_rotated_and_rescaled_output_gradient(gen):
    x = torch.randn(12, 5, dtype=torch.float64, generator=gen(0)).requires_grad_(True)
    q = torch.randn(12, 5, dtype=torch.float64, generator=gen(1))
    g = torch.randn(12, 5, dtype=torch.float64, generator=gen(2))
    rot, scale = explicit_rotation(x.detach(), q)
    # R is a proper rotation that takes x's direction to q's, and s R x = q
    assert torch.allclose(rot.transpose(1, 2) @ rot, torch.eye(5, dtype=torch.float64).expand(12, -1, -1), atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(12, dtype=torch.float64))
    assert torch.allclose(scale.unsqueeze(-1) * (rot @ x.detach().unsqueeze(-1)).squeeze(-1), q, atol=1e-12)
    output, _ = estimators.rotation_trick(x, q)
    assert torch.equal(output, q)
    (output * g).sum().backward()
    want = scale.unsqueeze(-1) * (rot.transpose(1, 2) @ g.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(x.grad, want, atol=1e-12)
    assert torch.allclose(norms(x.grad), scale * norms(g), atol=1e-12)  # a rotation keeps the norm


def test_degenerate_rows(gen):
    """x = 0: the gradient passes straight through; q = 0: zero gradient; q along -x: R still maps u to v."""
    x = torch.randn(3, 4, dtype=torch.float64, generator=gen(0))
    q = torch.randn(3, 4, dtype=torch.float64, generator=gen(1))
    x[0] = 0.0
    q[1] = 0.0
    q[2] = -2.5 * x[2]
    x.requires_grad_(True)
    g = torch.randn(3, 4, dtype=torch.float64, generator=gen(2))
    output, _ = estimators.rotation_trick(x, q)
    assert torch.equal(output, q)
    (output * g).sum().backward()
    assert torch.allclose(x.grad[0], g[0])
    assert torch.equal(x.grad[1], torch.zeros(4, dtype=torch.float64))
    u = x[2].detach() / norms(x[2].detach())
    v = -u  # q's direction; with w = 0, R = I + 2 v u^T and R^T g = g + 2 (v . g) u
    assert torch.allclose(x.grad[2], 2.5 * (g[2] + 2 * (v @ g[2]) * u), atol=1e-12)
    assert bool(torch.isfinite(x.grad).all())


def test_agrees_with_vector_quantize_pytorch(gen):
    """lucidrains' rotate_to (vector-quantize-pytorch) builds the same map: same values and input gradients."""
    need("vector-quantize-pytorch")
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to

    x = torch.randn(64, 8, generator=gen(0))
    q = torch.randn(64, 8, generator=gen(1))
    g = torch.randn(64, 8, generator=gen(2))
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, _ = estimators.rotation_trick(x1, q)
    theirs = rotate_to(x2, q)
    assert torch.allclose(ours, theirs, atol=1e-5)
    (ours * g).sum().backward()
    (theirs * g).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)


@pytest.mark.parametrize("name", list(SPECS))
def test_every_quantizer_rotation_forward_and_gradients(name):
    torch.manual_seed(0)
    q = make(name, "rotation", beta=0.5)
    x = torch.randn(32, 8, requires_grad=True)
    out = q(x)
    assert torch.equal(out.output, out.quantized.detach())  # the forward value is q, exactly
    codebook_loss = float(((x.detach() - out.quantized.detach()) ** 2).mean())
    assert out.loss.item() == pytest.approx(1.5 * codebook_loss, rel=1e-5)  # codebook + beta commitment
    out.output.pow(2).sum().backward(retain_graph=True)
    assert x.grad.abs().sum() > 0
    assert q.codebooks.grad is None or float(q.codebooks.grad.abs().sum()) == 0.0  # R and s are constants
    out.loss.backward()
    assert q.codebooks.grad.abs().sum() > 0  # the codebook loss trains the codebooks


@pytest.mark.parametrize("name", list(SPECS))
def test_every_quantizer_trains_with_rotation(name):
    torch.manual_seed(0)
    before, after = train_briefly(make(name, "rotation"))
    assert after < 0.5 * before, (before, after)
