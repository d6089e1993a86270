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
file with the model's weights and its decoded example crop) are stored atomically under
``<results_dir>/.runs/images/<preset>/`` with the settings that made them, and reused when they
match. A small ``.npz`` of decoded example crops (uint8) is written beside the result files for
the notebook.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..io import results
from ..io.atomic import atomic_write_bytes
from ..quantizers.base import Quantizer, perplexity
from ..data.images import image_tiles, load_image, random_patches, split_images
from ..models.image_vqvae import ImageVQVAE
from ..quantizers import registry
from ..io.tensors import read_safetensors
from .common import RunRecords
from .common import resolve_device

logger = logging.getLogger(__name__)

__all__ = [
    "FIGURES",
    "IMAGE_PRESETS",
    "METHODS",
    "ImageData",
    "ImagePreset",
    "ImageRunKey",
    "build_model",
    "evaluate",
    "example_file",
    "figure_file",
    "get_image_preset",
    "image_data",
    "load_examples",
    "planned_runs",
    "run_images",
    "tile_metrics",
]

#: the figures this module makes
FIGURES = ("4a", "4b")
#: methods, in the order of the authors' files
METHODS = ("AVQ", "RVQ", "PVQ")
RUN_FORMAT = "vqcore-image-run/1"
_FILES = {"4a": ("SSIM_Fig4-a.json", "SSIM", "ssim"), "4b": ("PeakSNR_Fig4-b.json", "Peak SNR", "psnr")}
EXAMPLE_FILE = "icassp2023/Figure 4/decoded_examples_Fig4-ab.npz"
SSIM_DEFINITION = ("skimage.metrics.structural_similarity(reference, decoded, data_range=1.0) per test tile "
                   "(7 x 7 uniform window, grey values in [0, 1]); decoded values clipped to [0, 1]")
PSNR_DEFINITION = ("skimage.metrics.peak_signal_noise_ratio(reference, decoded, data_range=1.0) per test tile, "
                   "in dB (10 log10(1 / MSE)); the mean is the mean of the per-tile dB values")


