"""The files of the image experiment: the result JSON of Figures 4a (SSIM) and 4b (peak SNR),
assembled from the runs, and the decoded example crops (``.npz``) the notebook shows.

Their paths come from :data:`vqcore.experiments.registry.FIGURES` (the authors' names and folders).
"""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import result_meta, results
from ..io.atomic import atomic_write_bytes
from . import registry
from .common import parse_figures
from .image_data import ImageData
from .image_metrics import PSNR_DEFINITION, SSIM_DEFINITION, to_uint8
from .image_presets import ImagePreset
from .image_training import ImageRunKey, ImageRuns

__all__ = ["METHODS", "METRICS", "assemble", "example_file", "figure_file", "load_examples", "write_examples"]

#: methods, in the order of the authors' files
METHODS = ("AVQ", "RVQ", "PVQ")
#: per figure: the metric's name in its file, and the field of a run record that holds its per-tile values
METRICS: dict[str, tuple[str, str]] = {"4a": ("SSIM", "ssim"), "4b": ("Peak SNR", "psnr")}
_DEFINITIONS = {"ssim": SSIM_DEFINITION, "psnr": PSNR_DEFINITION}
_OVER = ("seeds (one value per seed: the mean over the held-out test tiles, the same tiles for every "
         "seed; each seed has its own training crops, initialisation, batches and NSVQ noise)")


def figure_file(figure: str) -> str:
    """Path of a figure's (``"4a"``, ``"4b"``) result file relative to the results folder (authors' names)."""
    (fig,) = parse_figures([figure], tuple(METRICS))
    return registry.figure(fig).files[0]


def example_file() -> str:
    """Path of the decoded example crops (``.npz``) relative to the results folder."""
    return registry.figure(next(iter(METRICS))).artefacts[0]


def _spread(values: np.ndarray, quantiles: tuple[float, float], tile_images: Sequence[str]
            ) -> tuple[results.Series, dict[str, list[float]], dict[str, list[float]]]:
    """From one method's per-tile ``values`` ``(seeds, bitrates, tiles)``: the band over seeds of the
    per-seed means, the mean per test image, and the 25 % / 75 % quantiles over the pooled tiles."""
    summary = result_meta.summarize(values.mean(-1), axis=0, quantiles=quantiles)
    owners = np.asarray(tile_images)
    per_image = {name: values[:, :, owners == name].mean(axis=(0, 2)).round(5).tolist()
                 for name in dict.fromkeys(tile_images)}
    pooled = values.transpose(1, 0, 2).reshape(values.shape[1], -1)
    tile_q = {"low": np.quantile(pooled, 0.25, axis=1).round(5).tolist(),
              "high": np.quantile(pooled, 0.75, axis=1).round(5).tolist()}
    return results.Series(mean=summary.mean, low=summary.low, high=summary.high), per_image, tile_q


