"""The seeded Gaussian sources of the toy experiment (vqcore.data.gaussian)."""
from __future__ import annotations

import math

import pytest
import torch

from vqcore.data import gaussian
from vqcore.data.gaussian import correlated_covariance, gaussian_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("kind", ["correlated", "uncorrelated"])
def test_data_is_deterministic_per_seed(kind):
    a = gaussian_dataset(kind, 32, 500, 200, seed=3)
    b = gaussian_dataset(kind, 32, 500, 200, seed=3)
    c = gaussian_dataset(kind, 32, 500, 200, seed=4)
    assert a.train.shape == (500, 32) and a.test.shape == (200, 32)
    assert a.train.dtype == torch.float32
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train) and not torch.equal(a.test, c.test)
    assert not torch.equal(a.train[:200], a.test)  # separate streams for training and test
    # the test set does not depend on the size of the training set
    assert torch.equal(gaussian_dataset(kind, 32, 50, 200, seed=3).test, a.test)


def test_correlated_source_has_the_documented_covariance():
    dim = 16
    x = gaussian.correlated_gaussian(40000, dim, seed=0).double()
    cov = x.T @ x / x.shape[0]
    expected = correlated_covariance(dim)
    assert (cov - expected).abs().max() < 0.05
    assert math.isclose(float(torch.trace(expected)), dim // 4 + dim * gaussian.DEFAULT_NOISE_VAR)
    q = gaussian.factor_loadings(dim, 4)
    assert torch.allclose(q.T @ q, torch.eye(4, dtype=torch.float64), atol=1e-12)
    assert torch.equal(q, gaussian.factor_loadings(dim, 4))  # fixed per (dim, rank)


def test_uncorrelated_source_is_standard_normal():
    x = gaussian.uncorrelated_gaussian(40000, 8, seed=1).double()
    assert (x.mean(0)).abs().max() < 0.03
    assert (x.T @ x / x.shape[0] - torch.eye(8, dtype=torch.float64)).abs().max() < 0.05


def test_data_arguments_are_checked():
    with pytest.raises(ValueError, match="kind"):
        gaussian_dataset("pink", 8, 10, 10)
    with pytest.raises(ValueError):
        gaussian_dataset("correlated", 8, 0, 10)
    with pytest.raises(ValueError, match="rho"):
        gaussian.ar1_gaussian(10, 8, rho=1.0)
