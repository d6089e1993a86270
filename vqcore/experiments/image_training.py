"""Training of the image experiment: its runs (:class:`ImageRunKey`), the model and quantizer of a
run, the training loop, the pretrained autoencoder of a seed and the trained, tested runs of a
seed, each stored in (or taken from) a :class:`~vqcore.experiments.run_cache.RunCache`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models.image_vqvae import ImageVQVAE
from ..quantizers import registry
from ..quantizers.base import Quantizer, QuantizerOutput, perplexity
from .common import stable_seed
from .autoencoder_training import Checkpoints, train_model
from .run_cache import RunCache
from .image_data import ImageData, image_data
from .image_metrics import evaluate, metric_means, to_uint8
from .image_presets import ImagePreset, get_image_preset

logger = logging.getLogger(__name__)

__all__ = ["RUN_FORMAT", "ImageRunKey", "ImageRuns", "build_model", "build_quantizer", "planned_runs",
           "pretrained_autoencoder", "run_settings", "train_model", "train_run", "train_seed"]

#: format of the stored runs and autoencoders; bump to invalidate old caches
RUN_FORMAT = "vqcore-image-run/1"
#: the pretraining keeps its state this often (steps), so that a killed one resumes (a few minutes lost at most)
PRETRAIN_CHECKPOINT_EVERY = 1000


@dataclass(frozen=True, order=True)
class ImageRunKey:
    """One training run: method, bits per latent vector, seed."""

    method: str
    bits: int
    seed: int

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``AVQ-12b-s0``."""
        return f"{self.method}-{self.bits}b-s{self.seed}"

    @property
    def run_seed(self) -> int:
        """Seed of the run's initialisation, batches and NSVQ noise."""
        return stable_seed(f"image-{self.name}")


@dataclass
class ImageRuns:
    """What the runs of every seed gave, for the result files.

    Attributes:
        records: per run, its record (test metrics per tile, timings, perplexity, ...).
        examples: per run, its decoded example crop, ``(E, E)`` uint8.
        autoencoders: per seed, the pretrained autoencoder's record (steps, timings, test means).
        data: per seed (as a string), :meth:`ImageData.describe`.
        first: the data of the first seed (its tiles' images and example crop).
    """

    records: dict[ImageRunKey, dict[str, Any]] = field(default_factory=dict)
    examples: dict[ImageRunKey, np.ndarray] = field(default_factory=dict)
    autoencoders: dict[int, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    first: ImageData | None = None


def planned_runs(preset: str | ImagePreset = "quick", seeds: Sequence[int] | None = None) -> list[ImageRunKey]:
    """Every run at ``preset``: per seed and bitrate, RVQ, then PVQ, then AVQ (which may start from RVQ)."""
    p = get_image_preset(preset)
    seeds = tuple(p.seeds if seeds is None else seeds)
    return [ImageRunKey(m, b, s) for s in seeds for b in p.bitrates for m in ("RVQ", "PVQ", "AVQ")]


def build_quantizer(method: str, bits: int, preset: ImagePreset) -> Quantizer:
    """The untrained quantizer of ``method`` at ``bits`` per latent vector (bits split evenly over
    ``preset.stages``), from :func:`vqcore.quantizers.registry.build_quantizer`."""
    return registry.build_quantizer(method, preset.latent_dim, bits, stages=preset.stages,
                                    beam_width=preset.beam_width, ordered_track=preset.avq_ordered_track)


def build_model(preset: str | ImagePreset, quantizer: Quantizer | None = None) -> ImageVQVAE:
    """The untrained :class:`ImageVQVAE` of ``preset`` (with ``quantizer``, if given)."""
    p = get_image_preset(preset)
    return ImageVQVAE(p.latent_dim, p.channels, p.downsampling, quantizer=quantizer)


def run_settings(key: ImageRunKey, preset: ImagePreset) -> dict[str, Any]:
    """What made run ``key`` (JSON-ready): its key and :meth:`ImagePreset.training_settings`."""
    return {"key": dataclasses.asdict(key), **preset.training_settings(key.method)}


#: the fields of a run record that the result files read (a record without them is recomputed)
RUN_FIELDS = {"ssim": [float], "psnr": [float], "train_seconds": float, "eval_seconds": float,
              "final_train_loss": (float, type(None)), "replaced": int, "test_perplexity": [float]}
#: the fields of a pretrained autoencoder's record that the result files read
AUTOENCODER_FIELDS = {"train_seconds": float}


def _expected_state(key: ImageRunKey, preset: ImagePreset, ae: ImageVQVAE) -> dict[str, torch.Tensor]:
    """Meta tensors of the names, shapes and dtypes of the weights of ``key``'s model (``ae`` with its
    quantizer, built without touching the global random state)."""
    with torch.random.fork_rng(devices=[]):
        quantizer = build_quantizer(key.method, key.bits, preset)
    state = {**ae.state_dict(), **{f"quantizer.{k}": v for k, v in quantizer.state_dict().items()}}
    return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}


