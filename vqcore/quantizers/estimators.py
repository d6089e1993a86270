"""Gradient estimators that let a hard quantizer sit inside a network.

Below, ``x`` is the input, ``q`` its hard quantization (differentiable with respect to the
codebooks) and ``sg`` stops the gradient.

- :func:`nsvq`: noise substitution (Vali & Bäckström, IEEE Access 2022), the papers' method.
- :func:`straight_through`: the VQ-VAE straight-through estimator with codebook and commitment
  losses (``"ste"``; ``"ema"`` keeps only the commitment term, the codebooks move by EMA updates).
- :func:`diveq`: DiVeQ (Vali, Bäckström & Solin, ICLR 2026), ``x + ||q - x|| sg(normalize(q - x + e))``
  with ``e ~ N(0, s^2 I)`` (``"diveq"``), or ``e = 0`` (``"diveq_detach"``).
- :func:`sf_diveq`: SF-DiVeQ for :class:`~vqcore.SpaceFillingVQ`'s dithered curve points
  (``"sf_diveq"``, and ``"sf_diveq_detach"`` with ``e = 0``).
- :func:`rotation_trick`: the rotation trick (Fifty et al., ICLR 2025), ``"rotation"``.

:func:`apply_estimator` picks one of them by name; every quantizer's ``forward`` goes through it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

#: every estimator name; each quantizer class lists the ones it accepts in ``estimators``
ESTIMATORS = ("nsvq", "ste", "ema", "diveq", "diveq_detach", "rotation", "sf_diveq", "sf_diveq_detach")
#: the estimators every quantizer accepts (``"ema"`` needs an EMA update: VQ and RVQ only)
COMMON = ("nsvq", "ste", "diveq", "diveq_detach", "rotation")
#: the estimators of a curve (SFVQ only): they need the segment the dithered point lies on
CURVE = ("sf_diveq", "sf_diveq_detach")
#: default ``s`` of ``"diveq"`` and ``"sf_diveq"``: the ``diveq`` package's default ``noise_var=0.001``,
#: which that package passes to ``torch.distributions.Normal`` as the standard deviation
DEFAULT_DIVEQ_NOISE_STD = 1e-3


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
    loss = beta * _commitment(x, quantized)
    if codebook_loss:
        loss = loss + torch.mean((x.detach() - quantized) ** 2)
    return output, loss


def _commitment(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    return torch.mean((x - quantized.detach()) ** 2)


def _noisy_direction(error: torch.Tensor, noise_std: float, generator: torch.Generator | None) -> torch.Tensor:
    """``normalize(error + e)`` per row, ``e ~ N(0, noise_std^2 I)`` (no draw when ``noise_std == 0``);
    a zero vector stays zero. ``(N, D) -> (N, D)``, without gradient."""
    error = error.detach()
    if noise_std > 0:
        error = error + noise_std * torch.randn(error.shape, dtype=error.dtype, device=error.device,
                                                generator=generator)
    norm = torch.linalg.vector_norm(error, dim=-1, keepdim=True)
    return error / norm.clamp_min(torch.finfo(error.dtype).tiny)


def diveq(x: torch.Tensor, quantized: torch.Tensor, noise_std: float = DEFAULT_DIVEQ_NOISE_STD,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """DiVeQ: ``x + ||q - x|| sg(normalize(q - x + e))`` with ``e ~ N(0, noise_std^2 I)`` per vector.

    ``noise_std`` is the **standard deviation** of ``e``, in the units of ``x``. (The ``diveq``
    package calls it ``noise_var`` and documents a variance, but passes it to
    ``torch.distributions.Normal`` as the standard deviation; vector-quantize-pytorch's
    ``directional_reparam_variance`` is a variance. This follows what the ``diveq`` package computes.)
    With ``noise_std=0`` (``"diveq_detach"``) the forward value is ``q`` up to rounding.

    Args:
        x: inputs ``(N, D)``.
        quantized: hard quantization of ``x``, ``(N, D)``, differentiable with respect to the codebooks.
        noise_std: finite and ``>= 0``; 0 draws no noise.
    Returns:
        ``(N, D)``: a point at exactly the hard quantizer's distance from ``x``, in a direction close
        to ``q - x``. The gradient reaches ``x`` (with ``I - n n^T`` for the direction ``n``, to first
        order) and, through the error norm, the codebooks.
    """
    error = quantized - x
    magnitude = torch.linalg.vector_norm(error, dim=-1, keepdim=True)
    return x + magnitude * _noisy_direction(error, noise_std, generator)


class Segment(NamedTuple):
    """The curve segment a dithered SFVQ point lies on: ``point = (1 - lam) start + lam end``.

    ``start`` ``(N, D)`` is vertex ``c_i`` and ``end`` ``(N, D)`` vertex ``c_{i+1}`` (both differentiable
    with respect to the codebook); ``lam`` ``(N, 1)`` is the dither ``lambda`` in ``[0, 1)``.
    """

    start: torch.Tensor
    end: torch.Tensor
    lam: torch.Tensor


def sf_diveq(x: torch.Tensor, segment: Segment, noise_std: float = DEFAULT_DIVEQ_NOISE_STD,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """SF-DiVeQ: ``x + ||c_i - x|| sg((1 - lam) n_i) + ||c_{i+1} - x|| sg(lam n_{i+1})``.

    ``n_i = normalize(c_i - x + e_i)`` and ``n_{i+1} = normalize(c_{i+1} - x + e_{i+1})`` with
    independent ``e ~ N(0, noise_std^2 I)`` (drawn in that order; ``noise_std`` is a standard
    deviation, as in :func:`diveq`). With ``noise_std=0`` (``"sf_diveq_detach"``) the forward value
    is the dithered point ``(1 - lam) c_i + lam c_{i+1}`` up to rounding.

    The ``diveq`` package's ``SFDIVEQDetach`` (0.1.3, and AaltoML/DiVeQ's ``sf_diveq_detach.py``)
    uses the direction to ``c_i`` in its second term too, so that its forward value is ``c_i``
    rather than the dithered point; this function uses ``c_{i+1}``, as its noisy ``SFDIVEQ`` does.

    Args:
        x: inputs ``(N, D)``.
        segment: the vertices and dither of each input's dithered point (:class:`Segment`).
        noise_std: finite and ``>= 0``.
    Returns:
        ``(N, D)``; gradients reach ``x`` and, through the two distances, both vertices.
    """
    start, end, lam = segment
    first = _noisy_direction(start - x, noise_std, generator)
    second = _noisy_direction(end - x, noise_std, generator)
    lam = lam.detach()
    return (x + torch.linalg.vector_norm(start - x, dim=-1, keepdim=True) * ((1 - lam) * first)
            + torch.linalg.vector_norm(end - x, dim=-1, keepdim=True) * (lam * second))


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise inner products: ``(N, D), (N, D) -> (N, 1)``."""
    return (a * b).sum(-1, keepdim=True)


