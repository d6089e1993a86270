"""Mixed precision: under torch.autocast the searches run in float32, so codes equal the float32 codes.

CPU autocast lowers matrix products to bfloat16; the nearest-codeword scores of random vectors
then pick a different codeword for a few percent of them (``test_bfloat16_scores_would_change_codes``
shows this data is sensitive). The CUDA cases (float16, bfloat16) run where a GPU is present.
"""
from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch

import vqcore
from vqcore.quantizers.nearest import nearest, squared_distances


def _sfvq() -> vqcore.SpaceFillingVQ:
    q = vqcore.SpaceFillingVQ(16, bits=7)
    while not q.fully_grown:
        q.grow()
    return q


QUANTIZERS: dict[str, Callable[[], vqcore.Quantizer]] = {
    "VQ": lambda: vqcore.VQ(16, bits=9),
    "ResidualVQ": lambda: vqcore.ResidualVQ(16, stages=3, bits_per_stage=6),
    "AdditiveVQ": lambda: vqcore.AdditiveVQ(16, stages=3, bits_per_stage=5, beam_width=4),
    "ProductVQ": lambda: vqcore.ProductVQ(16, stages=4, bits_per_stage=6),
    "SpaceFillingVQ": _sfvq,
}

CASES = [("cpu", torch.bfloat16)] + [
    pytest.param("cuda", dtype, marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                           reason="needs a CUDA device")])
    for dtype in (torch.float16, torch.bfloat16)]


def _data(device: str, n: int = 2048) -> torch.Tensor:
    return torch.randn(n, 16, generator=torch.Generator().manual_seed(0)).to(device)


def test_bfloat16_scores_would_change_codes():
    """The data of these tests tells float32 from bfloat16 scores (so the tests below can fail)."""
    x = _data("cpu")
    books = torch.randn(512, 16, generator=torch.Generator().manual_seed(1))
    norms = (books * books).sum(-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lowered = torch.addmm(norms, x, books.T, alpha=-2.0)
    assert lowered.dtype == torch.bfloat16
    assert (lowered.argmin(-1) != nearest(x, books)).float().mean() > 0.005


@pytest.mark.parametrize("device,dtype", CASES)
def test_nearest_and_distances_ignore_autocast(device: str, dtype: torch.dtype):
    x = _data(device)
    books = torch.randn(3, 512, 16, generator=torch.Generator().manual_seed(1)).to(device)
    expected, distances = nearest(x, books[0]), squared_distances(x, books[0])
    batched = nearest(x.expand(3, -1, -1), books)
    with torch.autocast(device, dtype=dtype):
        assert torch.equal(nearest(x, books[0]), expected)
        assert torch.equal(nearest(x.expand(3, -1, -1), books), batched)
        got = squared_distances(x, books[0])
        assert torch.is_autocast_enabled(device)  # left on for the code around the search
    assert got.dtype == torch.float32 and torch.equal(got, distances)
    # lower-precision inputs are searched in float32 too
    assert torch.equal(nearest(x.to(dtype), books[0].to(dtype)), nearest(x.to(dtype).float(), books[0].to(dtype).float()))


@pytest.mark.parametrize("device,dtype", CASES)
@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_codes_under_autocast_equal_float32_codes(name: str, device: str, dtype: torch.dtype):
    torch.manual_seed(2)
    q = QUANTIZERS[name]().to(device)
    x = _data(device)
    with torch.autocast(device, dtype=dtype):  # first: AVQ builds its search tables under autocast
        codes = q.encode(x)
        quantized = q.quantize(x)
        torch.manual_seed(3)
        out = q(x)
        decoded = q.decode(codes)
    assert codes.dtype == torch.long
    assert torch.equal(codes, q.encode(x))
    assert quantized.dtype == torch.float32 and torch.equal(quantized, q.quantize(x))
    assert decoded.dtype == q.codebooks.dtype and torch.equal(decoded, q.decode(codes))
    q_ref = copy.deepcopy(q)
    torch.manual_seed(3)
    ref = q_ref(x)
    assert torch.equal(out.codes, ref.codes)
    for field in ("output", "quantized", "loss"):
        assert getattr(out, field).dtype == torch.float32, field
        assert torch.equal(getattr(out, field), getattr(ref, field)), field


@pytest.mark.parametrize("device,dtype", CASES)
def test_sfvq_projection_under_autocast(device: str, dtype: torch.dtype):
    q = _sfvq().to(device)
    x = _data(device)
    point, index = q.project(x)
    with torch.autocast(device, dtype=dtype):
        got_point, got_index = q.project(x)
    assert got_point.dtype == torch.float32 and got_index.dtype == torch.float32
    assert torch.equal(got_point, point) and torch.equal(got_index, index)


def test_float64_input_under_autocast_stays_float64():
    q = vqcore.ResidualVQ(16, stages=2, bits_per_stage=6)
    x = _data("cpu").double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        quantized, out = q.quantize(x), q(x)
    assert quantized.dtype == torch.float64 and out.output.dtype == torch.float64
    assert torch.equal(quantized, q.quantize(x))


def test_ema_update_under_autocast_equals_float32():
    torch.manual_seed(4)
    q = vqcore.VQ(16, bits=5, estimator="ema")
    q_ref = copy.deepcopy(q)
    x = _data("cpu", 512)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q(x)
    q_ref(x)
    assert torch.equal(q.codebooks, q_ref.codebooks)