# -- presets ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImagePreset:
    """Settings of the image-compression experiment (Figures 4a, 4b).

    Model: :class:`ImageVQVAE` with ``latent_dim``, ``channels``, ``downsampling``. Data: a split
    by image with ``test_fraction``, seeded by ``split_seed`` (the same for every seed, so that all
    seeds are scored on the same test tiles); ``num_patches`` random ``patch_size`` crops of the
    training images, drawn with the run's seed; the test set is up to ``tiles_per_image``
    ``tile_size`` tiles of each test image (drawn with ``split_seed`` from its non-overlapping
    tiles; 0 takes them all). Training: see the module docstring; ``steps``/``batch_size``/``lr`` per
    run, ``avq_steps`` for AVQ warm-started from RVQ. ``quantiles``: the band, over seeds (of the
    per-seed mean over the test tiles).
    ``example_image``/``example_size``: the decoded example crop (centre of that image when it
    is in the test split, else of the first test image).
    """

    name: str
    bitrates: tuple[int, ...]
    seeds: tuple[int, ...]
    stages: int
    latent_dim: int
    channels: int
    downsampling: int
    test_fraction: float
    patch_size: int
    num_patches: int
    tile_size: int
    tiles_per_image: int
    pretrain_steps: int
    pretrain_lr: float
    steps: int
    batch_size: int
    lr: float
    replace_every: int
    replace_until: float
    finetune_fraction: float
    finetune_lr_factor: float
    beam_width: int
    avq_init: str = "rvq"
    avq_steps: int | None = None
    avq_lr: float | None = None
    avq_ordered_track: bool = True
    warmup_fraction: float = 0.2
    split_seed: int = 0
    discard_threshold: float = 0.01
    init_vectors: int = 8192
    eval_batch_size: int = 64
    quantiles: tuple[float, float] = (0.05, 0.95)
    example_image: str = "chelsea"
    example_size: int = 128
    notes: str = ""

    def __post_init__(self) -> None:
        if self.avq_init not in ("scratch", "rvq"):
            raise ValueError(f"avq_init must be 'scratch' or 'rvq', got {self.avq_init!r}")
        f = 2 ** self.downsampling
        for name in ("patch_size", "tile_size", "example_size"):
            if getattr(self, name) % f:
                raise ValueError(f"{name} must be a multiple of {f} (2 ** downsampling), got {getattr(self, name)}")
        for b in self.bitrates:
            if b % self.stages:
                raise ValueError(f"bitrates must be divisible by stages ({self.stages}), got {b}")

    @property
    def pixels_per_latent(self) -> int:
        """Pixels coded by one latent vector, ``(2 ** downsampling) ** 2``."""
        return 4 ** self.downsampling

    def bits_per_pixel(self, bits: int) -> float:
        """Bits per pixel at ``bits`` per latent vector."""
        return bits / self.pixels_per_latent

    def data_settings(self) -> dict[str, Any]:
        """What determines the data of a seed (JSON-ready)."""
        return {"split_seed": self.split_seed, "test_fraction": self.test_fraction,
                "patch_size": self.patch_size, "num_patches": self.num_patches,
                "tile_size": self.tile_size, "tiles_per_image": self.tiles_per_image,
                "example_image": self.example_image, "example_size": self.example_size}

    def pretrain_settings(self) -> dict[str, Any]:
        """What determines the pretrained autoencoder of a seed (JSON-ready)."""
        return {"latent_dim": self.latent_dim, "channels": self.channels, "downsampling": self.downsampling,
                "pretrain_steps": self.pretrain_steps, "pretrain_lr": self.pretrain_lr,
                "batch_size": self.batch_size, **self.data_settings()}

    def budget(self, method: str) -> tuple[int, float]:
        """``(steps, lr)`` of ``method`` (AVQ warm-started from RVQ: ``avq_steps``, ``avq_lr``)."""
        if method == "AVQ" and self.avq_init == "rvq":
            return (self.steps if self.avq_steps is None else self.avq_steps,
                    self.lr if self.avq_lr is None else self.avq_lr)
        return self.steps, self.lr

    def training_settings(self, method: str) -> dict[str, Any]:
        """What determines one run besides its key (JSON-ready; validates the run cache)."""
        out: dict[str, Any] = {
            "stages": self.stages, "pretrain": self.pretrain_settings(), "steps": self.budget(method)[0],
            "batch_size": self.batch_size, "lr": self.budget(method)[1], "replace_every": self.replace_every,
            "replace_until": self.replace_until, "finetune_fraction": self.finetune_fraction,
            "finetune_lr_factor": self.finetune_lr_factor, "discard_threshold": self.discard_threshold,
            "init_vectors": self.init_vectors, "warmup_fraction": self.warmup_fraction,
        }
        if method == "AVQ":
            out.update(beam_width=self.beam_width, avq_init=self.avq_init, ordered_track=self.avq_ordered_track)
            if self.avq_init == "rvq":
                out["warm_start"] = self.training_settings("RVQ")
        return out

    def as_dict(self) -> dict[str, Any]:
        """All settings, JSON-ready (for result metadata)."""
        out = dataclasses.asdict(self)
        out["bitrates"], out["seeds"], out["quantiles"] = list(self.bitrates), list(self.seeds), list(self.quantiles)
        return out


_BITRATES = (12, 16, 20, 24, 28, 32, 36, 40)

