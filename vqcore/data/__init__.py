"""Data sets for the experiments (synthetic and seeded; see each module)."""
from .gaussian import (
    KINDS,
    GaussianSplit,
    ar1_gaussian,
    correlated_covariance,
    correlated_gaussian,
    factor_loadings,
    gaussian_dataset,
    uncorrelated_gaussian,
)

__all__ = ["KINDS", "GaussianSplit", "ar1_gaussian", "correlated_covariance", "correlated_gaussian",
           "factor_loadings", "gaussian_dataset", "uncorrelated_gaussian"]
