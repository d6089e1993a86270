"""The image experiment's metrics: SSIM and peak SNR per test tile, with hard quantization."""
from __future__ import annotations

import numpy as np
import torch

from ..models.image_vqvae import ImageVQVAE

__all__ = ["PSNR_DEFINITION", "SSIM_DEFINITION", "evaluate", "metric_means", "tile_metrics", "to_uint8"]

SSIM_DEFINITION = ("skimage.metrics.structural_similarity(reference, decoded, data_range=1.0) per test tile "
                   "(7 x 7 uniform window, grey values in [0, 1]); decoded values clipped to [0, 1]")
PSNR_DEFINITION = ("skimage.metrics.peak_signal_noise_ratio(reference, decoded, data_range=1.0) per test tile, "
                   "in dB (10 log10(1 / MSE)); the mean is the mean of the per-tile dB values")


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Grey values in ``[0, 1]`` (clipped) as rounded ``uint8`` in ``[0, 255]``, same shape, on the CPU."""
    return (x.detach().cpu().clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def tile_metrics(reference: np.ndarray, decoded: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-image SSIM and peak SNR (dB), ``data_range = 1``: ``(T, H, W)`` twice -> two lists of ``T``."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    reference, decoded = np.asarray(reference, np.float64), np.asarray(decoded, np.float64)
    if reference.shape != decoded.shape or reference.ndim != 3:
        raise ValueError("reference and decoded must both have shape (T, H, W), "
                         f"got {reference.shape} and {decoded.shape}")
    ssim = [float(structural_similarity(r, d, data_range=1.0)) for r, d in zip(reference, decoded)]
    psnr = [float(peak_signal_noise_ratio(r, d, data_range=1.0)) for r, d in zip(reference, decoded)]
    return ssim, psnr


@torch.no_grad()
def evaluate(model: ImageVQVAE, tiles: torch.Tensor, batch_size: int = 64) -> dict[str, list[float]]:
    """SSIM and peak SNR per tile of ``tiles`` ``(T, 1, S, S)`` with hard quantization (inference):
    ``{"ssim": [T values], "psnr": [T values]}``."""
    model.eval()
    device = next(model.parameters()).device
    decoded = torch.cat([model.reconstruct(tiles[i:i + batch_size].to(device)).cpu()
                         for i in range(0, tiles.shape[0], batch_size)])
    ssim, psnr = tile_metrics(tiles[:, 0].numpy(), decoded[:, 0].numpy())
    return {"ssim": ssim, "psnr": psnr}


def metric_means(metrics: dict[str, list[float]], prefix: str = "") -> dict[str, float]:
    """``{"<prefix>ssim_mean": ..., "<prefix>psnr_mean": ...}``: the means over the tiles of :func:`evaluate`'s lists."""
    return {f"{prefix}{name}_mean": float(np.mean(metrics[name])) for name in ("ssim", "psnr")}