def _run_summaries(records: dict[ImageRunKey, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run (by name, sorted by key): timings, final loss, replacements, perplexity, warm-start control."""
    return {k.name: {"train_seconds": r["train_seconds"], "eval_seconds": r["eval_seconds"],
                     "final_train_loss": r["final_train_loss"], "replaced": r["replaced"],
                     "test_perplexity": [round(v, 2) for v in r["test_perplexity"]],
                     **({"warm_start_before_training": r["before_training"]} if r.get("before_training") else {})}
            for k, r in sorted(records.items())}


def _data_summary(preset: ImagePreset, seeds: Sequence[int], runs: ImageRuns) -> dict[str, Any]:
    """The first seed's :meth:`ImageData.describe`, with the split seed and the crops per seed."""
    info = {**runs.data[str(seeds[0])], "split_seed": preset.split_seed}
    info.pop("train_crops")
    info["train_crops_per_seed"] = preset.num_patches
    return info


def _description(preset: ImagePreset) -> dict[str, Any]:
    """The ``model``, ``methods`` and ``training`` texts of the meta."""
    f = 2 ** preset.downsampling
    avq_steps, avq_lr = preset.budget("AVQ")
    pretrain = (f"autoencoder pretrained without a quantizer for {preset.pretrain_steps} steps (once per seed), "
                "then " if preset.pretrain_steps else "from scratch: ")
    end_to_end = (f"each (method, bitrate) trained end to end with NSVQ for {preset.steps} Adam steps of "
                  f"{preset.batch_size} crops ({preset.patch_size} x {preset.patch_size}), lr {preset.lr} "
                  f"(last {preset.finetune_fraction:.0%} at x{preset.finetune_lr_factor}), codebooks "
                  "initialised from encoder latents, codebook replacement")
    avq = (f"; AVQ starts from the trained RVQ model of the same bitrate and seed and trains "
           f"{avq_steps} more steps (lr {avq_lr}) with beam-search encoding" if preset.avq_init == "rvq"
           else "; AVQ from scratch like the others")
    return {
        "model": (f"ImageVQVAE (vqcore.models.image_vqvae): {preset.downsampling} stride-2 convolutions of "
                  f"{preset.channels} channels and a residual block down to one {preset.latent_dim}-d latent "
                  f"vector per {f} x {f} pixels, mirrored decoder; grey images"),
        "methods": {"AVQ": f"AdditiveVQ, {preset.stages} codebooks, beam width {preset.beam_width}"
                           + (", ordered track" if preset.avq_ordered_track else ""),
                    "RVQ": f"ResidualVQ, {preset.stages} stages",
                    "PVQ": f"ProductVQ, {preset.stages} parts of {preset.latent_dim // preset.stages} dims"},
        "training": pretrain + end_to_end + avq,
    }


def assemble(figure: str, preset: ImagePreset, seeds: Sequence[int], runs: ImageRuns, device: torch.device,
             wall: float) -> results.ResultFile:
    """The result file of ``figure`` (``"4a"``, ``"4b"``) from the runs of ``seeds``: per method the
    band over seeds, per bitrate, and in ``meta`` the spread over images and tiles and how it was made."""
    metric, field_ = METRICS[figure]
    labels = [f"{b} bits" for b in preset.bitrates]
    series, per_image, tile_q = {}, {}, {}
    for method in METHODS:
        values = np.asarray([[runs.records[ImageRunKey(method, b, s)][field_] for b in preset.bitrates]
                             for s in seeds])  # (seeds, bitrates, tiles)
        series[method], per_image[method], tile_q[method] = _spread(values, preset.quantiles,
                                                                    runs.first.tile_images)
    compute = sum(r["train_seconds"] + r["eval_seconds"] for r in runs.records.values())
    compute += sum(i["train_seconds"] for i in runs.autoencoders.values())
    f = 2 ** preset.downsampling
    meta = result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles, over=_OVER, per_image=per_image,
        per_image_definition="per method and test image: the mean over its tiles and the seeds, per bitrate",
        tile_quantiles=tile_q,
        tile_quantiles_definition="per method: 25 % and 75 % quantiles of the per-tile values (all seeds pooled)",
        figure=figure, paper=registry.figure(figure).paper, data=_data_summary(preset, seeds, runs),
        metric_definition=_DEFINITIONS[field_],
        bits_per_pixel={lab: preset.bits_per_pixel(b) for lab, b in zip(labels, preset.bitrates)},
        bits_per_pixel_definition=f"bits per latent vector / {f * f} pixels per latent vector ({f} x {f} block)",
        **_description(preset),
        autoencoder_without_quantizer={str(s): i for s, i in runs.autoencoders.items()},
        settings=preset.as_dict(), runs=_run_summaries(runs.records), compute_seconds=round(compute, 3),
        wall_time_s=round(wall, 3),
    )
    return results.ResultFile(metric=metric, x_key="VQ Bitrate", x=labels, series=series, meta=meta)


def write_examples(path: str | Path, preset: ImagePreset, seed: int, data: ImageData,
                   examples: dict[ImageRunKey, np.ndarray]) -> Path:
    """Write (atomically) the ``.npz`` of the example crop of ``data`` and its decoded versions from the
    runs of ``seed`` (uint8 grey), with an ``info`` entry (JSON bytes); returns ``path``."""
    arrays: dict[str, np.ndarray] = {"original": to_uint8(data.example[0, 0])}
    for key, img in sorted(examples.items()):
        if key.seed == seed:
            arrays[f"{key.method}_{key.bits}"] = img
    info = {"preset": preset.name, "seed": seed, "image": data.example_image, "size": int(data.example.shape[-1]),
            "crop": "centre of the image", "bits": list(preset.bitrates), "methods": list(METHODS),
            "bits_per_pixel": {str(b): preset.bits_per_pixel(b) for b in preset.bitrates},
            "keys": "original, and <method>_<bits> (uint8 grey, decoded with hard quantization)"}
    arrays["info"] = np.frombuffer(json.dumps(info).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write_bytes(Path(path), buf.getvalue())


def load_examples(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a decoded-examples ``.npz``: ``({"original": (E, E) uint8, "AVQ_12": ..., ...}, info)``."""
    with np.load(Path(path)) as z:
        arrays = {k: z[k] for k in z.files if k != "info"}
        info = json.loads(bytes(z["info"]).decode("utf-8"))
    return arrays, info
