"""vqcore.quantizers.packing: codes packed into exactly ``bits`` bits per vector."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vqcore
from vqcore.quantizers.packing import (MAX_MESSAGE_FIELDS, MESSAGE_MAGIC, MESSAGE_VERSION, pack_codes, pack_message,
                                       packed_size, unpack_codes, unpack_message)


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


# -- bad input: one test per class, each a ValueError that names the argument -------------------------
@pytest.mark.parametrize("codes", [torch.tensor([[1.7, 0.0]]), np.array([[1.0, 0.0]]), [[1.0, 0]],
                                   torch.tensor([[True, False]]), [[True, 0]], np.array([[1 + 0j, 0]])],
                         ids=["torch-float", "numpy-float", "list-float", "torch-bool", "list-bool", "complex"])
def test_non_integer_codes_are_refused_not_truncated(codes):
    with pytest.raises(ValueError, match="codes must"):
        pack_codes(codes, [2, 2])
    with pytest.raises(ValueError, match="codes must"):
        pack_message(codes, [2, 2])


@pytest.mark.parametrize("widths", [[5.0], [3.9], [True], [np.float64(4)], [0], [-3], [64], [2**70], ["8"], [None],
                                    [], 8, "8", None, {8}, np.array([[8]]), np.array([8.0])])
def test_bit_widths_must_be_integers_in_range(widths):
    codes = torch.zeros(1, 1, dtype=torch.long)
    with pytest.raises(ValueError, match="bits_per_field"):
        pack_codes(codes, widths)
    with pytest.raises(ValueError, match="bits_per_field"):
        packed_size(1, widths)
    with pytest.raises(ValueError, match="bits_per_field"):
        unpack_codes(b"\0", 1, widths)
    with pytest.raises(ValueError, match="bits_per_field"):
        pack_message(codes, widths)


def test_numpy_integer_widths_and_counts_are_accepted():
    assert packed_size(np.int64(3), (np.int32(1), np.uint8(2), 3)) == 3
    assert packed_size(2, np.array([63, 1])) == 16
    data = pack_codes([[2**63 - 1, 1]], [63, 1])
    assert data == b"\xff" * 8 and unpack_codes(data, np.int64(1), [63, 1]).tolist() == [[2**63 - 1, 1]]


@pytest.mark.parametrize("count", [-5, -1, 2.0, True, None, "3"])
def test_packed_size_refuses_bad_counts(count):
    with pytest.raises(ValueError, match="num_vectors"):
        packed_size(count, [8])
    with pytest.raises(ValueError, match="num_vectors"):
        unpack_codes(b"", count, [8])


def test_numpy_arrays_and_nested_lists_are_accepted_as_codes():
    expected = pack_codes(torch.tensor([[1, 0, 5], [0, 3, 7]]), [1, 2, 3])
    for codes in ([[1, 0, 5], [0, 3, 7]], ((1, 0, 5), (0, 3, 7)), [[np.int64(1), 0, np.uint8(5)], [0, 3, 7]],
                  np.array([[1, 0, 5], [0, 3, 7]], dtype=np.uint8), np.array([[1, 0, 5], [0, 3, 7]], dtype=np.int32),
                  np.array([[1, 0, 5], [0, 3, 7]], dtype=np.uint64), torch.tensor([[1, 0, 5], [0, 3, 7]], dtype=torch.int16)):
        assert pack_codes(codes, [1, 2, 3]) == expected
    assert pack_codes([], [8]) == b"" and pack_codes(np.zeros((0, 2), np.int64), [8, 8]) == b""


@pytest.mark.parametrize("codes", [None, 5, "codes", {"a": 1}, torch.zeros(1, 1, dtype=torch.long, device="meta"),
                                   torch.zeros(1, 1, dtype=torch.long).to_sparse(), np.array([[1]], dtype=object)],
                         ids=["none", "int", "str", "dict", "meta", "sparse", "object"])
def test_other_code_types_are_refused_naming_codes(codes):
    with pytest.raises(ValueError, match="codes"):
        pack_codes(codes, [2])


def test_unpack_codes_without_widths_names_bits_per_field():
    with pytest.raises(ValueError, match="bits_per_field"):
        unpack_codes(b"\0\0", 3, None)


@pytest.mark.parametrize("codes", [torch.tensor([[4]]), torch.tensor([[-1]]), np.array([[2**64 - 1]], dtype=np.uint64),
                                   [[4]], [[-1]], [[2**70]]], ids=["4", "-1", "uint64-max", "list-4", "list-neg", "huge"])
def test_codes_out_of_range_for_their_width(codes):
    with pytest.raises(ValueError, match="codes out of range"):
        pack_codes(codes, [2])


@pytest.mark.parametrize("codes", [torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, dtype=torch.long),
                                   torch.zeros(1, 2, 2, dtype=torch.long), [[0, 0, 0]], [[0, 0], [0]], [0, 0]])
def test_wrong_number_of_fields(codes):
    with pytest.raises(ValueError, match=r"codes must have shape \(N, 2\)"):
        pack_codes(codes, [2, 2])


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\0", "\0\0", [0, 0], None, np.zeros(2, np.uint8)])
def test_unpack_codes_wrong_data_length_or_type(data):
    with pytest.raises(ValueError, match="data"):
        unpack_codes(data, 3, [5])  # 15 bits: exactly 2 bytes


def test_unpack_codes_accepts_bytes_like_data():
    data = pack_codes([[3, 1]], [5, 3])
    for same in (bytearray(data), memoryview(data)):
        assert unpack_codes(same, 1, [5, 3]).tolist() == [[3, 1]]


# -- the self-describing message ---------------------------------------------------------------------
def test_message_round_trip_and_layout():
    codes = torch.tensor([[1, 0, 5], [0, 3, 7], [1, 2, 0]])
    msg = pack_message(codes, [1, 2, 3])
    raw = pack_codes(codes, [1, 2, 3])
    assert msg[:4] == MESSAGE_MAGIC and msg[4] == MESSAGE_VERSION and msg[5:7] == b"\0\3" and msg[7:10] == b"\1\2\3"
    assert msg[10:18] == (3).to_bytes(8, "big") and msg[18:-4] == raw  # the raw bit stream, unchanged, inside
    got, widths = unpack_message(msg)
    assert torch.equal(got, codes) and got.dtype == torch.long and widths == [1, 2, 3]
    empty, widths = unpack_message(pack_message(np.zeros((0, 2), np.int64), [7, 9]))
    assert empty.shape == (0, 2) and widths == [7, 9]


def test_message_refuses_wrong_magic_version_truncation_trailing_and_corruption():
    msg = pack_message([[1, 0, 5], [0, 3, 7]], [1, 2, 3])
    bad = {
        "not a packed message": [b"RIFF" + msg[4:], b"x"],
        "version": [msg[:4] + b"\2" + msg[5:]],
        "truncated": [b"", msg[:3], msg[:6], msg[:12], msg[:-1]],
        "trailing": [msg + b"\0"],
        "CRC-32": [msg[:-5] + bytes([msg[-5] ^ 1]) + msg[-4:], msg[:7] + b"\2" + msg[8:]],
        "0 fields": [msg[:5] + b"\0\0" + msg[7:]],
        "field 0 of 0 bits": [msg[:7] + b"\0" + msg[8:]],
        "must be bytes": ["VQPK", None, list(msg)],
    }
    for what, cases in bad.items():
        for data in cases:
            with pytest.raises(ValueError, match="data") as err:
                unpack_message(data)
            assert what in str(err.value), (what, str(err.value))


def test_message_refuses_nonzero_padding_even_with_a_good_crc():
    import zlib
    msg = bytearray(pack_message([[1, 0, 5]], [1, 2, 3]))  # 6 bits: 2 bits of padding
    msg[-5] |= 1
    msg[-4:] = zlib.crc32(bytes(msg[:-4])).to_bytes(4, "big")
    with pytest.raises(ValueError, match="data has nonzero padding"):
        unpack_message(bytes(msg))


def test_message_detects_data_read_with_the_wrong_widths():
    codes = [[5, 9], [1, 2]]
    raw = pack_codes(codes, [4, 4])
    assert unpack_codes(raw, 2, [2, 6]).tolist() != codes  # the raw stream cannot tell
    codes_back, widths = unpack_message(pack_message(codes, [4, 4]))  # the message carries its widths
    assert codes_back.tolist() == codes and widths == [4, 4]


def test_message_field_count_limit_names_bits_per_field():
    with pytest.raises(ValueError, match="bits_per_field"):
        pack_message(np.zeros((1, MAX_MESSAGE_FIELDS + 1), np.int64), [1] * (MAX_MESSAGE_FIELDS + 1))
