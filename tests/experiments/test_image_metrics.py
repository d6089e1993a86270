"""SSIM and peak SNR per test tile (vqcore.experiments.image_metrics)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vqcore.experiments.image_metrics import metric_means, tile_metrics, to_uint8


def test_tile_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    ref = rng.random((3, 32, 32))
    noisy = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    ssim, psnr = tile_metrics(ref, noisy)
    assert len(ssim) == len(psnr) == 3
    mse = ((ref - noisy) ** 2).mean(axis=(1, 2))
    assert np.allclose(psnr, 10 * np.log10(1.0 / mse))
    near = np.clip(ref + 0.01 * rng.standard_normal(ref.shape), 0, 1)
    near_ssim, near_psnr = tile_metrics(ref, near)
    assert all(a > b for a, b in zip(near_ssim, ssim)) and all(a > b for a, b in zip(near_psnr, psnr))
    assert all(0.0 < s < 1.0 for s in ssim + near_ssim)
    with pytest.raises(ValueError, match="reference"):
        tile_metrics(ref, ref[:2])


def test_means_and_uint8_conversion():
    assert metric_means({"ssim": [0.5, 1.0], "psnr": [20.0, 30.0]}, "test_") == {
        "test_ssim_mean": 0.75, "test_psnr_mean": 25.0}
    out = to_uint8(torch.tensor([[-0.5, 0.0, 0.5, 1.0, 2.0]]))
    assert out.dtype == np.uint8 and out.tolist() == [[0, 0, 128, 255, 255]]