IMAGE_PRESETS: dict[str, ImagePreset] = {
    "smoke": ImagePreset(
        name="smoke", bitrates=(12, 40), seeds=(0,), stages=4, latent_dim=16, channels=16, downsampling=3,
        test_fraction=0.2, patch_size=32, num_patches=512, tile_size=32, tiles_per_image=6,
        pretrain_steps=200, pretrain_lr=3e-3, steps=12, batch_size=16, lr=3e-4, replace_every=5,
        replace_until=0.9, finetune_fraction=0.25, finetune_lr_factor=0.1, beam_width=4, avq_steps=3,
        init_vectors=1024, example_size=64,
        notes="pipeline check only: two bitrates, one seed, a tiny model and a few steps; the numbers mean little",
    ),
    "quick": ImagePreset(
        name="quick", bitrates=_BITRATES, seeds=(0, 1), stages=4, latent_dim=64, channels=48, downsampling=3,
        test_fraction=0.2, patch_size=32, num_patches=16384, tile_size=64, tiles_per_image=48,
        pretrain_steps=1200, pretrain_lr=3e-3, steps=200, batch_size=64, lr=5e-4, replace_every=40,
        replace_until=0.8, finetune_fraction=0.25, finetune_lr_factor=0.1, beam_width=8, avq_steps=25,
        avq_lr=3e-4,
        notes="minutes on a 2-core CPU, 2 seeds: autoencoder pretrained once per seed (1200 steps), then 200 "
              "end-to-end NSVQ steps per RVQ/PVQ run; AVQ starts from the trained RVQ model and trains 25 "
              "beam-search steps (beam 8)",
    ),
    "paper": ImagePreset(
        name="paper", bitrates=_BITRATES, seeds=(0, 1, 2), stages=4, latent_dim=64, channels=128, downsampling=3,
        test_fraction=0.2, patch_size=64, num_patches=65536, tile_size=64, tiles_per_image=0,
        pretrain_steps=0, pretrain_lr=1e-3, steps=20000, batch_size=64, lr=1e-3, replace_every=1000,
        replace_until=0.9, finetune_fraction=0.1, finetune_lr_factor=0.1, beam_width=16, avq_init="scratch",
        notes="closer to the paper: every model trained end to end from scratch, 20000 steps, beam 16, "
              "all test tiles, 3 seeds; a GPU is recommended",
    ),
}


def get_image_preset(preset: str | ImagePreset) -> ImagePreset:
    """The :class:`ImagePreset` named ``preset`` (``smoke``, ``quick`` or ``paper``), or ``preset`` itself."""
    if isinstance(preset, ImagePreset):
        return preset
    try:
        return IMAGE_PRESETS[str(preset).strip().lower()]
    except KeyError:
        raise ValueError(f"preset must be one of {tuple(IMAGE_PRESETS)}, got {preset!r}") from None


# -- data --------------------------------------------------------------------------------------

@dataclass
class ImageData:
    """The data of one seed.

    Attributes:
        train_names, test_names: the split by image.
        patches: ``(N, 1, P, P)`` float32 training crops in ``[0, 1]``.
        tiles: ``(T, 1, S, S)`` float32 test tiles.
        tile_images: ``(T,)`` the test image each tile comes from.
        example: ``(1, 1, E, E)`` the decoded-example crop; ``example_image`` names its image.
    """

    train_names: list[str]
    test_names: list[str]
    patches: torch.Tensor
    tiles: torch.Tensor
    tile_images: list[str]
    example: torch.Tensor
    example_image: str

    def describe(self) -> dict[str, Any]:
        """Images and pixel counts of both sides of the split, and the sizes used (JSON-ready)."""
        def pixels(names: Sequence[str]) -> dict[str, int]:
            return {n: int(load_image(n).size) for n in names}
        train, test = pixels(self.train_names), pixels(self.test_names)
        tiles = {n: self.tile_images.count(n) for n in self.test_names}
        return {
            "source": "real photographs shipped with scikit-image (skimage.data) and scikit-learn "
                      "(load_sample_images), grey, values in [0, 1] (vqcore.data.images)",
            "train_images": train, "test_images": test,
            "train_pixels": sum(train.values()), "test_pixels": sum(test.values()),
            "train_crops": int(self.patches.shape[0]), "crop_size": int(self.patches.shape[-1]),
            "test_tiles": tiles, "tile_size": int(self.tiles.shape[-1]),
            "test_tile_pixels": int(self.tiles[:, 0].numel()),
            "example_image": self.example_image, "example_size": int(self.example.shape[-1]),
        }


