"""The real compressed form of a vector: codes packed into a byte string, bit for bit.

Two formats:

* the **raw bit stream** (:func:`pack_codes` / :func:`unpack_codes`): exactly ``sum(bits_per_field)``
  bits per vector, MSB first, zero-padded to a whole byte at the end. It carries no header, so the
  reader must know the widths and the vector count (the speech codec's bitstreams use it);
* the **message** (:func:`pack_message` / :func:`unpack_message`): the same bit stream inside a
  self-describing container that stores the widths and the count and is checked on reading, so
  data read with the wrong widths, truncated, extended or corrupted is refused instead of decoded.

Message layout (integers big-endian)::

    b"VQPK" | version u8 (= 1) | F u16 | F widths, u8 each | N u64 | raw bit stream | CRC-32 u32

where the raw bit stream is exactly ``packed_size(N, widths)`` bytes and the CRC-32 (``zlib.crc32``)
covers everything before it.

Accepted input: codes as a torch integer tensor, a numpy integer array or a nested list (or tuple) of
ints, shape ``(N, F)``; widths as a non-empty sequence (or 1-D numpy integer array) of ints, Python or
numpy but not bool, each in ``[1, 63]`` (:data:`MAX_FIELD_BITS`; codes are carried as int64). Anything
else raises a ValueError that names the argument.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

#: widest field supported: every field value must fit a non-negative int64
MAX_FIELD_BITS = 63
#: first bytes of a :func:`pack_message` container
MESSAGE_MAGIC = b"VQPK"
#: container version written by :func:`pack_message`, the only one :func:`unpack_message` reads
MESSAGE_VERSION = 1
#: most fields a message can describe (its field count is a u16)
MAX_MESSAGE_FIELDS = 0xFFFF

_HEAD = struct.Struct(">4sBH")  # magic, version, number of fields
_COUNT = struct.Struct(">Q")    # number of vectors
_CRC = struct.Struct(">I")
_TORCH_INTS = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64}
_TORCH_WIDE_UINTS = {getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n)}


# -- argument checks ------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    """True for Python and numpy integers; False for bools (Python or numpy) and everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_widths(bits_per_field: Any) -> list[int]:
    """``bits_per_field`` as a list of Python ints, each in ``[1, MAX_FIELD_BITS]``; else a ValueError."""
    if isinstance(bits_per_field, (np.ndarray, torch.Tensor)):
        if bits_per_field.ndim != 1:
            raise ValueError(f"bits_per_field must be 1-D, got shape {tuple(bits_per_field.shape)}")
        values = bits_per_field.tolist()
        kind_ok = (bits_per_field.dtype.kind in "iu" if isinstance(bits_per_field, np.ndarray)
                   else bits_per_field.dtype in _TORCH_INTS | _TORCH_WIDE_UINTS)
        if not kind_ok:
            raise ValueError(f"bits_per_field must hold integers, got dtype {bits_per_field.dtype}")
    elif isinstance(bits_per_field, Sequence) and not isinstance(bits_per_field, (str, bytes, bytearray)):
        values = list(bits_per_field)
    else:
        raise ValueError(f"bits_per_field must be a non-empty sequence of integers, got {type(bits_per_field).__name__}")
    if not values:
        raise ValueError("bits_per_field must be a non-empty sequence of integers, got an empty one")
    for f, b in enumerate(values):
        if not _is_int(b) or not 1 <= b <= MAX_FIELD_BITS:
            raise ValueError(f"bits_per_field must hold integers in [1, {MAX_FIELD_BITS}]; "
                             f"bits_per_field[{f}] is {b!r}")
    return [int(b) for b in values]


def _check_count(num_vectors: Any) -> int:
    """``num_vectors`` as a Python int >= 0 (Python or numpy integer, not bool); else a ValueError."""
    if not _is_int(num_vectors) or num_vectors < 0:
        raise ValueError(f"num_vectors must be a non-negative integer, got {num_vectors!r}")
    return int(num_vectors)


