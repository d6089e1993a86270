"""The NSVQ paper's Figure 3 (Vali & Bäckström, IEEE Access 2022) with our image VQ-VAE and one VQ
codebook: peak SNR and SSIM against the bits of the codebook (6 to 11) for every gradient estimator.

The pipeline is the ICASSP image experiment's (:mod:`vqcore.experiments.images`): per seed the
autoencoder is pretrained without a quantizer
(:func:`~vqcore.experiments.image_training.pretrained_autoencoder`), then for every (method, bits)
a copy gets a :class:`~vqcore.quantizers.vq.VQ` of ``2 ** bits`` entries, its codebook initialised
from the encoder's latents, and is trained end to end
(:func:`~vqcore.experiments.image_training.train_run`) on the pixel MSE plus the quantizer's own
loss (the codebook and commitment terms of STE, EMA and the rotation trick; none for NSVQ and
DiVeQ). The curves: the paper's STE, EMA, NSVQ without and with codebook replacement (CBR), then
DiVeQ, DiVeQ-detach and the rotation trick, with CBR
(:data:`~vqcore.experiments.nsvq2022_presets.METHODS`). All methods of one (bits, seed) share the
seed of their initialisation and batches.

Metrics as in :mod:`~vqcore.experiments.image_metrics` (SSIM and peak SNR per held-out tile, hard
quantization). A file's ``Mean (m)`` is the mean over seeds of the per-seed mean over the tiles,
its quantiles the ``preset.quantiles`` over seeds (one seed: all three equal); ``meta`` adds the
25 % / 75 % quantiles over the tiles. Codebook usage over training goes to
``Results/nsvq2022/Figure 3/usage.json``.

**Resumable**: the pretrained autoencoders and every finished run are stored in a
:class:`~vqcore.experiments.run_cache.RunCache` under ``<results_dir>/.runs/nsvq2022_images/<preset>/``.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import result_meta, results
from ..models.image_vqvae import ImageVQVAE
from ..quantizers.base import Quantizer
from ..quantizers.registry import build_quantizer
from . import registry
from .common import parse_figures, resolve_device, run_seeds, stable_seed
from .image_data import ImageData, image_data
from .image_metrics import PSNR_DEFINITION, SSIM_DEFINITION
from .image_training import RUN_FIELDS, pretrained_autoencoder, train_run
from .nsvq2022_presets import METHODS, NSVQImagePreset, get_image_preset
from .nsvq2022_usage import USAGE_FILE, UsageMonitor, usage_result
from .run_cache import RunCache

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "RUN_FORMAT", "NSVQImageKey", "planned_runs", "run_nsvq2022_images"]

#: the figures this module makes (from :mod:`vqcore.experiments.registry`)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_nsvq2022_images")
RUN_FORMAT = "vqcore-nsvq2022-image-run/1"
#: per result file name: the metric's name in the file, its definition and its field in a run's record
_METRICS = {"PeakSNR.json": ("Peak SNR", PSNR_DEFINITION, "psnr"), "SSIM.json": ("SSIM", SSIM_DEFINITION, "ssim")}
_OVER = ("seeds (one value per seed: the mean over the held-out test tiles, the same tiles for every seed)")


@dataclass(frozen=True, order=True)
class NSVQImageKey:
    """One run: method (a label of :data:`~vqcore.experiments.nsvq2022_presets.METHODS`), bits, seed."""

    label: str
    bits: int
    seed: int

    @property
    def method(self) -> str:
        """The quantizer: one VQ codebook."""
        return "VQ"

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``NSVQ_wo_CBR-8b-s0``."""
        return f"{self.label.replace(' ', '_').replace('/', '')}-{self.bits}b-s{self.seed}"

    @property
    def run_seed(self) -> int:
        """Seed of the initialisation, batches and noise, the same for every method at these bits and seed."""
        return stable_seed(f"nsvq2022-image-{self.bits}b-s{self.seed}")


