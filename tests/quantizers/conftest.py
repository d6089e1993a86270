"""Fixtures shared by the quantizer tests: seeded generators and one fresh quantizer of every class."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import vqcore

#: one small quantizer of every class on 8-dimensional vectors, by class name
ALL_QUANTIZERS: dict[str, Callable[[], vqcore.Quantizer]] = {
    "VQ": lambda: vqcore.VQ(8, bits=4),
    "ResidualVQ": lambda: vqcore.ResidualVQ(8, stages=3, bits_per_stage=3),
    "AdditiveVQ": lambda: vqcore.AdditiveVQ(8, stages=3, bits_per_stage=3, beam_width=4),
    "ProductVQ": lambda: vqcore.ProductVQ(8, stages=2, bits_per_stage=3),
    "SpaceFillingVQ": lambda: vqcore.SpaceFillingVQ(8, bits=4),
}


@pytest.fixture
def gen() -> Callable[[int], torch.Generator]:
    """``gen(seed=0)``: a CPU generator seeded with ``seed``."""
    def make(seed: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(seed)
    return make


@pytest.fixture(params=list(ALL_QUANTIZERS), ids=list(ALL_QUANTIZERS))
def q(request: pytest.FixtureRequest) -> vqcore.Quantizer:
    """A fresh quantizer of each class in turn (dim 8; see :data:`ALL_QUANTIZERS`)."""
    return ALL_QUANTIZERS[request.param]()
