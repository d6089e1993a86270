"""Seeded Gaussian toy data for the ICASSP 2023 Figures 2 and 3.

Two sources (the papers do not say how theirs were made; these are our choices):

**uncorrelated**: ``x ~ N(0, I_D)``, unit variance per component, total energy
``E ||x||^2 = D``.

**correlated**: a Gaussian *factor model* (probabilistic PCA). A fixed ``D x r`` matrix ``Q``
with orthonormal columns, drawn once per ``(D, r)`` from a fixed generator (so every seed sees
the same source), mixes ``r`` independent unit-variance latent factors into all ``D``
coordinates, and a little isotropic noise makes the covariance full rank:

.. math::

   x = Q z + \\sigma e, \\qquad z \\sim N(0, I_r),\\quad e \\sim N(0, I_D),\\qquad
   \\operatorname{Cov}(x) = Q Q^\\top + \\sigma^2 I_D .

The defaults are ``r = D / 4`` (16 for ``D = 64``) and ``sigma^2 = 0.01``; the total energy is
``r + D sigma^2`` (16.64 for ``D = 64``). Every coordinate is correlated with every other one
(the factors are spread over the whole vector), so a quantizer that codes the whole vector
(AVQ, RVQ) only spends bits on the ``r`` informative directions, while PVQ, which splits the
vector into ``M`` contiguous parts and codes them independently, pays for the same factors in
every part. This is the regime of the paper's Figure 2a, where the MSE of AVQ and RVQ falls
steeply with the bitrate and PVQ's falls slowly and stays far behind.

Why not the classical first-order Gauss-Markov (AR(1)) source along the dimension index
(:func:`ar1_gaussian`, kept as an alternative)? It is Markov: given the boundary samples the
contiguous parts are independent, so splitting the vector costs PVQ little and it does not
show the paper's large PVQ gap.

Every vector is an independent draw; the training and test sets come from two generators
derived from the seed, so a given ``(kind, dim, seed)`` always gives the same data, and the
test set does not depend on the size of the training set.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "KINDS",
    "GaussianSplit",
    "ar1_gaussian",
    "correlated_gaussian",
    "factor_loadings",
    "gaussian_dataset",
    "uncorrelated_gaussian",
]

#: data kinds understood by :func:`gaussian_dataset`
KINDS = ("correlated", "uncorrelated")
#: default noise variance per component of the correlated source
DEFAULT_NOISE_VAR = 0.01
#: seed of the fixed generator that draws the factor loadings (mixed with D and r)
_LOADINGS_SEED = 20230604


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def default_rank(dim: int) -> int:
    """Latent factors of the correlated source by default: ``max(1, dim // 4)``."""
    return max(1, dim // 4)


def uncorrelated_gaussian(num: int, dim: int, *, generator: torch.Generator | None = None,
                          seed: int | None = None) -> torch.Tensor:
    """``num`` draws of ``N(0, I_dim)``: ``(num, dim)`` float32 on the CPU."""
    gen = generator if generator is not None else _generator(0 if seed is None else seed)
    return torch.randn(num, dim, generator=gen)


def factor_loadings(dim: int, rank: int) -> torch.Tensor:
    """The fixed ``(dim, rank)`` matrix ``Q`` with orthonormal columns of the correlated source.

    Drawn from a generator seeded by ``(dim, rank)`` only (QR of a standard Gaussian matrix, signs
    fixed so that ``diag(R) > 0``), so it is the same on every call, machine and seed. float64.
    """
    if not 1 <= rank <= dim:
        raise ValueError(f"rank must be in [1, dim={dim}], got {rank}")
    gen = _generator(_LOADINGS_SEED + 1000 * dim + rank)
    a = torch.randn(dim, rank, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))


def correlated_gaussian(num: int, dim: int, rank: int | None = None, noise_var: float = DEFAULT_NOISE_VAR, *,
                        generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
    """``num`` draws of the factor model ``x = Q z + sqrt(noise_var) e``: ``(num, dim)`` float32.

    ``rank`` latent factors (default ``dim // 4``), loadings :func:`factor_loadings`.
    """
    rank = default_rank(dim) if rank is None else int(rank)
    if noise_var < 0:
        raise ValueError(f"noise_var must be >= 0, got {noise_var}")
    gen = generator if generator is not None else _generator(0 if seed is None else seed)
    q = factor_loadings(dim, rank)
    z = torch.randn(num, rank, generator=gen, dtype=torch.float64)
    e = torch.randn(num, dim, generator=gen, dtype=torch.float64)
    return (z @ q.T + math.sqrt(noise_var) * e).float()


def correlated_covariance(dim: int, rank: int | None = None, noise_var: float = DEFAULT_NOISE_VAR) -> torch.Tensor:
    """``Q Q^T + noise_var I``, the covariance of :func:`correlated_gaussian`: ``(dim, dim)`` float64."""
    rank = default_rank(dim) if rank is None else int(rank)
    q = factor_loadings(dim, rank)
    return q @ q.T + noise_var * torch.eye(dim, dtype=torch.float64)


def ar1_gaussian(num: int, dim: int, rho: float = 0.95, *, generator: torch.Generator | None = None,
                 seed: int | None = None) -> torch.Tensor:
    """Alternative correlated source: unit-variance AR(1) along the dimension index.

    ``x_1 = e_1``, ``x_d = rho x_{d-1} + sqrt(1 - rho^2) e_d``; ``Cov(x_i, x_j) = rho^|i-j|``.
    ``(num, dim)`` float32. Not used by the figures (see the module docstring).
    """
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must be in (-1, 1), got {rho}")
    gen = generator if generator is not None else _generator(0 if seed is None else seed)
    e = torch.randn(num, dim, generator=gen, dtype=torch.float64)
    x = torch.empty_like(e)
    x[:, 0] = e[:, 0]
    scale = math.sqrt(1.0 - rho * rho)
    for d in range(1, dim):
        x[:, d] = rho * x[:, d - 1] + scale * e[:, d]
    return x.float()


@dataclass(frozen=True)
class GaussianSplit:
    """A training and a test set drawn from the same source."""

    train: torch.Tensor
    test: torch.Tensor
    kind: str
    dim: int
    seed: int
    rank: int | None = None
    noise_var: float | None = None

    def describe(self) -> dict:
        """JSON-ready description, for result metadata."""
        out = {"kind": self.kind, "dim": self.dim, "seed": self.seed,
               "num_train": int(self.train.shape[0]), "num_test": int(self.test.shape[0])}
        if self.kind == "correlated":
            out.update(rank=self.rank, noise_var=self.noise_var,
                       construction="factor model x = Q z + sqrt(noise_var) e, Q fixed (dim x rank) "
                                    "orthonormal, z ~ N(0, I_rank), e ~ N(0, I_dim)")
        else:
            out["construction"] = "N(0, I_dim)"
        return out


def gaussian_dataset(kind: str, dim: int, num_train: int, num_test: int, *, seed: int = 0,
                     rank: int | None = None, noise_var: float = DEFAULT_NOISE_VAR) -> GaussianSplit:
    """Seeded training and test sets of ``kind`` ``"correlated"`` or ``"uncorrelated"``.

    The two sets come from two generators derived from ``seed`` (``2 seed + 1`` and
    ``2 seed + 2``), so the test set is the same whatever ``num_train`` is, and vice versa.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if dim < 1 or num_train < 1 or num_test < 1:
        raise ValueError(f"dim, num_train and num_test must be >= 1, got {dim}, {num_train}, {num_test}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    tr_gen, te_gen = _generator(2 * int(seed) + 1), _generator(2 * int(seed) + 2)
    if kind == "correlated":
        rank = default_rank(dim) if rank is None else int(rank)
        train = correlated_gaussian(num_train, dim, rank, noise_var, generator=tr_gen)
        test = correlated_gaussian(num_test, dim, rank, noise_var, generator=te_gen)
        return GaussianSplit(train, test, kind, dim, int(seed), rank, float(noise_var))
    train = uncorrelated_gaussian(num_train, dim, generator=tr_gen)
    test = uncorrelated_gaussian(num_test, dim, generator=te_gen)
    return GaussianSplit(train, test, kind, dim, int(seed))
