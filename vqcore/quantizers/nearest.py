"""Nearest-codeword search by the expanded squared distance ``||x||^2 - 2 <x, c> + ||c||^2``."""
from __future__ import annotations

import torch


def squared_distances(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances.

    Args:
        x: ``(..., N, d)``; codebook: ``(..., K, d)`` (batch dimensions broadcast).
    Returns:
        ``(..., N, K)``, clamped at zero.
    """
    cross = x @ codebook.transpose(-1, -2)
    d = (x * x).sum(-1, keepdim=True) - 2 * cross + (codebook * codebook).sum(-1).unsqueeze(-2)
    return d.clamp_min_(0)


def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codeword.

    Args:
        x: ``(N, d)`` or ``(B, N, d)``; codebook: ``(K, d)`` or ``(B, K, d)``.
    Returns:
        ``(N,)`` or ``(B, N)`` long.
    """
    # ||x||^2 does not change the argmin, so it is left out.
    norms = (codebook * codebook).sum(-1)
    if x.dim() == 2:
        score = torch.addmm(norms, x, codebook.T, alpha=-2.0)
    else:
        score = torch.baddbmm(norms.unsqueeze(1), x, codebook.transpose(1, 2), alpha=-2.0)
    return score.argmin(-1)
