"""Seeded synthetic sources for the toy experiment: which data could the paper's figures have used?

The ICASSP 2023 paper calls its toy data "uncorrelated" and "correlated" and says no more, so
this module offers several documented constructions behind one signature,
``builder(num, dim, generator, **params) -> (num, dim) float32`` (every vector an independent
draw from the CPU ``generator``), named in :data:`TOY_SOURCES`.

**Uncorrelated** (independent, identically distributed components, each of mean 0 and
variance 1, so ``E ||x||^2 = D``):

- ``gaussian``: ``N(0, 1)``; the same numbers as
  :func:`vqcore.data.gaussian.uncorrelated_gaussian` for the same generator.
- ``uniform``: ``U(-sqrt 3, sqrt 3)``. The lowest differential entropy a bounded, unit-variance
  component has around here: its rate-distortion function falls faster with the rate than the
  Gaussian's at high rates (the Gaussian is the hardest source of a given variance).
- ``laplace``: Laplace with scale ``1 / sqrt 2``: peaked with heavier tails than the Gaussian,
  the classic model of transform coefficients and prediction residuals.
- ``student_t``: Student's t with ``nu`` (default 5, an integer >= 3) degrees of freedom, scaled
  by ``sqrt((nu - 2) / nu)``: heavy tails, for a data set with outliers.
- ``bernoulli_gaussian``: ``b g / sqrt(p)`` with ``b ~ Bernoulli(p)`` (default ``p = 0.1``) and
  ``g ~ N(0, 1)``: a sparse source, most components exactly 0; its low entropy lets a
  quantizer's error fall much faster with the rate than on any dense source.

**Correlated** (a fixed covariance ``C``, the same for every seed):

- ``factor``: the rank-``r`` factor model of :func:`vqcore.data.gaussian.correlated_gaussian`
  (``r = D / 4``, noise variance 0.01 by default; same numbers for the same generator). Total
  energy ``r + D noise_var`` (16.64 at ``D = 64``), not ``D``.
- ``ar1``: unit-variance AR(1) along the coordinates, ``C_ij = rho^|i - j|`` (``rho`` default
  0.95; :func:`vqcore.data.gaussian.ar1_gaussian`). Unit variance per component.
- ``powerlaw``: ``C = U diag(lambda) U^T`` with ``lambda_k ∝ k^-alpha`` (``alpha`` default 1),
  normalised to ``sum_k lambda_k = D`` (average variance 1 per component; the components'
  variances differ), and ``U`` a fixed random orthonormal basis drawn from a generator seeded by
  ``D`` only.

:func:`source_spectrum` gives each source's covariance eigenvalues (for the Gaussian
rate-distortion bound), :func:`source_dataset` a seeded training and test set drawn like
:func:`vqcore.data.gaussian.gaussian_dataset` (generators ``2 seed + 1`` and ``2 seed + 2``, so
``gaussian`` and ``factor`` give exactly its sets), and :class:`SourceSampler` fresh batches
for :func:`vqcore.training.fit_quantizer`.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from . import gaussian

__all__ = [
    "SourceSampler",
    "SourceSplit",
    "TOY_SOURCES",
    "ToySource",
    "check_source",
    "parse_source",
    "powerlaw_basis",
    "powerlaw_eigenvalues",
    "sample_source",
    "source_spec",
    "source_dataset",
    "source_spectrum",
]

#: seed of the fixed generator of the power-law source's basis (mixed with D)
_BASIS_SEED = 20230605


def _gaussian(num: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    return gaussian.uncorrelated_gaussian(num, dim, generator=generator)


def _uniform(num: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(num, dim, generator=generator, dtype=torch.float64) * 2.0 - 1.0).mul(math.sqrt(3.0)).float()


def _laplace(num: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(num, dim, generator=generator, dtype=torch.float64) - 0.5
    # inverse CDF; 1 - 2|u| is in (0, 1] because rand draws from [0, 1)
    x = -torch.sign(u) * torch.log1p(-2.0 * u.abs()) / math.sqrt(2.0)
    return x.float()


def _student_t(num: int, dim: int, generator: torch.Generator, nu: int = 5) -> torch.Tensor:
    z = torch.randn(num, dim, generator=generator, dtype=torch.float64)
    chi2 = torch.randn(num, dim, nu, generator=generator, dtype=torch.float64).square().sum(-1)
    return (z / torch.sqrt(chi2 / nu) * math.sqrt((nu - 2) / nu)).float()


def _bernoulli_gaussian(num: int, dim: int, generator: torch.Generator, p: float = 0.1) -> torch.Tensor:
    keep = torch.rand(num, dim, generator=generator, dtype=torch.float64) < p
    g = torch.randn(num, dim, generator=generator, dtype=torch.float64)
    return (g * keep / math.sqrt(p)).float()


def _factor(num: int, dim: int, generator: torch.Generator, rank: int | None = None,
            noise_var: float = gaussian.DEFAULT_NOISE_VAR) -> torch.Tensor:
    return gaussian.correlated_gaussian(num, dim, rank, noise_var, generator=generator)


def _ar1(num: int, dim: int, generator: torch.Generator, rho: float = 0.95) -> torch.Tensor:
    return gaussian.ar1_gaussian(num, dim, rho, generator=generator)


def powerlaw_eigenvalues(dim: int, alpha: float) -> torch.Tensor:
    """``lambda_k ∝ k^-alpha``, ``k = 1..dim``, summing to ``dim``: ``(dim,)`` float64."""
    lam = torch.arange(1, dim + 1, dtype=torch.float64).pow(-float(alpha))
    return lam * (dim / lam.sum())


def powerlaw_basis(dim: int) -> torch.Tensor:
    """The fixed ``(dim, dim)`` orthonormal basis of the power-law source (same on every call): float64."""
    gen = torch.Generator().manual_seed(_BASIS_SEED + dim)
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))


def _powerlaw(num: int, dim: int, generator: torch.Generator, alpha: float = 1.0) -> torch.Tensor:
    z = torch.randn(num, dim, generator=generator, dtype=torch.float64)
    return ((z * powerlaw_eigenvalues(dim, alpha).sqrt()) @ powerlaw_basis(dim).T).float()


def _unit_spectrum(dim: int, **_: Any) -> torch.Tensor:
    return torch.ones(dim, dtype=torch.float64)


def _factor_spectrum(dim: int, rank: int | None = None, noise_var: float = gaussian.DEFAULT_NOISE_VAR) -> torch.Tensor:
    return torch.linalg.eigvalsh(gaussian.correlated_covariance(dim, rank, noise_var)).flip(0).clamp(min=0)


def _ar1_spectrum(dim: int, rho: float = 0.95) -> torch.Tensor:
    idx = torch.arange(dim, dtype=torch.float64)
    cov = torch.tensor(rho, dtype=torch.float64).pow((idx[:, None] - idx[None, :]).abs())
    return torch.linalg.eigvalsh(cov).flip(0).clamp(min=0)


def _powerlaw_spectrum(dim: int, alpha: float = 1.0) -> torch.Tensor:
    return powerlaw_eigenvalues(dim, alpha)


def _check_nu(nu: Any) -> None:
    if isinstance(nu, bool) or not isinstance(nu, int) or nu < 3:
        raise ValueError(f"student_t: nu must be an integer >= 3 (finite variance), got {nu!r}")


def _check_p(p: Any) -> None:
    if not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"bernoulli_gaussian: p must be in (0, 1], got {p!r}")


def _check_rho(rho: Any) -> None:
    if not isinstance(rho, (int, float)) or not -1.0 < rho < 1.0:
        raise ValueError(f"ar1: rho must be in (-1, 1), got {rho!r}")


def _check_alpha(alpha: Any) -> None:
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"powerlaw: alpha must be a finite number >= 0, got {alpha!r}")


def _check_factor(rank: Any = None, noise_var: Any = gaussian.DEFAULT_NOISE_VAR) -> None:
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ValueError(f"factor: rank must be None or an integer >= 1, got {rank!r}")
    if not isinstance(noise_var, (int, float)) or noise_var < 0:
        raise ValueError(f"factor: noise_var must be a number >= 0, got {noise_var!r}")


@dataclass(frozen=True)
class ToySource:
    """One entry of :data:`TOY_SOURCES`.

    Attributes:
        builder: ``(num, dim, generator, **params) -> (num, dim) float32``.
        description: what it is, in one line (for result metadata).
        kind: ``"uncorrelated"`` or ``"correlated"``.
        defaults: the parameters it takes and their defaults.
        spectrum: ``(dim, **params) -> (dim,)`` float64 covariance eigenvalues, descending.
        check: raises ``ValueError`` for bad parameter values.
    """

    builder: Callable[..., torch.Tensor]
    description: str
    kind: str
    spectrum: Callable[..., torch.Tensor]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[..., None] | None = None


TOY_SOURCES: dict[str, ToySource] = {
    "gaussian": ToySource(_gaussian, "iid N(0, 1) components", "uncorrelated", _unit_spectrum),
    "uniform": ToySource(_uniform, "iid U(-sqrt 3, sqrt 3) components (unit variance)", "uncorrelated",
                         _unit_spectrum),
    "laplace": ToySource(_laplace, "iid Laplace components of scale 1/sqrt 2 (unit variance)", "uncorrelated",
                         _unit_spectrum),
    "student_t": ToySource(_student_t, "iid Student-t components with nu degrees of freedom, scaled to unit "
                                       "variance", "uncorrelated", _unit_spectrum, {"nu": 5}, _check_nu),
    "bernoulli_gaussian": ToySource(_bernoulli_gaussian, "iid sparse components b g / sqrt p, b ~ Bernoulli(p), "
                                                         "g ~ N(0, 1) (unit variance)", "uncorrelated",
                                    _unit_spectrum, {"p": 0.1}, _check_p),
    "factor": ToySource(_factor, "factor model x = Q z + sqrt(noise_var) e, Q fixed (D x rank) orthonormal, "
                                 "rank D/4 by default", "correlated", _factor_spectrum,
                        {"rank": None, "noise_var": gaussian.DEFAULT_NOISE_VAR}, _check_factor),
    "ar1": ToySource(_ar1, "unit-variance AR(1) along the coordinates, Cov(x_i, x_j) = rho^|i-j|", "correlated",
                     _ar1_spectrum, {"rho": 0.95}, _check_rho),
    "powerlaw": ToySource(_powerlaw, "Gaussian with covariance U diag(lambda) U^T, lambda_k ∝ k^-alpha summing "
                                     "to D, U a fixed random orthonormal basis", "correlated", _powerlaw_spectrum,
                          {"alpha": 1.0}, _check_alpha),
}


def check_source(name: str, params: Mapping[str, Any] | None = None) -> tuple[ToySource, dict[str, Any]]:
    """The entry of source ``name`` and its full parameters (defaults filled in); ``ValueError``
    for an unknown name, an unknown parameter or a bad value."""
    if name not in TOY_SOURCES:
        raise ValueError(f"source must be one of {tuple(TOY_SOURCES)}, got {name!r}")
    src = TOY_SOURCES[name]
    given = dict(params or {})
    unknown = sorted(set(given) - set(src.defaults))
    if unknown:
        raise ValueError(f"source {name!r} takes the parameters {tuple(src.defaults)}, got unknown {unknown}")
    full = {**src.defaults, **given}
    if src.check is not None:
        src.check(**full)
    return src, full


def parse_source(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``"name@key=value[,key=value]"`` (e.g. ``"powerlaw@alpha=3"``, a name safe in
    file names) -> ``(name, params)``, values as int where they read as one, else float; checked
    (:func:`check_source`), the params without the defaults."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"source must be a non-empty string, got {spec!r}")
    name, _, rest = spec.partition("@")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"source {spec!r}: parameters must read key=value, got {item!r}")
        try:
            params[key] = int(text)
        except ValueError:
            try:
                params[key] = float(text)
            except ValueError:
                raise ValueError(f"source {spec!r}: {key} must be a number, got {text!r}") from None
    check_source(name, params)
    return name, params


def source_spec(name: str, params: Mapping[str, Any] | None = None) -> str:
    """The inverse of :func:`parse_source`: ``"powerlaw@alpha=3"`` (just the name without params)."""
    check_source(name, params)
    return name + ("@" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


def _check_sizes(num: int, dim: int) -> None:
    for label, v in (("num", num), ("dim", dim)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be an integer >= 1, got {v!r}")


def sample_source(name: str, num: int, dim: int, generator: torch.Generator, **params: Any) -> torch.Tensor:
    """``num`` independent draws of source ``name`` in ``dim`` dimensions: ``(num, dim)`` float32."""
    src, full = check_source(name, params)
    _check_sizes(num, dim)
    return src.builder(num, dim, generator, **full)


def source_spectrum(name: str, dim: int, **params: Any) -> torch.Tensor:
    """The covariance eigenvalues of source ``name``, descending: ``(dim,)`` float64."""
    src, full = check_source(name, params)
    _check_sizes(1, dim)
    return src.spectrum(dim, **full)


class SourceSampler:
    """Fresh batches of a source, for :func:`vqcore.training.fit_quantizer` (its ``BatchSampler``)."""

    def __init__(self, name: str, dim: int, **params: Any) -> None:
        _, self.params = check_source(name, params)
        _check_sizes(1, dim)
        self.name = name
        self.dim = int(dim)

    def sample(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """``batch_size`` new draws: ``(batch_size, dim)`` float32 on the CPU."""
        return sample_source(self.name, batch_size, self.dim, generator, **self.params)

    def __repr__(self) -> str:
        return f"SourceSampler({self.name!r}, dim={self.dim}, params={self.params})"


@dataclass(frozen=True)
class SourceSplit:
    """A training and a test set drawn from one source: ``train`` ``(num_train, dim)``, ``test``
    ``(num_test, dim)``."""

    train: torch.Tensor
    test: torch.Tensor
    source: str
    dim: int
    seed: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description, for result metadata."""
        src = TOY_SOURCES[self.source]
        return {"source": self.source, "kind": src.kind, "dim": self.dim, "seed": self.seed,
                "params": dict(self.params), "construction": src.description,
                "num_train": int(self.train.shape[0]), "num_test": int(self.test.shape[0])}


def source_dataset(name: str, dim: int, num_train: int, num_test: int, *, seed: int = 0,
                   **params: Any) -> SourceSplit:
    """Seeded training and test sets of source ``name``, from the generators ``2 seed + 1`` and
    ``2 seed + 2`` (as :func:`vqcore.data.gaussian.gaussian_dataset`; the test set does not depend
    on ``num_train``)."""
    _, full = check_source(name, params)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    tr_gen = torch.Generator().manual_seed(2 * seed + 1)
    te_gen = torch.Generator().manual_seed(2 * seed + 2)
    train = sample_source(name, num_train, dim, tr_gen, **full)
    test = sample_source(name, num_test, dim, te_gen, **full)
    return SourceSplit(train, test, name, int(dim), seed, full)
