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
from .toy_sources import (
    TOY_SOURCES,
    SourceSampler,
    SourceSplit,
    ToySource,
    check_source,
    sample_source,
    source_dataset,
    source_spectrum,
)

__all__ = ["KINDS", "TOY_SOURCES", "GaussianSplit", "SourceSampler", "SourceSplit", "ToySource", "ar1_gaussian",
           "check_source", "correlated_covariance", "correlated_gaussian", "factor_loadings", "gaussian_dataset",
           "sample_source", "source_dataset", "source_spectrum", "uncorrelated_gaussian"]
