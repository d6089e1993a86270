"""Gradient estimators that let a hard quantizer sit inside a network.

- :func:`nsvq`: noise substitution (Vali & Bäckström, IEEE Access 2022), the papers' method.
- :func:`straight_through`: the VQ-VAE straight-through estimator with codebook and commitment losses.
"""
from __future__ import annotations

import torch

ESTIMATORS = ("nsvq", "ste", "ema")


def check_estimator(estimator: str, allowed: tuple[str, ...] = ESTIMATORS) -> str:
    if not isinstance(estimator, str) or estimator not in allowed:
        raise ValueError(f"estimator must be one of {allowed}, got {estimator!r}")
    return estimator


def nsvq(x: torch.Tensor, quantized: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Noise substitution: ``x + (||x - q|| / ||v||) v`` with ``v ~ N(0, I)`` per vector.

    Args:
        x: inputs ``(N, D)``.
        quantized: hard quantization of ``x``, ``(N, D)``, differentiable with respect to the codebooks.
    Returns:
        ``(N, D)``: a point at exactly the hard quantizer's distance from ``x``, in a random direction.
        Gradients reach ``x`` and, through the error norm, the codebooks.
    """
    noise = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
    error_norm = torch.linalg.vector_norm(x - quantized, dim=-1, keepdim=True)
    noise_norm = torch.linalg.vector_norm(noise, dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    return x + (error_norm / noise_norm) * noise


def straight_through(x: torch.Tensor, quantized: torch.Tensor, beta: float = 0.25, codebook_loss: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through estimator ``x + sg(q - x)`` with the VQ-VAE losses.

    The forward value equals ``q`` exactly; the gradient passes to ``x`` unchanged.
    (A frequently copied form, ``q + sg(q - x)``, has forward value ``2q - x`` and is wrong.)

    Returns:
        ``(output (N, D), loss scalar)`` with loss ``||sg(x) - q||^2 + beta ||x - sg(q)||^2`` (means over elements);
        with ``codebook_loss=False`` (EMA training) only the commitment term.
    """
    output = x + (quantized - x).detach()
    commitment = torch.mean((x - quantized.detach()) ** 2)
    loss = beta * commitment
    if codebook_loss:
        loss = loss + torch.mean((x.detach() - quantized) ** 2)
    return output, loss