def image_data(preset: str | ImagePreset, seed: int) -> ImageData:
    """The split and test tiles (from ``preset.split_seed``) and the training crops of ``seed``
    at ``preset`` (deterministic)."""
    p = get_image_preset(preset)
    train_names, test_names = split_images(test_fraction=p.test_fraction, seed=p.split_seed)
    patches = random_patches(train_names, p.patch_size, p.num_patches, seed=seed)
    rng = np.random.default_rng([p.split_seed, 4])
    tiles, owners = [], []
    for name in test_names:
        t = image_tiles(name, p.tile_size)
        if p.tiles_per_image and t.shape[0] > p.tiles_per_image:
            t = t[np.sort(rng.choice(t.shape[0], p.tiles_per_image, replace=False))]
        tiles.append(t)
        owners += [name] * t.shape[0]
    ex_name = p.example_image if p.example_image in test_names else test_names[0]
    img = load_image(ex_name)
    e = min(p.example_size, *(s // 8 * 8 for s in img.shape))
    r, c = (img.shape[0] - e) // 2, (img.shape[1] - e) // 2
    example = np.asarray(img[r:r + e, c:c + e], dtype=np.float32)
    return ImageData(train_names=train_names, test_names=test_names,
                     patches=torch.from_numpy(patches).unsqueeze(1),
                     tiles=torch.from_numpy(np.concatenate(tiles)).unsqueeze(1),
                     tile_images=owners, example=torch.from_numpy(example)[None, None], example_image=ex_name)


# -- runs ----------------------------------------------------------------------------------------

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
        return zlib.crc32(f"image-{self.name}".encode()) & 0x7FFFFFFF


def planned_runs(preset: str | ImagePreset = "quick", seeds: Sequence[int] | None = None) -> list[ImageRunKey]:
    """Every run at ``preset``: per seed and bitrate, RVQ, then PVQ, then AVQ (which may start from RVQ)."""
    p = get_image_preset(preset)
    seeds = tuple(p.seeds if seeds is None else seeds)
    return [ImageRunKey(m, b, s) for s in seeds for b in p.bitrates for m in ("RVQ", "PVQ", "AVQ")]


def build_quantizer(method: str, bits: int, preset: ImagePreset) -> Quantizer:
    """The untrained quantizer of ``method`` at ``bits`` per latent vector (bits split evenly)."""
    return registry.build_quantizer(method, preset.latent_dim, bits, stages=preset.stages,
                                    beam_width=preset.beam_width, ordered_track=preset.avq_ordered_track)


def build_model(preset: str | ImagePreset, quantizer: Quantizer | None = None) -> ImageVQVAE:
    """The untrained :class:`ImageVQVAE` of ``preset`` (with ``quantizer``, if given)."""
    p = get_image_preset(preset)
    return ImageVQVAE(p.latent_dim, p.channels, p.downsampling, quantizer=quantizer)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
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
    """SSIM and peak SNR per tile of ``tiles`` ``(T, 1, S, S)`` with hard quantization (inference)."""
    model.eval()
    device = next(model.parameters()).device
    decoded = torch.cat([model.reconstruct(tiles[i:i + batch_size].to(device)).cpu()
                         for i in range(0, tiles.shape[0], batch_size)])
    ssim, psnr = tile_metrics(tiles[:, 0].numpy(), decoded[:, 0].numpy())
    return {"ssim": ssim, "psnr": psnr}


def _train(model: ImageVQVAE, patches: torch.Tensor, steps: int, batch_size: int, lr: float, seed: int,
           preset: ImagePreset, replace: bool, warmup: float = 0.0) -> dict[str, Any]:
    """Adam on the pixel MSE for ``steps`` steps: the learning rate rises linearly over the first
    ``warmup`` fraction (so that a fresh Adam does not kick trained weights), stays at ``lr``, and
    the last ``finetune_fraction`` runs at ``lr * finetune_lr_factor``; codebook replacement when
    ``replace`` and the model has a quantizer. Returns a small log."""
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    decay_at = steps - round(steps * preset.finetune_fraction)
    warm_steps = round(steps * warmup)
    replace_until = min(decay_at, round(preset.replace_until * steps))
    q = model.quantizer
    losses, replaced = [], 0
    for step in range(1, steps + 1):
        rate = lr * preset.finetune_lr_factor if step > decay_at else lr * min(1.0, step / (warm_steps + 1))
        for group in opt.param_groups:
            group["lr"] = rate
        x = patches[torch.randint(patches.shape[0], (batch_size,), generator=gen)].to(device)
        out = model(x)
        loss = F.mse_loss(out.reconstruction, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == steps:
            losses.append(float(loss.detach()))
        if (replace and q is not None and preset.replace_every and step % preset.replace_every == 0
                and step <= replace_until):
            replaced += q.replace_unused_codebooks(preset.replace_every, preset.discard_threshold, generator=gen)
    model.eval()
    return {"final_train_loss": losses[-1] if losses else None, "replaced": replaced, "loss_every_10": losses}


# -- storage -------------------------------------------------------------------------------------

def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], settings: dict[str, Any]) -> Path:
    from safetensors.torch import save as save_bytes

    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, save_bytes(data, metadata={"format": RUN_FORMAT,
                                                               "settings": json.dumps(settings, sort_keys=True)}))


