"""The MDCT: perfect reconstruction and its windows."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqcore.speech.mdct import MDCT


@pytest.mark.parametrize("window", ["sine", "kbd"])
@pytest.mark.parametrize("length", [320, 1000, 16001])
def test_mdct_perfect_reconstruction(window, length):
    m = MDCT(320, window)
    x = np.random.default_rng(length).standard_normal(length)
    coeffs = m.forward(x)
    assert coeffs.shape == (math.ceil(length / 320) + 1, 320)
    np.testing.assert_allclose(m.inverse(coeffs, length), x, atol=1e-10)
    assert np.isclose(np.sum(coeffs ** 2), np.sum(x ** 2))  # orthogonal lapped transform
    xt = torch.randn(3, length, dtype=torch.float64)
    torch.testing.assert_close(m.inverse(m.forward(xt), length), xt, atol=1e-10, rtol=0)


def test_mdct_window_princen_bradley_and_errors():
    for kind in ("sine", "kbd"):
        w = MDCT(320, kind).window
        np.testing.assert_allclose(w[:320] ** 2 + w[320:] ** 2, 1.0, atol=1e-12)
    with pytest.raises(ValueError):
        MDCT(321)
    with pytest.raises(ValueError):
        MDCT(320, "hann")
