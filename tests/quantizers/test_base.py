"""vqcore.quantizers.base: what every quantizer shares (shapes, dtypes, bits, devices)."""
from __future__ import annotations

import pytest
import torch


def test_shapes_dtypes_and_bits(q):
    x = torch.randn(2, 3, 8, dtype=torch.bfloat16)
    codes = q.encode(x)
    assert codes.shape == (2, 3, q.num_stages) and codes.dtype == torch.long
    assert q.decode(codes).shape == (2, 3, 8)
    assert q.quantize(x).dtype == torch.float32
    assert q.quantize(x.double()).dtype == torch.float64
    assert q.bits == q.num_stages * q.bits_per_stage


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu(q):
    x = torch.randn(500, 8)
    cpu_codes = q.encode(x)
    q_gpu = q.to("cuda")
    assert torch.equal(q_gpu.encode(x.cuda()).cpu(), cpu_codes)
    out = q_gpu(x.cuda())
    assert out.output.device.type == "cuda"