def planned_runs(preset: str | NSVQImagePreset, seeds: Sequence[int] | None = None) -> list[NSVQImageKey]:
    """Every run of the figure: per seed and bits, each method."""
    p = get_image_preset(preset)
    return [NSVQImageKey(m, b, s) for s in run_seeds(p, seeds) for b in p.bitrates for m in p.methods]


def _quantizer(key: NSVQImageKey, preset: NSVQImagePreset) -> Quantizer:
    method = METHODS[key.label]
    return build_quantizer("VQ", preset.latent_dim, key.bits, estimator=method.estimator,
                           diveq_noise_std=preset.diveq_noise_std)


def _expected(key: NSVQImageKey, preset: NSVQImagePreset, ae: ImageVQVAE, data: ImageData) -> dict[str, torch.Tensor]:
    """Meta tensors of what a stored run of ``key`` holds (weights and example), without touching the RNG."""
    with torch.random.fork_rng(devices=[]):
        q = _quantizer(key, preset)
    state = {**ae.state_dict(), **{f"quantizer.{k}": v for k, v in q.state_dict().items()}}
    e = data.example.shape[-1]
    state["_example"] = torch.empty((e, e), dtype=torch.uint8)
    return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}


def _run(key: NSVQImageKey, preset: NSVQImagePreset, data: ImageData, ae: ImageVQVAE, cache: RunCache,
         device: torch.device) -> dict[str, Any]:
    """The record of run ``key``: stored, or trained now (usage logged) and stored."""
    settings = {"key": {"label": key.label, "bits": key.bits, "seed": key.seed}, **preset.run_settings(key.label)}
    with cache.claim(key):
        stored = cache.get_stored(key, settings, fields={**RUN_FIELDS, "usage": dict},
                                  like=_expected(key, preset, ae, data), only=True)
        if stored is not None:
            return stored[0]
        method = METHODS[key.label]
        monitor = UsageMonitor(1, 2 ** key.bits, preset.usage_every, preset.dead_window)
        record, tensors = train_run(key, preset, data, ae, device, None, quantizer=_quantizer(key, preset),
                                    replace=method.replace, aux_loss=True, monitor=monitor)
        record = {**record, "usage": {"VQ": monitor.as_dict()}, **method.settings()}
        cache.put_tensors(key, settings, record, tensors)
    logger.info("%s: SSIM %.4f, peak SNR %.2f dB (train %.1f s)", key.name, np.mean(record["ssim"]),
                np.mean(record["psnr"]), record["train_seconds"])
    return record


def _assemble(name: str, preset: NSVQImagePreset, seeds: Sequence[int], records: Mapping[NSVQImageKey, Any],
              autoencoders: Mapping[int, Any], data: Mapping[str, Any], device: torch.device,
              wall: float) -> results.ResultFile:
    """The result file ``name`` (``PeakSNR.json`` or ``SSIM.json``): per method the band over seeds."""
    metric, definition, field_ = _METRICS[name]
    series, tiles = {}, {}
    for m in preset.methods:
        values = np.asarray([[records[NSVQImageKey(m, b, s)][field_] for b in preset.bitrates] for s in seeds])
        summary = result_meta.summarize(values.mean(-1), axis=0, quantiles=preset.quantiles)
        series[m] = results.Series(mean=summary.mean, low=summary.low, high=summary.high)
        pooled = values.transpose(1, 0, 2).reshape(len(preset.bitrates), -1)
        tiles[m] = {"low": np.quantile(pooled, 0.25, axis=1).round(5).tolist(),
                    "high": np.quantile(pooled, 0.75, axis=1).round(5).tolist()}
    compute = sum(r["train_seconds"] + r["eval_seconds"] for r in records.values())
    compute += sum(a["train_seconds"] for a in autoencoders.values())
    meta = result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles, over=_OVER, figure="3", paper="nsvq2022",
        metric_definition=definition, tile_quantiles=tiles,
        tile_quantiles_definition="per method: 25 % and 75 % quantiles of the per-tile values (all seeds pooled)",
        data=data, methods={m: METHODS[m].settings() for m in preset.methods},
        diveq_noise_std=preset.diveq_noise_std,
        model=(f"ImageVQVAE (vqcore.models.image_vqvae), {preset.channels} channels, one {preset.latent_dim}-d "
               f"latent per {2 ** preset.downsampling} x {2 ** preset.downsampling} pixels, one VQ codebook of "
               "2^bits entries"),
        training=(f"autoencoder pretrained without a quantizer for {preset.pretrain_steps} steps (once per seed), "
                  f"then per (method, bits) {preset.steps} end-to-end Adam steps (lr {preset.lr}, last "
                  f"{preset.finetune_fraction:.0%} at x{preset.finetune_lr_factor}) on the pixel MSE plus the "
                  "quantizer's loss; codebook from encoder latents; CBR every "
                  f"{preset.replace_every} steps where the method has it"),
        autoencoder_without_quantizer={str(s): a for s, a in autoencoders.items()},
        runs={k.name: {"train_seconds": r["train_seconds"], "replaced": r["replaced"],
                       "test_perplexity": [round(v, 2) for v in r["test_perplexity"]]}
              for k, r in sorted(records.items())},
        usage_file=USAGE_FILE, settings=preset.as_dict(), compute_seconds=round(compute, 3),
        wall_time_s=round(wall, 3))
    return results.ResultFile(metric=metric, x_key="VQ bitrate", x=[f"{b} bits" for b in preset.bitrates],
                              series=series, meta=meta)