def _check_data(data: Any) -> bytes:
    """``data`` (bytes, bytearray or memoryview) as bytes; else a ValueError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}")
    return bytes(data)


def _range_error(arr: np.ndarray, widths: list[int], bad: np.ndarray) -> ValueError:
    i, f = (int(k) for k in np.argwhere(bad)[0])
    w = widths[f]
    return ValueError(f"codes out of range: codes[{i}, {f}] = {arr[i, f]}, but field {f} has {w} bits "
                      f"(0..{(1 << w) - 1})")


def _list_codes(codes: Sequence[Any], widths: list[int]) -> np.ndarray:
    """A nested list/tuple of ints ``(N, F)``, checked element by element, as an int64 array."""
    num_fields = len(widths)
    for i, row in enumerate(codes):
        if not isinstance(row, (list, tuple)) or len(row) != num_fields:
            what = f"length {len(row)}" if isinstance(row, (list, tuple)) else type(row).__name__
            raise ValueError(f"codes must have shape (N, {num_fields}); codes[{i}] is {what}")
        for f, v in enumerate(row):
            if not _is_int(v):
                raise ValueError(f"codes must hold integers; codes[{i}][{f}] is {v!r}")
            if not 0 <= v < 1 << widths[f]:
                raise ValueError(f"codes out of range: codes[{i}][{f}] = {v}, but field {f} has {widths[f]} "
                                 f"bits (0..{(1 << widths[f]) - 1})")
    return np.array(codes, dtype=np.int64).reshape(len(codes), num_fields)


def _tensor_codes(codes: torch.Tensor) -> np.ndarray:
    """An integer tensor's values as a numpy array (its own dtype for wide unsigned types, else int64)."""
    if codes.device.type == "meta" or codes.layout != torch.strided:
        raise ValueError(f"codes must be a dense tensor with data, got device {codes.device}, layout {codes.layout}")
    if codes.dtype in _TORCH_INTS:
        return codes.detach().to("cpu", torch.int64).numpy()
    if codes.dtype in _TORCH_WIDE_UINTS:
        return codes.detach().cpu().numpy()
    raise ValueError(f"codes must have an integer dtype, got {codes.dtype}")


def _code_array(codes: Any, widths: list[int]) -> np.ndarray:
    """``codes`` (tensor, numpy array or nested list) as a checked int64 array ``(N, F)``."""
    num_fields = len(widths)
    if isinstance(codes, (list, tuple)):
        return _list_codes(codes, widths)
    if isinstance(codes, torch.Tensor):
        arr = _tensor_codes(codes)
    elif isinstance(codes, np.ndarray):
        if codes.dtype.kind not in "iu":
            raise ValueError(f"codes must have an integer dtype, got {codes.dtype}")
        arr = codes
    else:
        raise ValueError("codes must be a torch integer tensor, a numpy integer array or a nested list of ints, "
                         f"got {type(codes).__name__}")
    if arr.ndim != 2 or arr.shape[1] != num_fields:
        raise ValueError(f"codes must have shape (N, {num_fields}), got {tuple(arr.shape)}")
    if arr.dtype == np.uint64:  # values above int64's range would wrap on conversion
        big = arr > np.uint64(np.iinfo(np.int64).max)
        if big.any():
            raise _range_error(arr, widths, big)
    arr = arr.astype(np.int64, copy=False)
    maxes = np.array([(1 << w) - 1 for w in widths], dtype=np.int64)
    bad = (arr < 0) | (arr > maxes)
    if bad.any():
        raise _range_error(arr, widths, bad)
    return arr


# -- the raw bit stream ---------------------------------------------------------------------------
def packed_size(num_vectors: int, bits_per_field: Sequence[int]) -> int:
    """Bytes needed for ``num_vectors`` vectors: ``ceil(num_vectors * sum(bits) / 8)``."""
    return -(-_check_count(num_vectors) * sum(_check_widths(bits_per_field)) // 8)


def _pack(arr: np.ndarray, widths: list[int]) -> bytes:
    fields = []
    for f, w in enumerate(widths):
        shifts = np.arange(w - 1, -1, -1, dtype=np.int64)
        fields.append(((arr[:, f:f + 1] >> shifts) & 1).astype(np.uint8))
    bits = np.concatenate(fields, axis=1).reshape(-1)
    return np.packbits(bits).tobytes()


def pack_codes(codes: torch.Tensor | np.ndarray | Sequence[Sequence[int]], bits_per_field: Sequence[int]) -> bytes:
    """Pack codes ``(N, F)`` (field ``f`` < ``2 ** bits_per_field[f]``) MSB first, vector after vector.

    The result has exactly ``sum(bits_per_field)`` bits per vector, zero-padded to a whole byte
    at the end of the message. ``codes`` may be a torch integer tensor, a numpy integer array or a
    nested list of ints; float, bool or out-of-range codes raise a ValueError.

    >>> import torch
    >>> data = pack_codes(torch.tensor([[1, 0, 5]]), [1, 2, 3])   # 1 | 00 | 101, then 2 bits of padding
    >>> f"{data[0]:08b}", unpack_codes(data, 1, [1, 2, 3]).tolist()
    ('10010100', [[1, 0, 5]])
    >>> pack_codes([[1, 0, 5]], [1, 2, 3]) == data
    True
    """
    widths = _check_widths(bits_per_field)
    return _pack(_code_array(codes, widths), widths)


def _unpack(data: bytes, num_vectors: int, widths: list[int]) -> np.ndarray:
    total = sum(widths)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: num_vectors * total].reshape(num_vectors, total)
    out = np.zeros((num_vectors, len(widths)), dtype=np.int64)
    start = 0
    for f, w in enumerate(widths):
        weights = (1 << np.arange(w - 1, -1, -1, dtype=np.int64))
        out[:, f] = bits[:, start:start + w].astype(np.int64) @ weights
        start += w
    return out


