"""Image compression with a small VQ-VAE: ICASSP 2023 Figures 4a (SSIM) and 4b (peak SNR).

A small convolutional VQ-VAE (:class:`vqcore.models.image_vqvae.ImageVQVAE`) codes grey images
with one latent vector of ``D`` numbers per ``f x f`` block of pixels; the latent vectors pass
through AVQ, RVQ or PVQ (``M = 4`` codebooks, bits split evenly) at 12, 16, ..., 40 bits per
latent vector, trained end to end with NSVQ. Data: the real photographs of
:mod:`vqcore.data.images`, split by image with the run's seed; training on random crops of the
training images, testing on tiles of the held-out images.

**Training** (per seed, then per method and bitrate):

1. *Pretraining* (``preset.pretrain_steps``, may be 0): the encoder and decoder alone, as a
   plain autoencoder (no quantizer), Adam on the pixel MSE. Done once per seed and shared by all
   24 runs, so each run's budget goes into adapting to its quantizer.
2. *End to end with the quantizer*: a copy of the pretrained autoencoder with the quantizer
   inserted, its codebooks initialised from the encoder's latent vectors of training crops
   (``init_from_data``), trained on the pixel MSE with NSVQ (the decoder sees the input plus noise
   of the quantization error's norm, so the encoder, decoder and codebooks all get gradients)
   with codebook replacement, the last ``finetune_fraction`` of the steps at a lower learning rate.
3. *AVQ* with ``avq_init = "rvq"`` (``smoke``, ``quick``) starts from the trained RVQ model of the
   same bitrate and seed (a greedy RVQ solution is a valid set of AVQ codebooks, and the decoder
   already fits it), encodes with beam search (with ``ordered_track``, so never worse than RVQ's
   greedy order with the same codebooks) and trains ``avq_steps`` more steps: a beam-search step
   costs several times an RVQ step on a CPU. With ``"scratch"`` (``paper``) it starts like the others.
   A warm-started AVQ run also records, as a control, the test metrics of the RVQ model encoded
   by beam search before any AVQ training (``meta["runs"][...]["warm_start_before_training"]``):
   what the encoder alone changes, apart from the extra training steps.

**Metrics** on the held-out tiles, hard quantization: SSIM
(:func:`skimage.metrics.structural_similarity`, ``data_range = 1``, 7 x 7 uniform window) and
peak SNR (:func:`skimage.metrics.peak_signal_noise_ratio`, ``data_range = 1``, in dB), one value
per tile. Each seed gives one value per bitrate, the mean over the test tiles (every seed is
scored on the same tiles); a file's ``Mean (m)`` is the mean over seeds and its quantiles the
``preset.quantiles`` (0.05, 0.95) over seeds, as in the toy experiment. How much the quality
varies with image content is recorded beside them: the mean per test image and the 25 % and 75 %
quantiles over the tiles (``meta["per_image"]``, ``meta["tile_quantiles"]``). Bits per pixel:
bits per latent vector over ``f ** 2``.

**Resumable**: the pretrained autoencoder and every finished run (record JSON and a safetensors
file with the model's weights, and for a run its decoded example crop) are stored atomically in a
:class:`~vqcore.experiments.run_cache.RunCache` under ``<results_dir>/.runs/images/<preset>/`` with
the settings that made them, and reused when they match. A small ``.npz`` of decoded example
crops (uint8) is written beside the result files for the notebook.

**Modules**: this one holds the runner, :func:`run_images`; the presets are in
:mod:`~vqcore.experiments.image_presets`, the data of a seed in
:mod:`~vqcore.experiments.image_data`, the metrics in :mod:`~vqcore.experiments.image_metrics`,
the runs and their training in :mod:`~vqcore.experiments.image_training` and the result files in
:mod:`~vqcore.experiments.image_results`; the names most callers need are re-exported here.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..io import results
from . import registry
from .common import parse_figures, resolve_device, run_seeds
from .run_cache import RunCache
from .image_data import ImageData, image_data
from .image_metrics import evaluate, tile_metrics
from .image_presets import IMAGE_PRESETS, ImagePreset, get_image_preset
from .image_results import METHODS, assemble, example_file, figure_file, load_examples, write_examples
from .image_training import RUN_FORMAT, ImageRunKey, ImageRuns, build_model, planned_runs, train_seed

__all__ = ["FIGURES", "run_images"]

#: the figures this module makes (those the registry gives to :func:`run_images`)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_images")


def run_images(figures: str | Iterable[str] | None = FIGURES, preset: str | ImagePreset = "quick",
               results_dir: str | Path = "Results", device: str | torch.device | None = "auto", *,
               progress: bool = True, seeds: Sequence[int] | None = None,
               cache_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume) the image experiment and write the result files of ``figures``.

    Args:
        figures: any of ``"4a"`` (SSIM) and ``"4b"`` (peak SNR) (:func:`~vqcore.experiments.common.parse_figures`;
            None: both); both share the same runs.
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`ImagePreset`.
        results_dir: the ``Results`` folder; the files go where :mod:`vqcore.experiments.registry` says.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        progress: show a tqdm bar over the runs.
        seeds: override the preset's seeds.
        cache_dir: where finished runs are stored (default ``<results_dir>/.runs/images/<preset>``).
    Returns:
        The files written: the figures' JSON files, in the order of :data:`FIGURES`, and the decoded
        examples ``.npz``.
    """
    p = get_image_preset(preset)
    figs = parse_figures(figures, FIGURES)
    seeds = run_seeds(p, seeds)
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = RunCache(Path(cache_dir) if cache_dir is not None else results_dir / ".runs" / "images" / p.name,
                     RUN_FORMAT)
    start = time.perf_counter()
    runs = ImageRuns()
    keys = planned_runs(p, seeds)
    with tqdm(total=len(keys), desc=f"images ({p.name})", disable=not progress, unit="run") as bar:
        for seed in seeds:
            train_seed(p, seed, [k for k in keys if k.seed == seed], cache, dev, runs, bar)
    wall = time.perf_counter() - start
    written = [results.write(assemble(fig, p, seeds, runs, dev, wall), registry.result_path(results_dir, fig))
               for fig in figs]
    written.append(write_examples(results_dir / example_file(), p, seeds[0], runs.first, runs.examples))
    return written