def _stored(cache: RunCache, key: ImageRunKey, settings: dict[str, Any], preset: ImagePreset, ae: ImageVQVAE,
            data: ImageData) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """The record and tensors stored for ``key`` with ``settings``, or None when either is missing or damaged."""
    example = data.example.shape[-1]
    like = {**_expected_state(key, preset, ae),
            "_example": torch.empty((example, example), dtype=torch.uint8, device="meta")}
    return cache.get_stored(key, settings, fields=RUN_FIELDS, like=like, only=True)


def pretrained_autoencoder(preset: ImagePreset, seed: int, data: ImageData, cache: RunCache,
                           device: torch.device) -> tuple[ImageVQVAE, dict[str, Any]]:
    """The autoencoder of ``seed`` pretrained without a quantizer (stored as the run
    ``autoencoder-s<seed>``, or trained now and stored), and its record: steps, training time,
    final loss and test metrics (the ceiling the quantized models approach)."""
    name = f"autoencoder-s{seed}"
    settings = {"seed": seed, **preset.pretrain_settings()}
    with cache.claim(name):
        torch.manual_seed(zlib.crc32(f"image-ae-s{seed}".encode()))  # the initial weights
        model = build_model(preset).to(device)
        stored = cache.load_state(name, settings, model, fields=AUTOENCODER_FIELDS)
        if stored is not None:
            return model, {k: v for k, v in stored[0].items() if k not in ("format", "settings")}
        checkpoints = Checkpoints(cache, name, settings, every=PRETRAIN_CHECKPOINT_EVERY)
        start = time.perf_counter()
        log = {"final_train_loss": None}
        if preset.pretrain_steps:
            log = train_model(model, data.patches, preset.pretrain_steps, preset.batch_size, preset.pretrain_lr,
                              zlib.crc32(f"image-ae-batches-s{seed}".encode()), preset, replace=False,
                              checkpoints=checkpoints)
        train_s = log.get("train_seconds", time.perf_counter() - start)  # with the calls it resumed from
        metrics = evaluate(model, data.tiles, preset.eval_batch_size)
        info = {"steps": preset.pretrain_steps, "train_seconds": round(train_s, 3),
                "final_train_loss": log["final_train_loss"], **metric_means(metrics, "test_")}
        cache.put_tensors(name, settings, info, model.state_dict())
        checkpoints.clear()
    logger.info("autoencoder s%d: %d steps in %.1f s, test SSIM %.3f, peak SNR %.2f dB (no quantizer)", seed,
                preset.pretrain_steps, train_s, info["test_ssim_mean"], info["test_psnr_mean"])
    return model, info


