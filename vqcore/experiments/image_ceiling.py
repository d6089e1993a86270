"""What caps the image SSIM: the autoencoder of Figures 4a/4b without quantization.

The quantized models of Figures 4a and 4b start from an autoencoder pretrained without a quantizer
(:func:`~vqcore.experiments.image_training.pretrained_autoencoder`). Its own SSIM and peak SNR on
the held-out test tiles, with no quantizer at all, is the ceiling that a quantizer inserted under it
approaches as its rate grows. This module measures that ceiling for the results of record (the
preset's autoencoder of every seed, the very one the figures' runs use) and an ablation that changes
one factor at a time on the first seed, against a *base* autoencoder (``base-s<seed>``, the preset's
with ``base_steps`` pretraining steps; ``record-s<seed>`` itself when ``base_steps`` is the preset's):

- ``budget-<k>x``: ``k`` times the base's pretraining steps (for each ``k`` of ``budgets``);
- ``channels-<c>``: ``c`` hidden channels;
- ``latent-<d>``: a ``d``-dimensional latent vector per ``f x f`` block;
- the images: every autoencoder is also scored on tiles of its *training* images, and a trivial
  baseline, bicubic down- and up-sampling (``bicubic-<k>``: by ``k`` on a side, i.e.
  ``(f / k) ** 2`` values per ``f x f`` block), is scored on both, to show what the data allow.

Every configuration is one record under ``<results_dir>/.runs/image_ceiling/<preset>/``, so an
interrupted run resumes. An autoencoder pretrained exactly as the preset's (``record-s<seed>``, and a
``budget-<k>x`` that comes to the preset's steps) is the one stored with the figures' runs under
``<results_dir>/.runs/images/<preset>/`` (pretrained once for both); any other is stored in a
subfolder of its name. The file
:data:`CEILING_FILE` (our own analysis, not a paper layout) holds one entry per configuration and a
``meta`` with the preset, seed, device and seconds per configuration; :func:`summarize` says which
factor raises the ceiling most, in total and per unit of compute (the pretraining's
multiply-accumulates, :func:`pretraining_gmacs`: a count, unlike the seconds on a shared CPU).

Run: ``python -m vqcore.experiments.image_ceiling --results-dir Results --base-steps 1200 --budget 2,4``
(the file of record: the ablation on the 1200-step autoencoder that the quick preset pretrained before
this study raised it to 4800 steps; ``budget-4x`` is then the record's own autoencoder).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..io import result_meta, results
from . import registry
from ..io.atomic import atomic_write_text
from ..models.image_vqvae import ImageVQVAE
from .common import resolve_device
from .image_data import image_data, sampled_tiles
from .image_metrics import PSNR_DEFINITION, SSIM_DEFINITION, evaluate, tile_metrics
from .image_presets import ImagePreset, get_image_preset
from .image_training import RUN_FORMAT, ImageRunKey, ImageRuns, pretrained_autoencoder, train_seed
from .run_cache import RunCache, RunRecords

logger = logging.getLogger(__name__)

__all__ = ["CEILING_FILE", "CEILING_FORMAT", "CeilingConfig", "ablation_base", "autoencoder_cache", "configurations", "load_ceiling", "main",
           "measure", "pretraining_gmacs", "run_ceiling", "summarize", "training_tiles", "try_quantized"]

#: the analysis file, relative to the results folder
CEILING_FILE = "icassp2023/Figure 4/ceiling.json"
#: format of the stored ceiling records; bump to invalidate old ones
CEILING_FORMAT = "vqcore-image-ceiling/1"
#: the factors of the ablation, in the order of the file
FACTORS = ("record", "base", "budget", "channels", "latent", "data")
_RECORD_FIELDS = {"ssim": float, "psnr": float, "train_ssim": float, "train_psnr": float, "seconds": float}


@dataclass(frozen=True)
class CeilingConfig:
    """One configuration: its ``name``, the ``factor`` it changes, the ``seed``, the preset
    ``overrides`` (an autoencoder) or the ``bicubic`` down-sampling factor (the baseline)."""

    name: str
    factor: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    bicubic: int | None = None

    def settings(self, preset: ImagePreset) -> dict[str, Any]:
        """What makes its record (JSON-ready; validates the stored one)."""
        p = get_image_preset(preset, self.overrides)
        out = {"name": self.name, "factor": self.factor, "seed": self.seed, "data": p.data_settings()}
        if self.bicubic is None:
            out["pretrain"] = p.pretrain_settings()
        else:
            out["bicubic"] = self.bicubic
        return out


def ablation_base(preset: str | ImagePreset, base_steps: int | None = None) -> str:
    """The name of the configuration the ablation compares against: ``record-s<seed>`` when
    ``base_steps`` is None or the preset's ``pretrain_steps``, else ``base-s<seed>``."""
    p = get_image_preset(preset)
    return f"{'record' if base_steps in (None, p.pretrain_steps) else 'base'}-s{p.seeds[0]}"