def unpack_codes(data: bytes, num_vectors: int, bits_per_field: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`pack_codes`: bytes -> codes ``(num_vectors, F)`` long.

    ``data`` must hold exactly :func:`packed_size` bytes. The raw stream has no header, so data written
    with other widths or another count of the same total size decodes without error (the padding bits
    are not checked either); use :func:`unpack_message` where that must be detected.
    """
    widths = _check_widths(bits_per_field)
    num_vectors = _check_count(num_vectors)
    data = _check_data(data)
    expected = packed_size(num_vectors, widths)
    if len(data) != expected:
        raise ValueError(f"data holds {len(data)} bytes; {num_vectors} vectors of {sum(widths)} bits need exactly {expected}")
    return torch.from_numpy(_unpack(data, num_vectors, widths))


# -- the self-describing message ------------------------------------------------------------------
def pack_message(codes: torch.Tensor | np.ndarray | Sequence[Sequence[int]], bits_per_field: Sequence[int]) -> bytes:
    """Codes ``(N, F)`` -> a self-describing message: header (widths, count), :func:`pack_codes`'s bytes, CRC-32.

    The layout is in the module docstring; :func:`unpack_message` reads it back.

    >>> msg = pack_message([[1, 0, 5], [0, 3, 7]], [1, 2, 3])
    >>> msg[:4], len(msg)   # 7 header bytes, 3 widths, 8 for the count, 2 of codes, 4 of CRC
    (b'VQPK', 24)
    >>> codes, widths = unpack_message(msg)
    >>> codes.tolist(), widths
    ([[1, 0, 5], [0, 3, 7]], [1, 2, 3])
    """
    widths = _check_widths(bits_per_field)
    if len(widths) > MAX_MESSAGE_FIELDS:
        raise ValueError(f"bits_per_field has {len(widths)} fields; a message holds at most {MAX_MESSAGE_FIELDS}")
    arr = _code_array(codes, widths)
    body = (_HEAD.pack(MESSAGE_MAGIC, MESSAGE_VERSION, len(widths)) + bytes(widths)
            + _COUNT.pack(arr.shape[0]) + _pack(arr, widths))
    return body + _CRC.pack(zlib.crc32(body))


def _read_header(data: bytes) -> tuple[list[int], int, int]:
    """A message's ``(widths, num_vectors, offset of the bit stream)``, checked; else a ValueError naming data."""
    magic = data[:len(MESSAGE_MAGIC)]
    if not MESSAGE_MAGIC.startswith(magic):
        raise ValueError(f"data is not a packed message: it starts with {magic!r}, not {MESSAGE_MAGIC!r}")
    fixed = _HEAD.size + _COUNT.size
    if len(data) < _HEAD.size:
        raise ValueError(f"data is truncated: {len(data)} bytes, a message header needs at least {fixed}")
    _, version, num_fields = _HEAD.unpack_from(data)
    if version != MESSAGE_VERSION:
        raise ValueError(f"data is a packed message of version {version}; this reader knows only {MESSAGE_VERSION}")
    if num_fields == 0:
        raise ValueError("data declares 0 fields; a message has at least 1")
    if len(data) < fixed + num_fields:
        raise ValueError(f"data is truncated: {len(data)} bytes, its header needs {fixed + num_fields}")
    widths = list(data[_HEAD.size:_HEAD.size + num_fields])
    for f, w in enumerate(widths):
        if not 1 <= w <= MAX_FIELD_BITS:
            raise ValueError(f"data declares field {f} of {w} bits; widths must be in [1, {MAX_FIELD_BITS}]")
    (num_vectors,) = _COUNT.unpack_from(data, _HEAD.size + num_fields)
    return widths, num_vectors, fixed + num_fields


def unpack_message(data: bytes) -> tuple[torch.Tensor, list[int]]:
    """Inverse of :func:`pack_message`: a message -> ``(codes (N, F) long, bits_per_field)``.

    Refuses with a ValueError naming ``data``: a wrong magic or version, a bad header, truncated or
    trailing bytes, a failed CRC-32, or nonzero padding bits.
    """
    data = _check_data(data)
    widths, num_vectors, start = _read_header(data)
    size = -(-num_vectors * sum(widths) // 8)
    expected = start + size + _CRC.size
    if len(data) < expected:
        raise ValueError(f"data is truncated: {len(data)} bytes, a message of {num_vectors} vectors of "
                         f"{sum(widths)} bits needs {expected}")
    if len(data) > expected:
        raise ValueError(f"data has {len(data) - expected} trailing bytes after a message of {expected}")
    (crc,) = _CRC.unpack_from(data, start + size)
    if crc != zlib.crc32(data[:start + size]):
        raise ValueError("data fails its CRC-32 check: the message is corrupted")
    payload = data[start:start + size]
    spare = size * 8 - num_vectors * sum(widths)
    if spare and payload[-1] & ((1 << spare) - 1):
        raise ValueError("data has nonzero padding bits after its last vector")
    return torch.from_numpy(_unpack(payload, num_vectors, widths)), widths