def rotation_trick(x: torch.Tensor, quantized: torch.Tensor, beta: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """The rotation trick (Fifty et al., "Restructuring vector quantization with the rotation trick", ICLR 2025).

    The forward value is ``q`` exactly. The gradient to ``x`` is the output's gradient ``g`` passed
    back through the rotation and rescaling that take ``x`` to ``q``, held constant: with
    ``u = x / ||x||``, ``v = q / ||q||``, ``w = normalize(u + v)`` and ``s = ||q|| / ||x||``, the map is
    ``x -> s R x`` with ``R = I - 2 w w^T + 2 v u^T`` (``R u = v``), so ``x`` receives
    ``s R^T g = s (g - 2 (w . g) w + 2 (v . g) u)``. No ``D x D`` matrix is formed. Where ``x = 0``
    the gradient passes straight through; where ``q = 0`` it is zero (``s = 0``); where ``v`` is
    within ``sqrt(eps)`` of ``-u`` (``||u + v||`` too small for its direction to survive rounding),
    ``w = 0`` and ``R = I + 2 v u^T`` still takes ``u`` to ``v`` (to within that distance).

    As in the paper, ``R`` and ``s`` are constants (``sg``), so no gradient reaches the codebooks
    through the output: they learn from the VQ-VAE codebook loss, as with :func:`straight_through`.

    Returns:
        ``(output (N, D), loss scalar)``, the loss ``||sg(x) - q||^2 + beta ||x - sg(q)||^2`` (means over elements).
    """
    tiny = torch.finfo(x.dtype).tiny
    with torch.no_grad():
        q = quantized.detach()
        x_norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        q_norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
        u = x / x_norm.clamp_min(tiny)
        v = q / q_norm.clamp_min(tiny)
        w = u + v
        w_norm = torch.linalg.vector_norm(w, dim=-1, keepdim=True)
        # below sqrt(eps) the rounding of u + v would swamp its direction: take the antipodal limit w = 0
        stable = (x_norm > 0) & (w_norm > torch.finfo(x.dtype).eps ** 0.5)
        w = torch.where(stable, w / w_norm.clamp_min(tiny), 0.0)
        scale = torch.where(x_norm > 0, q_norm / x_norm.clamp_min(tiny), 1.0)
    rotated = scale * (x - 2 * _dot(x, w) * w + 2 * _dot(x, u) * v)
    output = q + (rotated - rotated.detach())
    loss = beta * _commitment(x, quantized) + torch.mean((x.detach() - quantized) ** 2)
    return output, loss


_Estimator = Callable[[torch.Tensor, torch.Tensor, float, float, "Segment | None"], tuple[torch.Tensor, torch.Tensor]]


def _no_loss(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return output, output.new_zeros(())


def _need_segment(segment: Segment | None, name: str) -> Segment:
    if segment is None:
        raise ValueError(f"estimator {name!r} needs the curve segment (segment=...); only SpaceFillingVQ has one")
    return segment


_DISPATCH: dict[str, _Estimator] = {
    "nsvq": lambda x, q, beta, s, seg: _no_loss(nsvq(x, q)),
    "ste": lambda x, q, beta, s, seg: straight_through(x, q, beta, codebook_loss=True),
    "ema": lambda x, q, beta, s, seg: straight_through(x, q, beta, codebook_loss=False),
    "diveq": lambda x, q, beta, s, seg: _no_loss(diveq(x, q, s)),
    "diveq_detach": lambda x, q, beta, s, seg: _no_loss(diveq(x, q, 0.0)),
    "rotation": lambda x, q, beta, s, seg: rotation_trick(x, q, beta),
    "sf_diveq": lambda x, q, beta, s, seg: _no_loss(sf_diveq(x, _need_segment(seg, "sf_diveq"), s)),
    "sf_diveq_detach": lambda x, q, beta, s, seg: _no_loss(sf_diveq(x, _need_segment(seg, "sf_diveq_detach"), 0.0)),
}


def apply_estimator(name: str, x: torch.Tensor, quantized: torch.Tensor, *, beta: float = 0.25,
                    noise_std: float = DEFAULT_DIVEQ_NOISE_STD,
                    segment: Segment | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The estimator ``name`` (one of :data:`ESTIMATORS`) on inputs ``x`` and their hard quantization.

    Args:
        name: the estimator.
        x: inputs ``(N, D)``.
        quantized: ``(N, D)`` hard quantization, differentiable with respect to the codebooks (RVQ and
            AVQ: the sum over stages; PVQ: the concatenated parts; SFVQ: the dithered curve point).
        beta: commitment weight (``"ste"``, ``"ema"``, ``"rotation"``).
        noise_std: standard deviation of the direction noise (``"diveq"``, ``"sf_diveq"``).
        segment: the curve segment of each dithered point (``"sf_diveq"``, ``"sf_diveq_detach"``).
    Returns:
        ``(output (N, D), loss scalar)``; the loss is zero for the estimators without one.
    """
    return _DISPATCH[check_estimator(name)](x, quantized, beta, noise_std, segment)
