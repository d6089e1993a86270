"""vqcore.quantizers.packing: codes packed into exactly ``bits`` bits per vector."""
from __future__ import annotations

import math

import pytest
import torch

import vqcore
from vqcore.quantizers.packing import pack_codes, unpack_codes


def test_pack_unpack_round_trip_uses_exactly_bits_per_vector(q):
    x = torch.randn(37, 8)
    codes = q.encode(x)
    data = q.pack(codes)
    assert len(data) == math.ceil(37 * q.bits / 8)
    assert torch.equal(q.unpack(data, 37), codes)
    with pytest.raises(ValueError, match="bytes"):
        q.unpack(data + b"\0", 37)


def test_packing_handles_odd_widths():
    codes = torch.tensor([[1, 0, 5], [0, 3, 7], [1, 2, 0]])
    data = pack_codes(codes, [1, 2, 3])
    assert len(data) == 3 * 6 // 8 + 1
    assert torch.equal(unpack_codes(data, 3, [1, 2, 3]), codes)
    assert data[0] >> 2 == 0b100101  # MSB first: 1 | 00 | 101


def test_packed_size_and_bad_widths_or_codes():
    assert vqcore.packed_size(3, [1, 2, 3]) == 3
    assert vqcore.packed_size(0, [8]) == 0
    with pytest.raises(ValueError, match="bits_per_field"):
        pack_codes(torch.zeros(2, 1, dtype=torch.long), [0])
    with pytest.raises(ValueError, match="out of range"):
        pack_codes(torch.tensor([[4]]), [2])
    with pytest.raises(ValueError, match="num_vectors"):
        unpack_codes(b"", -1, [2])
