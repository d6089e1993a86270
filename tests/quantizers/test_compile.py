"""torch.compile(fullgraph=True) of encode, decode, quantize and forward for VQ, RVQ, PVQ and SFVQ.

Compiled on CPU with the inductor backend where a C++ compiler is present (else aot_eager), and
compared with eager: codes exactly, floats to float32 rounding. The value checks are skipped
while tracing (vqcore.quantizers.checks); the eager checks are tested elsewhere.
"""
from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable

import pytest
import torch

import vqcore

#: inductor needs the C++ compiler it calls (``$CXX`` or g++); without one, aot_eager traces the same graph
BACKEND = "inductor" if shutil.which(os.environ.get("CXX", "g++")) else "aot_eager"


def _sfvq() -> vqcore.SpaceFillingVQ:
    q = vqcore.SpaceFillingVQ(8, bits=5)
    q.grow()  # 8 of 32 vertices: encode and decode see part of the codebook
    return q


QUANTIZERS: dict[str, Callable[[], vqcore.Quantizer]] = {
    "VQ": lambda: vqcore.VQ(8, bits=6),
    "ResidualVQ": lambda: vqcore.ResidualVQ(8, stages=3, bits_per_stage=4),
    "ProductVQ": lambda: vqcore.ProductVQ(8, stages=2, bits_per_stage=4),
    "SpaceFillingVQ": _sfvq,
}


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    import torch._inductor.config as inductor_config
    torch._dynamo.reset()
    # the compiled code draws its random numbers (NSVQ noise, SFVQ dither) as eager code does
    with inductor_config.patch(fallback_random=True):
        yield
    torch._dynamo.reset()


def _compiled(fn: Callable) -> Callable:
    return torch.compile(fn, fullgraph=True, backend=BACKEND)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_encode_decode_quantize_compile_and_match_eager(name: str):
    torch.manual_seed(0)
    q = QUANTIZERS[name]().eval()
    x = torch.randn(4, 16, 8)
    codes = q.encode(x)
    assert torch.equal(_compiled(q.encode)(x), codes)
    decoded = q.decode(codes)
    compiled_decoded = _compiled(q.decode)(codes)
    assert compiled_decoded.dtype == decoded.dtype and compiled_decoded.shape == decoded.shape
    torch.testing.assert_close(compiled_decoded, decoded, rtol=0, atol=0)  # a gather: exact
    torch.testing.assert_close(_compiled(q.quantize)(x), q.quantize(x))


@pytest.mark.slow
def test_product_decode_of_strided_codes_compiles():
    # PVQ's gather met a stride mismatch under compile for non-contiguous codes
    q = QUANTIZERS["ProductVQ"]().eval()
    codes = q.encode(torch.randn(16, 4, 8, generator=torch.Generator().manual_seed(3)))
    strided = codes.transpose(0, 1).contiguous().transpose(0, 1)
    assert not strided.is_contiguous()
    assert torch.equal(_compiled(q.decode)(strided), q.decode(codes))


def _assert_outputs_match(compiled: vqcore.QuantizerOutput, eager: vqcore.QuantizerOutput) -> None:
    assert torch.equal(compiled.codes, eager.codes)
    for field in ("output", "quantized", "loss", "perplexity"):
        torch.testing.assert_close(getattr(compiled, field), getattr(eager, field))
    assert compiled.extras.keys() == eager.extras.keys()
    for key, value in eager.extras.items():
        torch.testing.assert_close(compiled.extras[key], value)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_training_forward_compiles_and_matches_eager(name: str):
    torch.manual_seed(1)
    eager = QUANTIZERS[name]().train()
    model = copy.deepcopy(eager)
    x = torch.randn(32, 8, requires_grad=True)
    torch.manual_seed(2)
    expected = eager(x)
    torch.manual_seed(2)
    got = torch.compile(model, fullgraph=True, backend=BACKEND)(x)
    _assert_outputs_match(got, expected)
    assert torch.equal(model.usage_batches, eager.usage_batches)  # the training bookkeeping ran once
    # gradients reach the codebooks and the input through the compiled graph as in eager
    grad_eager = torch.autograd.grad(expected.output.square().sum(), [x, eager.codebooks])
    grad_compiled = torch.autograd.grad(got.output.square().sum(), [x, model.codebooks])
    for g_c, g_e in zip(grad_compiled, grad_eager):
        torch.testing.assert_close(g_c, g_e)


@pytest.mark.slow
def test_value_checks_are_skipped_only_while_tracing():
    q = vqcore.VQ(4, bits=3).eval()
    bad = torch.full((2, 4), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        q.encode(bad)
    compiled = _compiled(q.encode)
    assert compiled(bad).shape == (2, 1)  # no read-back inside the graph: NaN is not refused there
    # the static checks still run while tracing; with fullgraph=True torch.compile reports the
    # ValueError they raise as its own error, with the check's message in the chain of causes
    with pytest.raises(RuntimeError) as caught:
        compiled(torch.zeros(2, 5))
    causes = []
    err: BaseException | None = caught.value
    while err is not None:
        causes.append(str(err))
        err = err.__cause__
    assert any("x must have last dimension 4" in c for c in causes)