def _init_codebooks(model: ImageVQVAE, data: ImageData, preset: ImagePreset, gen: torch.Generator,
                    device: torch.device) -> None:
    """Initialise the codebooks (``init_from_data``) from the encoder's latent vectors of random
    training crops, about ``preset.init_vectors`` vectors."""
    per_patch = (preset.patch_size // model.factor) ** 2
    pick = torch.randperm(data.patches.shape[0], generator=gen)[:max(1, preset.init_vectors // per_patch)]
    with torch.no_grad():
        z = model.encode(data.patches[pick].to(device)).reshape(-1, preset.latent_dim)
    model.quantizer.init_from_data(z, generator=gen)


def _warm_start(model: ImageVQVAE, warm: dict[str, torch.Tensor], data: ImageData,
                preset: ImagePreset) -> dict[str, float]:
    """Load the stored weights ``warm`` (the RVQ run) into ``model``; returns the test means before
    any training (the control: what the new encoder alone changes)."""
    model.load_state_dict({k: v for k, v in warm.items() if not k.startswith("_")})
    start = time.perf_counter()
    before = metric_means(evaluate(model, data.tiles, preset.eval_batch_size))
    return {**before, "eval_seconds": round(time.perf_counter() - start, 3)}


def train_run(key: ImageRunKey, preset: ImagePreset, data: ImageData, ae: ImageVQVAE, device: torch.device,
              warm: dict[str, torch.Tensor] | None, *, quantizer: Quantizer | None = None, replace: bool = True,
              aux_loss: bool = False, monitor: Callable[[QuantizerOutput], None] | None = None
              ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Train and test one run from the pretrained ``ae`` (or, with ``warm``, from those stored
    weights); returns its record and the tensors to store (the weights and ``_example``, the
    decoded example crop ``(E, E)`` uint8).

    ``quantizer``: the untrained quantizer to insert (None: :func:`build_quantizer` of the key's
    method); ``replace``, ``aux_loss``, ``monitor``: as in :func:`train_model`."""
    torch.manual_seed(key.run_seed)
    gen = torch.Generator().manual_seed(key.run_seed + 1)
    if quantizer is None:
        quantizer = build_quantizer(key.method, key.bits, preset)
    model = ae.with_quantizer(quantizer.to(device))
    before = None
    if warm is not None:
        before = _warm_start(model, warm, data, preset)
    else:
        _init_codebooks(model, data, preset, gen, device)
    start = time.perf_counter()
    steps, lr = preset.budget(key.method)
    log = train_model(model, data.patches, steps, preset.batch_size, lr, key.run_seed + 2, preset, replace=replace,
                      warmup=preset.warmup_fraction, aux_loss=aux_loss, monitor=monitor)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = evaluate(model, data.tiles, preset.eval_batch_size)
    eval_s = time.perf_counter() - start
    with torch.no_grad():
        codes = model.quantizer.encode(model.encode(data.tiles[:256].to(device)))
    record = {
        **metrics,
        "bits_per_pixel": preset.bits_per_pixel(key.bits),
        "train_seconds": round(train_s, 3), "eval_seconds": round(eval_s, 3),
        "final_train_loss": log["final_train_loss"], "replaced": log["replaced"],
        "test_perplexity": perplexity(codes.reshape(-1, preset.stages), model.quantizer.codebook_size).tolist(),
        "warm_start": "RVQ" if warm is not None else None,
        "before_training": before,
        "device": str(device), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    example = torch.from_numpy(to_uint8(model.reconstruct(data.example.to(device))[0, 0]))
    return record, {**model.state_dict(), "_example": example}


def _stored_or_trained(key: ImageRunKey, preset: ImagePreset, data: ImageData, ae: ImageVQVAE, cache: RunCache,
                       device: torch.device) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run ``key`` from ``cache``, or trained now (AVQ warm-started from the stored RVQ run) and stored;
    another runner computing it is waited for."""
    settings = run_settings(key, preset)
    with cache.claim(key):
        stored = _stored(cache, key, settings, preset, ae, data)
        if stored is not None:
            return stored
        warm = None
        if key.method == "AVQ" and preset.avq_init == "rvq":
            rvq = ImageRunKey("RVQ", key.bits, key.seed)
            with cache.claim(rvq):
                warm_run = _stored(cache, rvq, run_settings(rvq, preset), preset, ae, data)
            if warm_run is None:
                raise RuntimeError(f"{key.name}: the RVQ run {rvq.name} to start from is not stored")
            warm = warm_run[1]
        record, tensors = train_run(key, preset, data, ae, device, warm)
        cache.put_tensors(key, settings, record, tensors)
    logger.info("%s: SSIM %.4f, peak SNR %.2f dB (train %.1f s, test %.1f s)", key.name, np.mean(record["ssim"]),
                np.mean(record["psnr"]), record["train_seconds"], record["eval_seconds"])
    return record, tensors


def train_seed(preset: ImagePreset, seed: int, keys: Sequence[ImageRunKey], cache: RunCache, device: torch.device,
               runs: ImageRuns, bar: tqdm) -> None:
    """The data, pretrained autoencoder and runs ``keys`` of ``seed`` (stored or trained now), added to ``runs``;
    ``bar`` advances by one per run."""
    data = image_data(preset, seed)
    runs.first = runs.first or data
    runs.data[str(seed)] = data.describe()
    ae, runs.autoencoders[seed] = pretrained_autoencoder(preset, seed, data, cache, device)
    for key in keys:
        bar.set_postfix_str(key.name)
        record, tensors = _stored_or_trained(key, preset, data, ae, cache, device)
        runs.records[key] = record
        runs.examples[key] = tensors["_example"].numpy()
        bar.update(1)
