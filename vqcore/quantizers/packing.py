"""The real compressed form of a vector: codes packed into a byte string, bit for bit."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def _check_widths(bits_per_field: Sequence[int]) -> list[int]:
    widths = [int(b) for b in bits_per_field]
    if not widths or any(b < 1 or b > 62 for b in widths):
        raise ValueError(f"bits_per_field must be a non-empty list of integers in [1, 62], got {list(bits_per_field)}")
    return widths


def packed_size(num_vectors: int, bits_per_field: Sequence[int]) -> int:
    """Bytes needed for ``num_vectors`` vectors: ``ceil(num_vectors * sum(bits) / 8)``."""
    return -(-num_vectors * sum(_check_widths(bits_per_field)) // 8)


def pack_codes(codes: torch.Tensor, bits_per_field: Sequence[int]) -> bytes:
    """Pack codes ``(N, F)`` (field ``f`` < ``2 ** bits_per_field[f]``) MSB first, vector after vector.

    The result has exactly ``sum(bits_per_field)`` bits per vector, zero-padded to a whole byte
    at the end of the message.

    >>> import torch
    >>> data = pack_codes(torch.tensor([[1, 0, 5]]), [1, 2, 3])   # 1 | 00 | 101, then 2 bits of padding
    >>> f"{data[0]:08b}", unpack_codes(data, 1, [1, 2, 3]).tolist()
    ('10010100', [[1, 0, 5]])
    """
    widths = _check_widths(bits_per_field)
    if codes.dim() != 2 or codes.shape[1] != len(widths):
        raise ValueError(f"codes must have shape (N, {len(widths)}), got {tuple(codes.shape)}")
    arr = codes.detach().to("cpu", torch.int64).numpy()
    limits = np.array([1 << w for w in widths], dtype=np.int64)
    if (arr < 0).any() or (arr >= limits).any():
        raise ValueError(f"codes out of range for bit widths {widths}")
    fields = []
    for f, w in enumerate(widths):
        shifts = np.arange(w - 1, -1, -1, dtype=np.int64)
        fields.append(((arr[:, f:f + 1] >> shifts) & 1).astype(np.uint8))
    bits = np.concatenate(fields, axis=1).reshape(-1)
    return np.packbits(bits).tobytes()


def unpack_codes(data: bytes, num_vectors: int, bits_per_field: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`pack_codes`: bytes -> codes ``(num_vectors, F)`` long."""
    widths = _check_widths(bits_per_field)
    if isinstance(num_vectors, bool) or not isinstance(num_vectors, int) or num_vectors < 0:
        raise ValueError(f"num_vectors must be a non-negative integer, got {num_vectors!r}")
    expected = packed_size(num_vectors, widths)
    if len(data) != expected:
        raise ValueError(f"data holds {len(data)} bytes; {num_vectors} vectors of {sum(widths)} bits need exactly {expected}")
    total = sum(widths)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: num_vectors * total].reshape(num_vectors, total)
    out = np.zeros((num_vectors, len(widths)), dtype=np.int64)
    start = 0
    for f, w in enumerate(widths):
        weights = (1 << np.arange(w - 1, -1, -1, dtype=np.int64))
        out[:, f] = bits[:, start:start + w].astype(np.int64) @ weights
        start += w
    return torch.from_numpy(out)
