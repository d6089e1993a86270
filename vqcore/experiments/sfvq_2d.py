"""The Interspeech 2023 2-D picture (figure ``sfvq2d``): VQ and SFVQ trained on 2-D data.

A Gaussian and a uniform pentagon, VQ (codewords, Voronoi cells) beside SFVQ (its curve) at each of
:attr:`~vqcore.experiments.interspeech_presets.InterspeechPreset.bits_2d` bits. The trained
quantizers are stored (``interspeech2023/sfvq_2d/*.safetensors``, :func:`vqcore.load`) beside
their MSE (``sfvq_2d_mse.json``), so the notebook only draws.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..io import result_meta, results
from ..quantizers.base import Quantizer
from ..quantizers.registry import build_quantizer
from ..quantizers.serialization import save as save_quantizer
from ..training import fit_quantizer, fit_sfvq
from . import registry
from .interspeech_presets import InterspeechPreset

__all__ = [
    "DATA_2D", "gaussian_2d", "pentagon_corners", "quantizer_2d_path", "uniform_pentagon", "write_sfvq_2d",
]

FIGURE = "sfvq2d"
#: the folder of the trained quantizers, relative to the results folder
(MODELS_DIR,) = registry.figure(FIGURE).artefacts


def gaussian_2d(n: int, seed: int) -> torch.Tensor:
    """``n`` samples of a standard 2-D Gaussian: ``(n, 2)``."""
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(int(seed)))


def pentagon_corners() -> torch.Tensor:
    """The corners of the regular pentagon of circumradius 1, one pointing up: ``(5, 2)``."""
    angles = math.pi / 2 + 2 * math.pi * torch.arange(5) / 5
    return torch.stack([angles.cos(), angles.sin()], 1)


def uniform_pentagon(n: int, seed: int) -> torch.Tensor:
    """``n`` points uniform in the regular pentagon of :func:`pentagon_corners`: ``(n, 2)``."""
    gen = torch.Generator().manual_seed(int(seed))
    corners = pentagon_corners()
    triangle = torch.randint(5, (n,), generator=gen)
    u = torch.rand(n, 2, generator=gen)
    u = torch.where(u.sum(1, keepdim=True) > 1, 1 - u, u)
    return u[:, :1] * corners[triangle] + u[:, 1:] * corners[(triangle + 1) % 5]


#: the data sets of the picture: name -> ``sample(n, seed) -> (n, 2)``
DATA_2D = {"Gaussian": gaussian_2d, "Pentagon": uniform_pentagon}


def quantizer_2d_path(results_dir: str | os.PathLike, data: str, method: str, bits: int) -> Path:
    """Where the 2-D figure's trained quantizer of ``method`` at ``bits`` on ``data`` is stored."""
    return Path(results_dir) / MODELS_DIR / f"{data.lower()}_{method.lower()}_{bits}bits.safetensors"


def _fit_pair(x: torch.Tensor, bits: int, steps: int, seed: int, device: torch.device) -> dict[str, Quantizer]:
    """VQ (:func:`~vqcore.training.fit_quantizer`) and SFVQ (:func:`~vqcore.training.fit_sfvq`) fitted to
    ``x`` ``(N, 2)`` at ``bits`` bits."""
    torch.manual_seed(seed)
    vq = build_quantizer("VQ", 2, bits).to(device)
    fit_quantizer(vq, x, steps=steps, lr=1e-2, seed=seed, progress=False)
    sf = build_quantizer("SFVQ", 2, bits).to(device)
    fit_sfvq(sf, x, steps=steps, lr=1e-2, seed=seed, progress=False)
    return {"VQ": vq, "SFVQ": sf}


@torch.no_grad()
def _mse(vq: Quantizer, sf: Quantizer, x: torch.Tensor) -> dict[str, float]:
    """Mean squared error of VQ, of the SFVQ's nearest vertex and of its curve projection on ``x`` ``(N, 2)``."""
    return {"VQ": float(((vq.quantize(x) - x) ** 2).sum(-1).mean()),
            "SFVQ vertex": float(((sf.decode(sf.encode(x)) - x) ** 2).sum(-1).mean()),
            "SFVQ curve": float(((sf.project(x)[0] - x) ** 2).sum(-1).mean())}


def write_sfvq_2d(p: InterspeechPreset, results_dir: str | os.PathLike, seed: int, device: torch.device,
                  progress: bool = True) -> Path:
    """Train VQ and SFVQ on each 2-D data set at each bitrate, store them, write ``sfvq_2d_mse.json``."""
    start = time.perf_counter()
    values: dict[str, list[float]] = {}
    jobs = [(d, b) for d in DATA_2D for b in p.bits_2d]
    for data, bits in tqdm(jobs, desc="2-D VQ and SFVQ", disable=not progress, leave=False):
        x = DATA_2D[data](p.num_2d, seed).to(device)
        models = _fit_pair(x, bits, p.steps_2d, seed, device)
        for m, v in _mse(models["VQ"], models["SFVQ"], x).items():
            values.setdefault(f"{m} ({data})", []).append(v)
        for method, q in models.items():
            save_quantizer(q.cpu(), quantizer_2d_path(results_dir, data, method, bits))
    meta = result_meta.make_meta(
        p.name, [seed], device, over="a single training run per point (no band)",
        paper=registry.figure(FIGURE).paper, figure=FIGURE,
        data={"Gaussian": "standard 2-D Gaussian", "Pentagon": "uniform in a regular pentagon of circumradius 1",
              "num_points": p.num_2d},
        metric_definition="mean over the training points of ||x - Q(x)||^2; 'SFVQ vertex': nearest vertex; "
                          "'SFVQ curve': projection onto the curve (fractional index)",
        training=f"VQ: vqcore.training.fit_quantizer, {p.steps_2d} steps, lr 1e-2, codebook replacement; "
                 f"SFVQ: vqcore.training.fit_sfvq, {p.steps_2d} steps, lr 1e-2, doubling from 4 vertices",
        models=f"{MODELS_DIR}/<data>_<method>_<bits>bits.safetensors (vqcore.load)",
        wall_time_s=round(time.perf_counter() - start, 3))
    series = {name: results.Series(values=v) for name, v in values.items()}
    result = results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=[f"{b} bits" for b in p.bits_2d],
                                series=series, meta=meta)
    return results.write(result, registry.result_path(results_dir, FIGURE))
