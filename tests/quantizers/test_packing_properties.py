"""Property-based tests of vqcore.quantizers.packing: every input round-trips exactly or raises a ValueError.

Examples per property: 50 by default; set VQCORE_FUZZ_EXAMPLES for a deeper run.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vqcore.quantizers.packing import (MAX_FIELD_BITS, pack_codes, pack_message, packed_size, unpack_codes,
                                       unpack_message)

EXAMPLES = int(os.environ.get("VQCORE_FUZZ_EXAMPLES", 50))
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

widths_st = st.lists(st.integers(1, MAX_FIELD_BITS), min_size=1, max_size=8)


@st.composite
def widths_and_codes(draw: st.DrawFn) -> tuple[list[int], list[list[int]]]:
    """Random widths and ``(N, F)`` codes that fit them, as nested lists of Python ints."""
    widths = draw(widths_st)
    n = draw(st.integers(0, 16))
    rows = [[draw(st.integers(0, (1 << w) - 1)) for w in widths] for _ in range(n)]
    return widths, rows


def as_form(rows: list[list[int]], num_fields: int, form: str):
    """The codes as a torch tensor, a numpy array (int64 or uint64) or the nested list itself."""
    if form == "list":
        return rows
    arr = np.array(rows, dtype=np.uint64 if form == "uint64" else np.int64).reshape(len(rows), num_fields)
    return torch.from_numpy(arr.astype(np.int64)) if form == "torch" else arr


def reference_pack(rows: list[list[int]], widths: list[int]) -> bytes:
    """The raw format by arithmetic on one big integer: fields MSB first, zero-padded to a byte."""
    value, nbits = 0, 0
    for row in rows:
        for v, w in zip(row, widths):
            value, nbits = (value << w) | v, nbits + w
    pad = -nbits % 8
    return (value << pad).to_bytes((nbits + pad) // 8, "big")


forms = st.sampled_from(["torch", "numpy", "uint64", "list"])


@fuzz
@given(widths_and_codes(), forms)
def test_raw_round_trip_is_exact_and_matches_the_reference(case, form):
    widths, rows = case
    data = pack_codes(as_form(rows, len(widths), form), widths)
    assert data == reference_pack(rows, widths)
    assert len(data) == packed_size(len(rows), widths)
    back = unpack_codes(data, len(rows), widths)
    assert back.dtype == torch.long and back.shape == (len(rows), len(widths)) and back.tolist() == rows


@fuzz
@given(widths_and_codes(), forms)
def test_message_round_trip_is_exact_and_wraps_the_raw_stream(case, form):
    widths, rows = case
    msg = pack_message(as_form(rows, len(widths), form), widths)
    header = 15 + len(widths)
    assert msg[header:-4] == pack_codes(rows, widths)
    codes, got_widths = unpack_message(msg)
    assert codes.dtype == torch.long and codes.shape == (len(rows), len(widths))
    assert codes.tolist() == rows and got_widths == widths


@fuzz
@given(widths_and_codes(), st.data())
def test_every_damaged_message_is_refused(case, data):
    widths, rows = case
    msg = pack_message(rows, widths)
    kind = data.draw(st.sampled_from(["flip", "byte", "truncate", "append"]))
    if kind == "flip":
        bit = data.draw(st.integers(0, len(msg) * 8 - 1))
        bad = bytearray(msg)
        bad[bit // 8] ^= 1 << (bit % 8)
    elif kind == "byte":  # one byte replaced: a burst of at most 8 bits, which CRC-32 always detects
        at = data.draw(st.integers(0, len(msg) - 1))
        bad = bytearray(msg)
        bad[at] = data.draw(st.integers(0, 255).filter(lambda b: b != msg[at]))
    elif kind == "truncate":
        bad = msg[:data.draw(st.integers(0, len(msg) - 1))]
    else:
        bad = msg + data.draw(st.binary(min_size=1, max_size=16))
    with pytest.raises(ValueError, match="data"):
        unpack_message(bytes(bad))


def _raw_with_any_header(payload: bytes) -> bytes:
    return b"VQPK\x01" + payload


@fuzz
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(_raw_with_any_header)))
def test_random_bytes_to_unpack_message_decode_or_raise_value_error(blob):
    try:
        codes, widths = unpack_message(blob)
    except ValueError as err:
        assert "data" in str(err)
        return
    assert pack_message(codes, widths) == blob  # anything accepted is exactly a message we would write


@fuzz
@given(widths_st, st.integers(0, 20), st.data())
def test_random_bytes_to_unpack_codes_decode_or_raise_value_error(widths, n, data):
    size = packed_size(n, widths)
    blob = data.draw(st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=2 * size + 2)))
    try:
        codes = unpack_codes(blob, n, widths)
    except ValueError as err:
        assert "data" in str(err) and len(blob) != size
        return
    assert codes.shape == (n, len(widths))
    assert all(0 <= v < 1 << w for row in codes.tolist() for v, w in zip(row, widths))
    spare = size * 8 - n * sum(widths)  # padding bits are not checked by the raw format
    repacked = pack_codes(codes, widths)
    assert repacked[:-1] == blob[:-1] if size else repacked == blob
    if size:
        assert repacked[-1] == blob[-1] & (0xFF ^ ((1 << spare) - 1))


bad_width = st.one_of(st.floats(allow_nan=True), st.booleans(), st.integers(-2**70, 0),
                      st.integers(MAX_FIELD_BITS + 1, 2**70), st.text(max_size=3), st.none(), st.just(np.float32(4)))


@fuzz
@given(widths_st, bad_width, st.data())
def test_bad_widths_raise_value_error_naming_bits_per_field(good, bad, data):
    widths = list(good)
    widths.insert(data.draw(st.integers(0, len(widths))), bad)
    codes = np.zeros((1, len(widths)), np.int64)
    for call in (lambda: pack_codes(codes, widths), lambda: packed_size(1, widths),
                 lambda: unpack_codes(b"\0" * 64, 1, widths), lambda: pack_message(codes, widths)):
        with pytest.raises(ValueError, match="bits_per_field"):
            call()


bad_code = st.one_of(st.floats(), st.booleans(), st.integers(max_value=-1), st.integers(min_value=2**64),
                     st.text(max_size=2), st.none())


@fuzz
@given(widths_and_codes().filter(lambda c: c[1]), bad_code, st.data())
def test_bad_codes_raise_value_error_naming_codes(case, bad, data):
    widths, rows = case
    i = data.draw(st.integers(0, len(rows) - 1))
    rows[i][data.draw(st.integers(0, len(widths) - 1))] = bad
    for call in (lambda: pack_codes(rows, widths), lambda: pack_message(rows, widths)):
        with pytest.raises(ValueError, match="codes"):
            call()
    if isinstance(bad, float):  # the same values as a float array are refused, not truncated
        with pytest.raises(ValueError, match="codes must have an integer dtype"):
            pack_codes(torch.tensor(rows, dtype=torch.float64), widths)


@fuzz
@given(st.integers(-2**70, 2**70), widths_st)
def test_packed_size_is_the_exact_byte_count_or_refuses_negative_counts(n, widths):
    if n < 0:
        with pytest.raises(ValueError, match="num_vectors"):
            packed_size(n, widths)
        return
    size = packed_size(n, widths)
    assert size == -(-n * sum(widths) // 8) and size * 8 - n * sum(widths) in range(8)