def run_nsvq2022_images(figures: str | Iterable[str] | None, preset: str | NSVQImagePreset,
                        results_dir: str | os.PathLike, device: str | torch.device | None, *, progress: bool = True,
                        seeds: Sequence[int] | None = None, cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Run (or resume) Figure 3 and write ``PeakSNR.json``, ``SSIM.json`` and ``usage.json``.

    Args:
        figures: ``["nsvq3"]`` (or ``None``: every figure of :data:`FIGURES`).
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`NSVQImagePreset`.
        results_dir: the ``Results`` folder (files under ``nsvq2022/Figure 3/``, as the registry says).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        progress: tqdm bar over the runs.
        seeds: override the preset's seeds.
        cache_dir: where finished runs are stored (default ``<results_dir>/.runs/nsvq2022_images/<preset>``).

    Returns:
        The files written: the result files in the registry's order, then the usage file.
    """
    wanted = parse_figures(figures, FIGURES)
    p = get_image_preset(preset)
    seeds = run_seeds(p, seeds)
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = RunCache(Path(cache_dir) if cache_dir is not None else results_dir / ".runs" / "nsvq2022_images" / p.name,
                     RUN_FORMAT)
    start = time.perf_counter()
    records, autoencoders, described = {}, {}, {}
    keys = planned_runs(p, seeds)
    with tqdm(total=len(keys), desc=f"nsvq2022 images ({p.name})", disable=not progress, unit="run") as bar:
        for seed in seeds:
            data = image_data(p, seed)
            described.setdefault("seed_" + str(seed), data.describe())
            ae, autoencoders[seed] = pretrained_autoencoder(p, seed, data, cache, dev)
            for key in (k for k in keys if k.seed == seed):
                bar.set_postfix_str(key.name)
                records[key] = _run(key, p, data, ae, cache, dev)
                bar.update(1)
    wall = time.perf_counter() - start
    written = []
    for fid in wanted:
        fig = registry.figure(fid)
        for rel in fig.files:
            result = _assemble(Path(rel).name, p, seeds, records, autoencoders, described, dev, wall)
            written.append(results.write(result, results_dir / rel))
        usage = {f"{k.label}|{k.bits} bits|s{k.seed}": {"method": k.label, "x": f"{k.bits} bits", "seed": k.seed,
                                                         "quantizers": r["usage"]}
                 for k, r in sorted(records.items())}
        meta = result_meta.make_meta(p.name, seeds, dev, over="seeds", figure="3", paper="nsvq2022",
                                     settings=p.as_dict())
        written.append(results.write(usage_result("VQ bitrate", [f"{b} bits" for b in p.bitrates], p.methods, usage,
                                                  meta), results_dir / fig.artefacts[0]))
    return written
