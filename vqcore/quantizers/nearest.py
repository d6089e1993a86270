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

from . import beam_search_native
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


def _scores(x: torch.Tensor, codebook: torch.Tensor, norms: torch.Tensor,
            scratch: torch.Tensor | None = None) -> torch.Tensor:
    """``||c||^2 - 2 <x, c>``: ``(n, d), (K, d), (K,) -> (n, K)`` or ``(B, n, d), (B, K, d), (B, K) -> (B, n, K)``;
    2-D scores are written into ``scratch`` (at least ``n * K`` elements) when it is given."""
    if x.dim() == 2:
        out = None if scratch is None else scratch[:x.shape[0] * norms.shape[0]].view(x.shape[0], -1)
        return torch.addmm(norms, x, codebook.T, alpha=-2.0, out=out)
    return torch.baddbmm(norms.unsqueeze(1), x, codebook.transpose(1, 2), alpha=-2.0)


def _argmin(scores: torch.Tensor) -> torch.Tensor:
    """``scores.argmin(-1)``: in C for float32 scores on a CPU (the same indices, several times faster
    than torch's kernel), else torch's."""
    found = beam_search_native.argmin_rows(scores.detach().reshape(-1, scores.shape[-1])) if scores.shape[-1] else None
    return scores.argmin(-1) if found is None else found.view(scores.shape[:-1])


def _chunk_rows(scores_per_row: int) -> int:
    """Rows of ``x`` searched at once: at most :data:`MAX_SCORE_ELEMENTS` scores (at least one row)."""
    return max(1, MAX_SCORE_ELEMENTS // scores_per_row)


def _argmin_chunked(x: torch.Tensor, codebook: torch.Tensor, norms: torch.Tensor,
                    scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Argmin of :func:`_scores` over rows of ``x`` in chunks of at most :data:`MAX_SCORE_ELEMENTS` scores."""
    n = x.shape[-2]
    rows = _chunk_rows(norms.numel())
    if rows >= n:
        return _argmin(_scores(x, codebook, norms, scratch))
    codes = torch.empty(x.shape[:-1], dtype=torch.long, device=x.device)
    for start in range(0, n, rows):
        codes[..., start:start + rows] = _argmin(_scores(x[..., start:start + rows, :], codebook, norms, scratch))
    return codes


def nearest(x: torch.Tensor, codebook: torch.Tensor, *, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest codeword (autocast off; float32, or float64 for float64 input).

    Args:
        x: ``(N, d)`` or ``(B, N, d)``; codebook: ``(K, d)`` or ``(B, K, d)``.
        scratch: for 2-D ``x``, a contiguous tensor of the compute dtype on ``x``'s device with at
            least ``min(N, MAX_SCORE_ELEMENTS // K) * K`` elements, overwritten with the scores
            (see :func:`scores_scratch`): a caller that searches many times, like
            :class:`~vqcore.ResidualVQ` once per stage, spares a fresh allocation each time (on a
            CPU, its page faults cost about a third as much as the matrix product). The codes are
            the same with or without it.
    Returns:
        ``(N,)`` or ``(B, N)`` long. At most :data:`MAX_SCORE_ELEMENTS` scores are held at once.
    """
    dtype = _common_dtype(x, codebook)
    x, codebook = x.detach().to(dtype), codebook.detach().to(dtype)  # codes carry no gradient
    with full_precision(x.device):
        # ||x||^2 does not change the argmin, so it is left out.
        norms = (codebook * codebook).sum(-1)
        if x.dim() == 3 and norms.numel() > MAX_SCORE_ELEMENTS:  # one row of all stages is over the bound
            return torch.stack([_argmin_chunked(x[b], codebook[b], norms[b]) for b in range(x.shape[0])])
        if scratch is not None and x.dim() == 2:
            _check_scratch(scratch, x, norms)
            return _argmin_chunked(x, codebook, norms, scratch)
        return _argmin_chunked(x, codebook, norms)


def scores_scratch(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """A ``scratch`` for :func:`nearest` of ``x`` ``(N, d)`` against codebooks of ``codebook``'s size ``(K, d)``."""
    dtype = _common_dtype(x, codebook)
    return torch.empty(min(x.shape[0], _chunk_rows(max(1, codebook.shape[0]))) * codebook.shape[0], dtype=dtype,
                       device=x.device)


def _check_scratch(scratch: torch.Tensor, x: torch.Tensor, norms: torch.Tensor) -> None:
    need = min(x.shape[-2], _chunk_rows(norms.numel())) * norms.shape[-1]
    if (scratch.dtype != x.dtype or scratch.device != x.device or not scratch.is_contiguous()
            or scratch.numel() < need):
        raise ValueError(f"scratch must be a contiguous {x.dtype} tensor on {x.device} with at least {need} "
                         f"elements, got {tuple(scratch.shape)} {scratch.dtype} on {scratch.device}")