def _load_tensors(path: Path, settings: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        meta, tensors = read_safetensors(path, RUN_FORMAT)
    except ValueError as exc:
        logger.warning("ignoring unreadable %s (%s)", path, exc)
        return None
    if meta.get("settings") != json.dumps(settings, sort_keys=True):
        logger.info("%s was made with other settings; it will be recomputed", path.name)
        return None
    return tensors


class _Cache:
    """Pretrained autoencoders and finished runs under ``root``, written atomically."""

    def __init__(self, root: Path):
        self.records = RunRecords(root, RUN_FORMAT)

    def record(self, key: ImageRunKey, settings: dict[str, Any]) -> dict[str, Any] | None:
        return self.records.get(key, settings, companions=(".safetensors",))

    def tensors(self, key: ImageRunKey, settings: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        return _load_tensors(self.records.path(key, ".safetensors"), settings)

    def put(self, key: ImageRunKey, settings: dict[str, Any], record: dict[str, Any],
            tensors: dict[str, torch.Tensor]) -> None:
        _save_tensors(self.records.path(key, ".safetensors"), tensors, settings)  # first: the record vouches for it
        self.records.put(key, settings, record)


def _run_settings(key: ImageRunKey, preset: ImagePreset) -> dict[str, Any]:
    return {"key": dataclasses.asdict(key), **preset.training_settings(key.method)}


def _pretrained(preset: ImagePreset, seed: int, data: ImageData, cache: _Cache, device: torch.device
                ) -> tuple[ImageVQVAE, dict[str, Any]]:
    """The autoencoder of ``seed`` pretrained without a quantizer (stored, or trained now), and
    its test metrics (the ceiling the quantized models approach)."""
    settings = {"seed": seed, **preset.pretrain_settings()}
    path = cache.records.path(f"autoencoder-s{seed}", ".safetensors")
    torch.manual_seed(zlib.crc32(f"image-ae-s{seed}".encode()))  # the initial weights
    model = build_model(preset).to(device)
    stored = _load_tensors(path, settings)
    if stored is not None:
        model.load_state_dict({k: v for k, v in stored.items() if not k.startswith("_")})
        info = json.loads(bytes(stored["_info"].tolist()).decode("utf-8"))
        return model, info
    start = time.perf_counter()
    log = {"final_train_loss": None}
    if preset.pretrain_steps:
        log = _train(model, data.patches, preset.pretrain_steps, preset.batch_size, preset.pretrain_lr,
                     zlib.crc32(f"image-ae-batches-s{seed}".encode()), preset, replace=False)
    train_s = time.perf_counter() - start
    metrics = evaluate(model, data.tiles, preset.eval_batch_size)
    info = {"steps": preset.pretrain_steps, "train_seconds": round(train_s, 3),
            "final_train_loss": log["final_train_loss"],
            "test_ssim_mean": float(np.mean(metrics["ssim"])), "test_psnr_mean": float(np.mean(metrics["psnr"]))}
    blob = torch.tensor(list(json.dumps(info).encode("utf-8")), dtype=torch.uint8)
    _save_tensors(path, {**model.state_dict(), "_info": blob}, settings)
    logger.info("autoencoder s%d: %d steps in %.1f s, test SSIM %.3f, peak SNR %.2f dB (no quantizer)", seed,
                preset.pretrain_steps, train_s, info["test_ssim_mean"], info["test_psnr_mean"])
    return model, info


def _train_run(key: ImageRunKey, preset: ImagePreset, data: ImageData, ae: ImageVQVAE, device: torch.device,
               warm: dict[str, torch.Tensor] | None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Train and evaluate one run; returns its record and tensors to store (weights, example)."""
    torch.manual_seed(key.run_seed)
    gen = torch.Generator().manual_seed(key.run_seed + 1)
    model = ae.with_quantizer(build_quantizer(key.method, key.bits, preset).to(device))
    before = None
    if warm is not None:
        model.load_state_dict({k: v for k, v in warm.items() if not k.startswith("_")})
        start = time.perf_counter()
        m0 = evaluate(model, data.tiles, preset.eval_batch_size)  # control: the new encoder alone, no training
        before = {"ssim_mean": float(np.mean(m0["ssim"])), "psnr_mean": float(np.mean(m0["psnr"])),
                  "eval_seconds": round(time.perf_counter() - start, 3)}
    else:
        per_patch = (preset.patch_size // model.factor) ** 2
        pick = torch.randperm(data.patches.shape[0], generator=gen)[:max(1, preset.init_vectors // per_patch)]
        with torch.no_grad():
            z = model.encode(data.patches[pick].to(device)).reshape(-1, preset.latent_dim)
        model.quantizer.init_from_data(z, generator=gen)
    start = time.perf_counter()
    steps, lr = preset.budget(key.method)
    log = _train(model, data.patches, steps, preset.batch_size, lr, key.run_seed + 2, preset, replace=True,
                 warmup=preset.warmup_fraction)
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
    example = torch.from_numpy(_to_uint8(model.reconstruct(data.example.to(device))[0, 0]))
    return record, {**model.state_dict(), "_example": example}


# -- files ---------------------------------------------------------------------------------------

def _check_figures(figures: Iterable[str]) -> list[str]:
    out = []
    for f in figures:
        f = str(f).strip().lower()
        if f not in FIGURES:
            raise ValueError(f"figures must be among {FIGURES}, got {f!r}")
        if f not in out:
            out.append(f)
    return out


def figure_file(figure: str) -> str:
    """Path of a figure's result file relative to the results folder (authors' names)."""
    f = str(figure).strip().lower()
    if f not in _FILES:
        raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")
    return f"icassp2023/Figure 4/{_FILES[f][0]}"


def example_file() -> str:
    """Path of the decoded example crops (``.npz``) relative to the results folder."""
    return EXAMPLE_FILE


def _assemble(figure: str, preset: ImagePreset, seeds: Sequence[int], records: dict[ImageRunKey, dict[str, Any]],
              device: torch.device, wall: float, data_info: dict[str, Any], ae_info: dict[int, dict[str, Any]],
              tile_images: Sequence[str]) -> results.ResultFile:
    _, metric, field_ = _FILES[figure]
    series = {}
    labels = [f"{b} bits" for b in preset.bitrates]
    per_image: dict[str, dict[str, list[float]]] = {}
    tile_q: dict[str, dict[str, list[float]]] = {}
    owners = np.asarray(tile_images)
    for method in METHODS:
        # (seeds, bitrates, tiles)
        values = np.asarray([[records[ImageRunKey(method, b, s)][field_] for b in preset.bitrates] for s in seeds])
        summary = results.summarize(values.mean(-1), axis=0, quantiles=preset.quantiles)
        series[method] = results.Series(mean=summary.mean, low=summary.low, high=summary.high)
        per_image[method] = {name: values[:, :, owners == name].mean(axis=(0, 2)).round(5).tolist()
                             for name in dict.fromkeys(tile_images)}
        pooled = values.transpose(1, 0, 2).reshape(len(preset.bitrates), -1)
        tile_q[method] = {"low": np.quantile(pooled, 0.25, axis=1).round(5).tolist(),
                          "high": np.quantile(pooled, 0.75, axis=1).round(5).tolist()}
    runs = {k.name: {"train_seconds": r["train_seconds"], "eval_seconds": r["eval_seconds"],
                     "final_train_loss": r["final_train_loss"], "replaced": r["replaced"],
                     "test_perplexity": [round(v, 2) for v in r["test_perplexity"]],
                     **({"warm_start_before_training": r["before_training"]} if r.get("before_training") else {})}
            for k, r in sorted(records.items())}
    compute = sum(r["train_seconds"] + r["eval_seconds"] for r in records.values())
    compute += sum(i["train_seconds"] for i in ae_info.values())
    f = 2 ** preset.downsampling
    avq_steps, avq_lr = preset.budget("AVQ")
    meta = results.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over=("seeds (one value per seed: the mean over the held-out test tiles, the same tiles for every "
              "seed; each seed has its own training crops, initialisation, batches and NSVQ noise)"),
        per_image=per_image,
        per_image_definition="per method and test image: the mean over its tiles and the seeds, per bitrate",
        tile_quantiles=tile_q,
        tile_quantiles_definition="per method: 25 % and 75 % quantiles of the per-tile values (all seeds pooled)",
        figure=figure, paper="icassp2023", data=data_info,
        metric_definition=SSIM_DEFINITION if field_ == "ssim" else PSNR_DEFINITION,
        bits_per_pixel={lab: preset.bits_per_pixel(b) for lab, b in zip(labels, preset.bitrates)},
        bits_per_pixel_definition=f"bits per latent vector / {f * f} pixels per latent vector ({f} x {f} block)",
        model=(f"ImageVQVAE (vqcore.models.image_vqvae): {preset.downsampling} stride-2 convolutions of "
               f"{preset.channels} channels and a residual block down to one {preset.latent_dim}-d latent vector "
               f"per {f} x {f} pixels, mirrored decoder; grey images"),
        methods={"AVQ": f"AdditiveVQ, {preset.stages} codebooks, beam width {preset.beam_width}"
                        + (", ordered track" if preset.avq_ordered_track else ""),
                 "RVQ": f"ResidualVQ, {preset.stages} stages",
                 "PVQ": f"ProductVQ, {preset.stages} parts of {preset.latent_dim // preset.stages} dims"},
        training=((f"autoencoder pretrained without a quantizer for {preset.pretrain_steps} steps (once per seed), "
                   "then " if preset.pretrain_steps else "from scratch: ")
                  + f"each (method, bitrate) trained end to end with NSVQ for {preset.steps} Adam steps of "
                    f"{preset.batch_size} crops ({preset.patch_size} x {preset.patch_size}), lr {preset.lr} "
                    f"(last {preset.finetune_fraction:.0%} at x{preset.finetune_lr_factor}), codebooks "
                    "initialised from encoder latents, codebook replacement"
                  + (f"; AVQ starts from the trained RVQ model of the same bitrate and seed and trains "
                     f"{avq_steps} more steps (lr {avq_lr}) with beam-search encoding" if preset.avq_init == "rvq"
                     else "; AVQ from scratch like the others")),
        autoencoder_without_quantizer={str(s): i for s, i in ae_info.items()},
        settings=preset.as_dict(), runs=runs, compute_seconds=round(compute, 3), wall_time_s=round(wall, 3),
    )
    return results.ResultFile(metric=metric, x_key="VQ Bitrate", x=labels, series=series, meta=meta)


def _write_examples(path: Path, preset: ImagePreset, seed: int, data: ImageData,
                    examples: dict[ImageRunKey, np.ndarray]) -> Path:
    arrays: dict[str, np.ndarray] = {"original": _to_uint8(data.example[0, 0])}
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
    return atomic_write_bytes(path, buf.getvalue())


def load_examples(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a decoded-examples ``.npz``: ``({"original": (E, E) uint8, "AVQ_12": ..., ...}, info)``."""
    with np.load(Path(path)) as z:
        arrays = {k: z[k] for k in z.files if k != "info"}
        info = json.loads(bytes(z["info"]).decode("utf-8"))
    return arrays, info


def run_images(figures: Iterable[str] = FIGURES, preset: str | ImagePreset = "quick",
               results_dir: str | Path = "Results", device: str | torch.device | None = "auto",
               progress: bool = True, seeds: Sequence[int] | None = None,
               cache_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume) the image experiment and write the result files of ``figures``.

    Args:
        figures: any of ``"4a"`` (SSIM) and ``"4b"`` (peak SNR); both share the same runs.
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`ImagePreset`.
        results_dir: the ``Results`` folder; files go to ``<results_dir>/icassp2023/Figure 4/``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        progress: show a tqdm bar over the runs.
        seeds: override the preset's seeds.
        cache_dir: where finished runs are stored (default ``<results_dir>/.runs/images/<preset>``).
    Returns:
        The files written: the figures' JSON files and the decoded examples ``.npz``.
    """
    p = get_image_preset(preset)
    figs = _check_figures(figures)
    if not figs:
        raise ValueError("figures must name at least one of " + ", ".join(FIGURES))
    seeds = tuple(int(s) for s in (p.seeds if seeds is None else seeds))
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = _Cache(Path(cache_dir) if cache_dir is not None else results_dir / ".runs" / "images" / p.name)
    start = time.perf_counter()
    records: dict[ImageRunKey, dict[str, Any]] = {}
    examples: dict[ImageRunKey, np.ndarray] = {}
    ae_info: dict[int, dict[str, Any]] = {}
    data_info: dict[str, Any] = {}
    keys = planned_runs(p, seeds)
    bar = tqdm(total=len(keys), desc=f"images ({p.name})", disable=not progress, unit="run")
    first_data = None
    for seed in seeds:
        data = image_data(p, seed)
        first_data = first_data or data
        data_info[str(seed)] = data.describe()
        ae, ae_info[seed] = _pretrained(p, seed, data, cache, dev)
        for key in (k for k in keys if k.seed == seed):
            bar.set_postfix_str(key.name)
            settings = _run_settings(key, p)
            record = cache.record(key, settings)
            tensors = cache.tensors(key, settings) if record is not None else None
            if record is None or tensors is None:
                warm = None
                if key.method == "AVQ" and p.avq_init == "rvq":
                    rvq = ImageRunKey("RVQ", key.bits, key.seed)
                    warm = cache.tensors(rvq, _run_settings(rvq, p))
                    if warm is None:
                        raise RuntimeError(f"{key.name}: the RVQ run {rvq.name} to start from is not stored")
                record, tensors = _train_run(key, p, data, ae, dev, warm)
                cache.put(key, settings, record, tensors)
                logger.info("%s: SSIM %.4f, peak SNR %.2f dB (train %.1f s, test %.1f s)", key.name,
                            np.mean(record["ssim"]), np.mean(record["psnr"]), record["train_seconds"],
                            record["eval_seconds"])
            records[key] = record
            examples[key] = tensors["_example"].numpy()
            bar.update(1)
    bar.close()
    wall = time.perf_counter() - start
    info = {**data_info[str(seeds[0])], "split_seed": p.split_seed}
    info.pop("train_crops")
    info["train_crops_per_seed"] = p.num_patches
    written = []
    for fig in figs:
        result = _assemble(fig, p, seeds, records, dev, wall, info, ae_info, first_data.tile_images)
        written.append(results.write(result, results_dir / figure_file(fig)))
    written.append(_write_examples(results_dir / EXAMPLE_FILE, p, seeds[0], first_data, examples))
    return written
