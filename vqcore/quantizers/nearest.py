"""Nearest-codeword search by the expanded squared distance ``||x||^2 - 2 <x, c> + ||c||^2``.

Precision: scores and distances are computed with autocast off (:func:`full_precision`), in
float32 for float16, bfloat16 and float32 inputs and in float64 for float64 inputs, so codes
found inside ``torch.autocast`` regions equal the float32 codes.

Memory: :func:`nearest` holds at most :data:`MAX_SCORE_ELEMENTS` scores at once (rows of ``x``
times codewords, times stages for batched codebooks); larger searches are split into chunks of
rows of ``x``. A search within the bound is one matrix product, exactly as before the bound
existed. :func:`squared_distances` returns the whole ``(N, K)`` matrix; callers that need bounded
memory call it on chunks of rows.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from .checks import compute_dtype

#: most scores :func:`nearest` holds at once: ``2**26`` elements, 256 MiB in float32 (512 MiB in float64)
MAX_SCORE_ELEMENTS = 1 << 26


def _autocast_available(device_type: str) -> bool:
    check = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    return check(device_type) if check is not None else device_type in ("cpu", "cuda")


def full_precision(device: torch.device) -> ContextManager[None]:
    """A context in which autocast is off for ``device``'s type (a no-op where that type has no autocast)."""
    if _autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _common_dtype(x: torch.Tensor, codebook: torch.Tensor) -> torch.dtype:
    return compute_dtype(torch.promote_types(x.dtype, codebook.dtype))


def squared_distances(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (float32, or float64 for float64 input; autocast off).

    Args:
        x: ``(..., N, d)``; codebook: ``(..., K, d)`` (batch dimensions broadcast).
    Returns:
        ``(..., N, K)``, clamped at zero. The whole matrix is held: chunk ``x`` to bound memory.
    """
    dtype = _common_dtype(x, codebook)
    x, codebook = x.to(dtype), codebook.to(dtype)
    with full_precision(x.device):
        cross = x @ codebook.transpose(-1, -2)
        d = (x * x).sum(-1, keepdim=True) - 2 * cross + (codebook * codebook).sum(-1).unsqueeze(-2)
    return d.clamp_min_(0)


def _scores(x: torch.Tensor, codebook: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``||c||^2 - 2 <x, c>``: ``(n, d), (K, d), (K,) -> (n, K)`` or ``(B, n, d), (B, K, d), (B, K) -> (B, n, K)``."""
    if x.dim() == 2:
        return torch.addmm(norms, x, codebook.T, alpha=-2.0)
    return torch.baddbmm(norms.unsqueeze(1), x, codebook.transpose(1, 2), alpha=-2.0)


def _argmin_chunked(x: torch.Tensor, codebook: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """Argmin of :func:`_scores` over rows of ``x`` in chunks of at most :data:`MAX_SCORE_ELEMENTS` scores."""
    n = x.shape[-2]
    rows = max(1, MAX_SCORE_ELEMENTS // norms.numel())
    if rows >= n:
        return _scores(x, codebook, norms).argmin(-1)
    codes = torch.empty(x.shape[:-1], dtype=torch.long, device=x.device)
    for start in range(0, n, rows):
        codes[..., start:start + rows] = _scores(x[..., start:start + rows, :], codebook, norms).argmin(-1)
    return codes


def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword (autocast off; float32, or float64 for float64 input).

    Args:
        x: ``(N, d)`` or ``(B, N, d)``; codebook: ``(K, d)`` or ``(B, K, d)``.
    Returns:
        ``(N,)`` or ``(B, N)`` long. At most :data:`MAX_SCORE_ELEMENTS` scores are held at once.
    """
    dtype = _common_dtype(x, codebook)
    x, codebook = x.to(dtype), codebook.to(dtype)
    with full_precision(x.device):
        # ||x||^2 does not change the argmin, so it is left out.
        norms = (codebook * codebook).sum(-1)
        if x.dim() == 3 and norms.numel() > MAX_SCORE_ELEMENTS:  # one row of all stages is over the bound
            return torch.stack([_argmin_chunked(x[b], codebook[b], norms[b]) for b in range(x.shape[0])])
        return _argmin_chunked(x, codebook, norms)