def configurations(preset: str | ImagePreset = "quick", *, budgets: Sequence[int] = (4,), channels: int | None = None,
                   latent_dim: int | None = None, base_steps: int | None = None,
                   only: Sequence[str] | None = None) -> list[CeilingConfig]:
    """The configurations at ``preset``, cheapest first on the preset's first seed: ``record-s<seed>``
    (the preset's autoencoder), ``base-s<seed>`` (the preset's with ``base_steps`` pretraining steps;
    only when ``base_steps`` is given and differs from the preset's), ``bicubic-<k>`` for ``k = f, f/2,
    f/4`` (``f = 2 ** downsampling``), then on the base: ``latent-<latent_dim>`` (default twice the
    preset's), ``channels-<channels>`` (default twice), ``budget-<k>x`` the base's pretraining steps for
    each ``k`` of ``budgets``; then ``record-s<seed>`` of the preset's other seeds.
    ``only``: keep the configurations of these names (a ValueError names the unknown ones)."""
    p = get_image_preset(preset)
    channels = 2 * p.channels if channels is None else channels
    latent_dim = 2 * p.latent_dim if latent_dim is None else latent_dim
    budgets = tuple(budgets)
    for name, value in (*(("budgets", b) for b in budgets), ("channels", channels), ("latent_dim", latent_dim),
                        *((("base_steps", base_steps),) if base_steps is not None else ())):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    seed, f = p.seeds[0], 2 ** p.downsampling
    steps = p.pretrain_steps if base_steps is None else base_steps
    base = {} if steps == p.pretrain_steps else {"pretrain_steps": steps}
    configs = [CeilingConfig(f"record-s{seed}", "record", seed)]
    if base:
        configs.append(CeilingConfig(f"base-s{seed}", "base", seed, dict(base)))
    configs += [CeilingConfig(f"bicubic-{k}", "data", seed, bicubic=k) for k in (f, f // 2, f // 4) if k > 1]
    configs += [CeilingConfig(f"latent-{latent_dim}", "latent", seed, {**base, "latent_dim": latent_dim}),
                CeilingConfig(f"channels-{channels}", "channels", seed, {**base, "channels": channels})]
    configs += [CeilingConfig(f"budget-{k}x", "budget", seed, {"pretrain_steps": k * steps}) for k in budgets]
    configs += [CeilingConfig(f"record-s{s}", "record", s) for s in p.seeds[1:]]
    if only is not None:
        names = [c.name for c in configs]
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"only: unknown configurations {unknown}; choose from {names}")
        configs = [c for c in configs if c.name in set(only)]
    return configs


def training_tiles(preset: ImagePreset, names: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    """Up to ``preset.tiles_per_image`` ``tile_size`` tiles of each training image ``names``, drawn like
    the test tiles (from ``split_seed``): ``(T, 1, S, S)`` and the image of each tile."""
    tiles, owners = sampled_tiles(preset, names, 5)
    return torch.from_numpy(tiles).unsqueeze(1), owners


def _bicubic(tiles: torch.Tensor, k: int) -> dict[str, list[float]]:
    """SSIM and peak SNR per tile of ``tiles`` ``(T, 1, S, S)`` down-sampled by ``k`` (bicubic,
    anti-aliased) and up-sampled back (bicubic), clipped to ``[0, 1]``."""
    small = F.interpolate(tiles, scale_factor=1 / k, mode="bicubic", antialias=True, align_corners=False)
    back = F.interpolate(small, size=tiles.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    ssim, psnr = tile_metrics(tiles[:, 0].numpy(), back[:, 0].numpy())
    return {"ssim": ssim, "psnr": psnr}


def _per_image(values: Sequence[float], owners: Sequence[str]) -> dict[str, float]:
    """The mean of ``values`` per image of ``owners`` (rounded)."""
    arr, who = np.asarray(values), np.asarray(owners)
    return {name: round(float(arr[who == name].mean()), 5) for name in dict.fromkeys(owners)}


def _means(test: dict[str, list[float]], train: dict[str, list[float]], owners: Sequence[str]) -> dict[str, Any]:
    return {"ssim": float(np.mean(test["ssim"])), "psnr": float(np.mean(test["psnr"])),
            "train_ssim": float(np.mean(train["ssim"])), "train_psnr": float(np.mean(train["psnr"])),
            "per_image_ssim": _per_image(test["ssim"], owners)}


def autoencoder_cache(config: CeilingConfig, preset: ImagePreset, results_dir: Path) -> RunCache:
    """Where the autoencoder of ``config`` is stored: with the figures' runs
    (``<results_dir>/.runs/images/<preset>/``) when it is pretrained exactly as ``preset``'s, so that one
    pretraining serves both; else ``<results_dir>/.runs/image_ceiling/<preset>/<name>/``."""
    p = get_image_preset(preset, config.overrides)
    if p.pretrain_settings() == preset.pretrain_settings():
        return RunCache(results_dir / ".runs" / "images" / preset.name, RUN_FORMAT)
    return RunCache(results_dir / ".runs" / "image_ceiling" / preset.name / config.name, RUN_FORMAT)


def measure(config: CeilingConfig, preset: ImagePreset, device: torch.device, results_dir: Path) -> dict[str, Any]:
    """Measure ``config`` now (the autoencoder is taken from, or pretrained into,
    :func:`autoencoder_cache`): test and train SSIM and peak SNR (means over the tiles), the test SSIM
    per image, parameters, pretraining steps and seconds."""
    p = get_image_preset(preset, config.overrides)
    data = image_data(p, config.seed)
    train_tiles, _ = training_tiles(p, data.train_names)
    start = time.perf_counter()
    if config.bicubic is not None:
        k = config.bicubic
        record = _means(_bicubic(data.tiles, k), _bicubic(train_tiles, k), data.tile_images)
        values = (2 ** p.downsampling // k) ** 2
        return {**record, "kind": "bicubic", "downsampling_factor": k, "values_per_block": values,
                "parameters": 0, "pretrain_steps": 0, "seconds": round(time.perf_counter() - start, 3)}
    model, info = pretrained_autoencoder(p, config.seed, data, autoencoder_cache(config, preset, results_dir), device)
    test = evaluate(model, data.tiles, p.eval_batch_size)
    train = evaluate(model, train_tiles, p.eval_batch_size)
    return {**_means(test, train, data.tile_images), "kind": "autoencoder",
            "parameters": sum(t.numel() for t in model.parameters()), "pretrain_steps": p.pretrain_steps,
            "channels": p.channels, "latent_dim": p.latent_dim, "downsampling": p.downsampling,
            "values_per_block": p.latent_dim, "seconds": float(info["train_seconds"]),
            "final_train_loss": info["final_train_loss"],
            "eval_seconds": round(time.perf_counter() - start, 3)}


def _per_compute(change: dict[str, Any]) -> float:
    """The ranking value of ``ssim_gain_per_extra_compute`` (a gain at no extra cost ranks first)."""
    value = change["ssim_gain_per_extra_compute"]
    if value is None:
        return math.inf if change["ssim_gain"] > 0 else change["ssim_gain"]
    return value


def pretraining_gmacs(preset: ImagePreset) -> float:
    """Multiply-accumulates of ``preset``'s pretraining, in billions: steps x batch x the convolutions'
    multiply-accumulates for one ``patch_size`` crop x 3 (forward, and a backward pass of about twice
    that). A count from the model's shapes, the same on every machine."""
    macs = [0]

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        k = module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, torch.nn.ConvTranspose2d):
            macs[0] += inputs[0].numel() * module.out_channels * k
        else:
            macs[0] += output.numel() * module.in_channels * k

    with torch.random.fork_rng(devices=[]):
        model = ImageVQVAE(preset.latent_dim, preset.channels, preset.downsampling)
    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.zeros(1, 1, preset.patch_size, preset.patch_size))
    for h in hooks:
        h.remove()
    return 3 * preset.pretrain_steps * preset.batch_size * macs[0] / 1e9


def summarize(ceiling: dict[str, Any]) -> dict[str, Any]:
    """What raises the ceiling, from a ceiling file's content (:func:`load_ceiling`): the ceiling of the
    results of record (the mean over seeds of what their result files record, else of the
    ``record-s<seed>`` entries) and, per factor changed (against the ablation's base, ``meta.ablation_base``:
    ``base-s<seed>`` or ``record-s<seed>``), the SSIM and peak SNR gains, the pretraining compute relative to the record's
    (``compute_ratio``, from ``pretrain_gmacs``; ``seconds_ratio`` from the measured seconds) and the
    SSIM gain per extra record's worth of compute (``ssim_gain_per_extra_compute``: the gain over
    ``compute_ratio - 1``; None when it costs no more); ``largest_gain`` and ``best_per_compute``
    name the configurations that win (one that gains at no extra cost wins the latter); ``data`` compares
    the train and test SSIM of the record's autoencoder and of the bicubic baselines."""
    configs = ceiling["configurations"]
    base_name = ceiling["meta"].get("ablation_base", f"record-s{ceiling['meta']['seed']}")
    if base_name not in configs:
        raise ValueError(f"ceiling: no configuration {base_name!r} to compare against")
    base = configs[base_name]
    changes = {}
    for name, c in configs.items():
        if c["kind"] != "autoencoder" or name.startswith("record-") or name == base_name:
            continue
        gain = c["ssim"] - base["ssim"]
        ratio = (c["pretrain_gmacs"] / base["pretrain_gmacs"] if "pretrain_gmacs" in c and "pretrain_gmacs" in base
                 else c["seconds"] / base["seconds"])
        changes[name] = {"ssim_gain": round(gain, 5), "psnr_gain": round(c["psnr"] - base["psnr"], 4),
                         "compute_ratio": round(ratio, 3), "seconds_ratio": round(c["seconds"] / base["seconds"], 3),
                         "ssim_gain_per_extra_compute": round(gain / (ratio - 1), 5) if ratio > 1.001 else None}
    records = [c for n, c in configs.items() if n.startswith("record-")]
    data = {name: {"train_ssim": round(c["train_ssim"], 5), "test_ssim": round(c["ssim"], 5),
                   "train_minus_test": round(c["train_ssim"] - c["ssim"], 5)}
            for name, c in configs.items()
            if c["kind"] == "bicubic" or name in (base_name, f"record-s{ceiling['meta']['seed']}")}
    recorded = ceiling["meta"].get("autoencoder_of_the_result_files") or {}
    recomputed = {"ssim": float(np.mean([c["ssim"] for c in records])),
                  "psnr": float(np.mean([c["psnr"] for c in records])), "seeds": len(records)}
    of_record = ({"ssim": float(np.mean([r["ssim"] for r in recorded.values()])),
                  "psnr": float(np.mean([r["psnr"] for r in recorded.values()])), "seeds": len(recorded),
                  "source": "the result files"} if recorded else {**recomputed, "source": "recomputed"})
    return {
        "ablation_base": base_name,
        "ceiling_of_record": of_record,
        "ceiling_recomputed": recomputed,
        "changes": changes,
        "largest_gain": max(changes, key=lambda n: changes[n]["ssim_gain"]) if changes else None,
        "best_per_compute": max(changes, key=lambda n: _per_compute(changes[n])) if changes else None,
        "data": data,
    }


def _recorded_autoencoders(preset: ImagePreset, results_dir: Path) -> dict[str, dict[str, float]]:
    """Per seed, the test SSIM and peak SNR that the Figure 4a/4b result files under ``results_dir``
    record for their autoencoder without a quantizer (empty when they are missing or of another preset)."""
    out: dict[str, dict[str, float]] = {}
    try:
        meta = results.load(registry.result_path(results_dir, "4a")).meta
    except (OSError, ValueError) as exc:
        logger.info("no Figure 4a result file to compare with: %s", exc)
        return out
    if meta.get("preset") != preset.name:
        return out
    for seed, info in (meta.get("autoencoder_without_quantizer") or {}).items():
        out[str(seed)] = {"ssim": info["test_ssim_mean"], "psnr": info["test_psnr_mean"]}
    return out


def _assemble(preset: ImagePreset, configs: Sequence[CeilingConfig], records: dict[str, dict[str, Any]],
              device: torch.device, recorded: dict[str, dict[str, float]], base: str) -> dict[str, Any]:
    """The content of the ceiling file (``recorded``: :func:`_recorded_autoencoders`; ``base``: the
    configuration the ablation compares against, :func:`ablation_base`)."""
    meta = result_meta.make_meta(
        preset.name, preset.seeds, device, over="the held-out test tiles of Figures 4a/4b (one mean per entry)",
        seed=preset.seeds[0], seeds_of_record=list(preset.seeds),
        seconds_per_configuration={n: r["seconds"] for n, r in records.items()},
        seconds_definition="pretraining seconds of the autoencoder (stored with it; 0 work for a bicubic "
                           "baseline: the seconds of its evaluation)",
        description="the autoencoder of Figures 4a/4b without a quantizer (the ceiling of any quantizer under "
                    "it), and an ablation on the first seed changing one factor at a time; the images: every "
                    "configuration also scored on tiles of its training images, and bicubic down/up-sampling "
                    "baselines",
        ssim_definition=SSIM_DEFINITION, psnr_definition=PSNR_DEFINITION,
        train_tiles_definition="up to tiles_per_image tiles of each training image, drawn like the test tiles",
        settings=preset.as_dict(), factors={c.name: c.factor for c in configs}, ablation_base=base,
        ablation_base_steps=get_image_preset(preset, next((c.overrides for c in configs if c.name == base), {}))
        .pretrain_steps,
    )
    if recorded:
        meta["autoencoder_of_the_result_files"] = recorded
        meta["autoencoder_of_the_result_files_definition"] = (
            "meta.autoencoder_without_quantizer of the Figure 4a and 4b result files (the same autoencoders, "
            "measured when they were trained; a record-s<seed> entry here retrains it by the same code path, "
            "so it differs only by the rounding of another thread count)")
    entries = {}
    for c in configs:
        entries[c.name] = dict(records[c.name])
        if c.bicubic is None:
            entries[c.name]["pretrain_gmacs"] = round(pretraining_gmacs(get_image_preset(preset, c.overrides)), 3)
    content = {"meta": meta, "configurations": entries}
    if base in records:
        content["summary"] = summarize(content)
    return content


def run_ceiling(preset: str | ImagePreset = "quick", results_dir: str | Path = "Results",
                device: str | torch.device | None = "auto", *, progress: bool = True,
                only: Sequence[str] | None = None, budgets: Sequence[int] = (4,), channels: int | None = None,
                latent_dim: int | None = None, base_steps: int | None = None,
                out: str | Path | None = None) -> Path:
    """Measure (or resume) the configurations of :func:`configurations` and write the ceiling file
    (``out``, default ``<results_dir>/`` :data:`CEILING_FILE`); returns its path."""
    p = get_image_preset(preset)
    configs = configurations(p, budgets=budgets, channels=channels, latent_dim=latent_dim, base_steps=base_steps,
                             only=only)
    dev = resolve_device(device)
    cache = RunRecords(Path(results_dir) / ".runs" / "image_ceiling" / p.name, CEILING_FORMAT)
    records: dict[str, dict[str, Any]] = {}
    with tqdm(configs, desc=f"image ceiling ({p.name})", disable=not progress, unit="config") as bar:
        for config in bar:
            bar.set_postfix_str(config.name)
            settings = config.settings(p)
            with cache.claim(config.name):
                record = cache.get(config.name, settings, fields=_RECORD_FIELDS)
                if record is None:
                    record = measure(config, p, dev, Path(results_dir))
                    cache.put(config.name, settings, record)
            records[config.name] = {k: v for k, v in record.items() if k not in ("format", "settings")}
            logger.info("%s: SSIM %.4f (train %.4f), peak SNR %.2f dB, %.0f s", config.name, record["ssim"],
                        record["train_ssim"], record["psnr"], record["seconds"])
    path = Path(out) if out is not None else Path(results_dir) / CEILING_FILE
    content = _assemble(p, configs, records, dev, _recorded_autoencoders(p, Path(results_dir)),
                        ablation_base(p, base_steps))
    return results.write(_as_result(content), path)


#: the per-configuration values of the file's layout: series name -> entry field
_SERIES = {"SSIM": "ssim", "Peak SNR": "psnr", "Train SSIM": "train_ssim", "Train peak SNR": "train_psnr",
           "Parameters": "parameters", "Pretraining steps": "pretrain_steps", "Pretraining GMAC": "pretrain_gmacs",
           "Seconds": "seconds"}


def _as_result(content: dict[str, Any]) -> dict[str, Any]:
    """The ceiling file in the results layout (:mod:`vqcore.io.results`, as every file under ``Results/``):
    one plain series per value over the configurations (the ``Index``), the entries and summary in ``meta``."""
    configs = content["configurations"]
    out: dict[str, Any] = {"Metric": "Image autoencoder without a quantizer", "Index": list(configs)}
    for series, key in _SERIES.items():
        out[series] = [c.get(key, 0) for c in configs.values()]
    meta = {**content["meta"], "configurations": configs}
    if "summary" in content:
        meta["summary"] = content["summary"]
    return {**out, "meta": meta}


def try_quantized(config_name: str, preset: str | ImagePreset = "quick", results_dir: str | Path = "Results",
                  device: str | torch.device | None = "auto", *, method: str = "RVQ",
                  bits: Sequence[int] = (12, 28, 40), budgets: Sequence[int] = (4,), base_steps: int | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Train and test ``method`` at ``bits`` (first seed only) on the autoencoder of the ablation's
    configuration ``config_name`` (its preset overrides; the autoencoder stored by :func:`run_ceiling`
    is reused, else pretrained), like the runs of Figures 4a/4b. The runs are stored beside that
    autoencoder (:func:`autoencoder_cache`) and the summary in ``<results_dir>/.runs/image_ceiling/<preset>/try-<config>-<method>.json``
    (not a result of record). Returns ``{"ssim": {bits: mean}, "psnr": ..., "gain_ratio", ...}``, where
    ``gain_ratio`` is the SSIM gain from the middle to the last rate over that from the first to the middle."""
    p = get_image_preset(preset)
    known = configurations(p, budgets=budgets, base_steps=base_steps)
    config = next((c for c in known if c.name == config_name), None)
    if config is None or config.bicubic is not None:
        names = [c.name for c in known if c.bicubic is None]
        raise ValueError(f"config_name must be one of {names}, got {config_name!r}")
    bits = tuple(int(b) for b in bits)
    if len(bits) < 3 or list(bits) != sorted(set(bits)):
        raise ValueError(f"bits must be three or more increasing bitrates, got {bits}")
    q = get_image_preset(p, {**config.overrides, "bitrates": bits, "seeds": (config.seed,)})
    root = Path(results_dir) / ".runs" / "image_ceiling" / p.name
    keys = [ImageRunKey(method, b, config.seed) for b in bits]
    runs = ImageRuns()
    start = time.perf_counter()
    with tqdm(total=len(keys), desc=f"{config_name} {method}", disable=not progress, unit="run") as bar:
        train_seed(q, config.seed, keys, autoencoder_cache(config, p, Path(results_dir)), resolve_device(device),
                   runs, bar)
    ssim = {b: float(np.mean(runs.records[k]["ssim"])) for b, k in zip(bits, keys)}
    psnr = {b: float(np.mean(runs.records[k]["psnr"])) for b, k in zip(bits, keys)}
    mid = bits[len(bits) // 2]
    out = {"config": config_name, "overrides": config.overrides, "method": method, "seed": config.seed,
           "ssim": ssim, "psnr": psnr, "autoencoder": runs.autoencoders[config.seed],
           "gain_ratio": (ssim[bits[-1]] - ssim[mid]) / (ssim[mid] - ssim[bits[0]]),
           "train_seconds": sum(r["train_seconds"] for r in runs.records.values()),
           "wall_seconds": round(time.perf_counter() - start, 3)}
    atomic_write_text(root / f"try-{config_name}-{method}.json", json.dumps(out, indent=1, allow_nan=False) + "\n")
    logger.info("%s %s: SSIM %s, gain ratio %.2f", config_name, method,
                ", ".join(f"{b}: {v:.4f}" for b, v in ssim.items()), out["gain_ratio"])
    return out


def load_ceiling(path: str | Path) -> dict[str, Any] | None:
    """The content of a ceiling file, ``{"meta", "configurations", "summary"}`` (the entries per
    configuration, as :func:`run_ceiling` assembled them), or None when there is none; a ValueError
    names a file that is not one."""
    path = Path(path)
    if not path.is_file():
        return None
    meta = dict(results.load(path).meta)  # a ResultsError (a ValueError) names the file
    configs = meta.pop("configurations", None)
    if not isinstance(configs, dict):
        raise ValueError(f"{path}: a ceiling file needs a 'configurations' object in its meta")
    content = {"meta": meta, "configurations": configs}
    if "summary" in meta:
        content["summary"] = meta.pop("summary")
    return content


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vqcore.experiments.image_ceiling [--results-dir Results] [--preset quick] ...``"""
    parser = argparse.ArgumentParser(prog="python -m vqcore.experiments.image_ceiling", description=__doc__.split("\n")[0])
    parser.add_argument("--results-dir", default="Results")
    parser.add_argument("--preset", default="quick", help="smoke, quick or paper")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", default=None, help="comma-separated configuration names (default: all)")
    parser.add_argument("--budget", default="4", help="comma-separated multiples of the base's pretraining steps "
                                                      "(one budget-<k>x configuration each)")
    parser.add_argument("--base-steps", type=int, default=None,
                        help="pretraining steps of the ablation's base autoencoder (default: the preset's)")
    parser.add_argument("--try-rvq", default=None,
                        help="comma-separated autoencoder configurations: train RVQ at 12, 28, 40 bits on each "
                             "(first seed) instead of measuring the ceiling")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    try:
        budgets = tuple(int(s) for s in args.budget.split(",") if s.strip())
    except ValueError as exc:
        raise ValueError(f"--budget must list whole numbers, got {args.budget!r}") from exc
    if args.try_rvq:
        for name in (s.strip() for s in args.try_rvq.split(",") if s.strip()):
            try_quantized(name, args.preset, args.results_dir, args.device, budgets=budgets,
                          base_steps=args.base_steps, progress=not args.no_progress)
        return 0
    path = run_ceiling(args.preset, args.results_dir, args.device, progress=not args.no_progress, only=only,
                       budgets=budgets, base_steps=args.base_steps)
    content = json.loads(path.read_text(encoding="utf-8"))
    logger.info("wrote %s: %s", path, json.dumps(content.get("summary", {}), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
