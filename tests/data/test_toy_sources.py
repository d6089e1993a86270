"""vqcore.data.toy_sources: moments, seeding, today's numbers for gaussian and factor, errors."""
import math

import pytest
import torch

from vqcore.data import TOY_SOURCES, SourceSampler, sample_source, source_dataset, source_spectrum
from vqcore.data.gaussian import correlated_covariance, correlated_gaussian, gaussian_dataset, uncorrelated_gaussian
from vqcore.data.toy_sources import check_source, powerlaw_basis, powerlaw_eigenvalues


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", [n for n, s in TOY_SOURCES.items() if s.kind == "uncorrelated"])
def test_uncorrelated_sources_have_zero_mean_unit_variance_and_no_correlation(name):
    x = sample_source(name, 50000, 8, _gen(1)).double()
    assert x.dtype == torch.float64 and x.shape == (50000, 8)
    assert x.mean(0).abs().max() < 0.05
    assert (x.var(0) - 1).abs().max() < 0.08
    corr = torch.corrcoef(x.T) - torch.eye(8, dtype=torch.float64)
    assert corr.abs().max() < 0.05


def test_the_uncorrelated_distributions_are_the_named_ones():
    u = sample_source("uniform", 20000, 4, _gen(2))
    assert u.abs().max() <= math.sqrt(3) and u.abs().max() > 1.7
    kurtosis = {n: float((sample_source(n, 40000, 4, _gen(3)).double() ** 4).mean()) for n in
                ("gaussian", "uniform", "laplace", "bernoulli_gaussian")}
    assert kurtosis["uniform"] == pytest.approx(1.8, abs=0.1)
    assert kurtosis["gaussian"] == pytest.approx(3.0, abs=0.2)
    assert kurtosis["laplace"] == pytest.approx(6.0, abs=0.8)
    assert kurtosis["bernoulli_gaussian"] > 15  # 3 / p at p = 0.1
    zeros = (sample_source("bernoulli_gaussian", 20000, 4, _gen(4)) == 0).float().mean()
    assert float(zeros) == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize("name", list(TOY_SOURCES))
def test_every_source_is_float32_seeded_and_matches_its_spectrum(name):
    dim = 16
    a, b = sample_source(name, 30000, dim, _gen(5)), sample_source(name, 30000, dim, _gen(5))
    assert a.dtype == torch.float32 and a.shape == (30000, dim)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample_source(name, 30000, dim, _gen(6)))
    spec = source_spectrum(name, dim)
    assert spec.shape == (dim,) and bool((spec[:-1] >= spec[1:] - 1e-12).all())
    emp = torch.linalg.eigvalsh(torch.cov(a.double().T)).flip(0)
    assert float(emp.sum()) == pytest.approx(float(spec.sum()), rel=0.05)
    assert float(emp[0]) == pytest.approx(float(spec[0]), rel=0.1)


def test_gaussian_and_factor_are_todays_numbers():
    assert torch.equal(sample_source("gaussian", 100, 64, _gen(7)), uncorrelated_gaussian(100, 64, generator=_gen(7)))
    assert torch.equal(sample_source("factor", 100, 64, _gen(7)), correlated_gaussian(100, 64, generator=_gen(7)))
    for name, kind in (("gaussian", "uncorrelated"), ("factor", "correlated")):
        ours, today = source_dataset(name, 64, 300, 200, seed=2), gaussian_dataset(kind, 64, 300, 200, seed=2)
        assert torch.equal(ours.train, today.train) and torch.equal(ours.test, today.test)
    spec = source_spectrum("factor", 64)
    assert torch.allclose(spec, torch.linalg.eigvalsh(correlated_covariance(64)).flip(0))


def test_ar1_and_powerlaw_covariances():
    x = sample_source("ar1", 40000, 6, _gen(8), rho=0.8).double()
    c = torch.cov(x.T)
    assert float(c[0, 1]) == pytest.approx(0.8, abs=0.03) and float(c[0, 2]) == pytest.approx(0.64, abs=0.03)
    lam = powerlaw_eigenvalues(32, 2.0)
    assert float(lam.sum()) == pytest.approx(32.0) and float(lam[0] / lam[1]) == pytest.approx(4.0)
    basis = powerlaw_basis(32)
    assert torch.allclose(basis.T @ basis, torch.eye(32, dtype=torch.float64), atol=1e-10)
    assert torch.equal(basis, powerlaw_basis(32))
    y = sample_source("powerlaw", 60000, 32, _gen(9), alpha=2.0).double()
    assert torch.allclose(torch.cov(y.T), basis @ torch.diag(lam) @ basis.T, atol=0.15)


def test_split_and_sampler():
    s = source_dataset("laplace", 8, 50, 40, seed=1)
    assert s.train.shape == (50, 8) and s.test.shape == (40, 8)
    assert torch.equal(s.test, source_dataset("laplace", 8, 7, 40, seed=1).test)  # the test set ignores num_train
    assert s.describe()["source"] == "laplace" and s.describe()["kind"] == "uncorrelated"
    sampler = SourceSampler("student_t", 8, nu=4)
    g = _gen(3)
    first, second = sampler.sample(32, g), sampler.sample(32, g)
    assert first.shape == (32, 8) and not torch.equal(first, second)
    assert sampler.params == {"nu": 4} and sampler.dim == 8


def test_bad_names_and_parameters_raise_naming_them():
    with pytest.raises(ValueError, match="source must be one of"):
        sample_source("cauchy", 4, 4, _gen())
    with pytest.raises(ValueError, match="unknown"):
        sample_source("uniform", 4, 4, _gen(), rho=0.5)
    with pytest.raises(ValueError, match="rho"):
        check_source("ar1", {"rho": 1.0})
    with pytest.raises(ValueError, match="nu"):
        SourceSampler("student_t", 4, nu=2)
    with pytest.raises(ValueError, match="p must"):
        sample_source("bernoulli_gaussian", 4, 4, _gen(), p=0.0)
    with pytest.raises(ValueError, match="alpha"):
        source_spectrum("powerlaw", 4, alpha=-1)
    with pytest.raises(ValueError, match="rank"):
        sample_source("factor", 4, 4, _gen(), rank=0)
    with pytest.raises(ValueError, match="num"):
        sample_source("gaussian", 0, 4, _gen())
    with pytest.raises(ValueError, match="seed"):
        source_dataset("gaussian", 4, 2, 2, seed=-1)


def test_source_specs_carry_parameters_and_round_trip():
    from vqcore.data.toy_sources import parse_source, source_spec

    assert parse_source("uniform") == ("uniform", {})
    assert parse_source("powerlaw@alpha=3") == ("powerlaw", {"alpha": 3})
    assert parse_source("ar1@rho=0.99") == ("ar1", {"rho": 0.99})
    assert source_spec(*parse_source("student_t@nu=7")) == "student_t@nu=7"
    with pytest.raises(ValueError, match="rho"):
        parse_source("ar1@rho=1.5")
    with pytest.raises(ValueError, match="key=value"):
        parse_source("ar1@rho")
    with pytest.raises(ValueError, match="must be a number"):
        parse_source("ar1@rho=high")
