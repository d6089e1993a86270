"""Input validation shared by every quantizer.

Every check raises ``ValueError`` naming the argument and what was expected.
Checks that must read a value back from the device (finiteness, code range) can
be switched off with :func:`vqcore.validation` for the last bit of GPU speed.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch

_VALIDATE = True


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Turn the value checks (NaN/inf inputs, code range) on or off inside a ``with`` block.

    Shape, dtype and emptiness checks always run: they cost no device round-trip.
    """
    global _VALIDATE
    old, _VALIDATE = _VALIDATE, bool(enabled)
    try:
        yield
    finally:
        _VALIDATE = old


def value_checks_enabled() -> bool:
    return _VALIDATE


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other dtype is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_vectors(x: object, dim: int, name: str = "x") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate ``x`` of shape ``(..., dim)`` and return it flattened to ``(N, dim)`` plus the leading shape."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (..., {dim}), got {type(x).__name__}")
    if x.dim() == 0 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have last dimension {dim} (shape (..., {dim})), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); expected at least one vector")
    if not (x.is_floating_point()):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    lead = tuple(x.shape[:-1])
    flat = x.reshape(-1, dim).to(compute_dtype(x.dtype))
    if _VALIDATE and not bool(torch.isfinite(flat).all()):
        raise ValueError(f"{name} contains NaN or inf values; expected finite inputs")
    return flat, lead


def check_codes(codes: object, num_stages: int, codebook_size: int, name: str = "codes") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate integer codes of shape ``(..., num_stages)`` with entries in ``[0, codebook_size)``."""
    if not isinstance(codes, torch.Tensor):
        raise ValueError(f"{name} must be an integer torch.Tensor of shape (..., {num_stages}), got {type(codes).__name__}")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"{name} must have an integer dtype, got {codes.dtype}")
    if codes.dim() == 0 or codes.shape[-1] != num_stages:
        raise ValueError(f"{name} must have last dimension {num_stages} (one code per stage), got shape {tuple(codes.shape)}")
    if codes.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(codes.shape)}); expected at least one code vector")
    flat = codes.reshape(-1, num_stages).long()
    if _VALIDATE and bool(((flat < 0) | (flat >= codebook_size)).any()):
        lo, hi = int(flat.min()), int(flat.max())
        raise ValueError(f"{name} out of range: expected values in [0, {codebook_size - 1}], got min {lo} and max {hi}")
    return flat, tuple(codes.shape[:-1])
