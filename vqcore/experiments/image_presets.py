"""The scales of the image-compression experiment (ICASSP 2023 Figures 4a, 4b): :class:`ImagePreset`
and its ``smoke``, ``quick`` and ``paper`` instances."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .common import Preset, get_preset

__all__ = ["IMAGE_PRESETS", "ImagePreset", "get_image_preset"]


@dataclass(frozen=True, kw_only=True)
class ImagePreset(Preset):
    """Settings of the image-compression experiment (Figures 4a, 4b), besides the base fields
    ``name``, ``seeds`` and ``notes``.

    Model: :class:`~vqcore.models.image_vqvae.ImageVQVAE` with ``latent_dim``, ``channels``, ``downsampling``. Data: a split
    by image with ``test_fraction``, seeded by ``split_seed`` (the same for every seed, so that all
    seeds are scored on the same test tiles); ``num_patches`` random ``patch_size`` crops of the
    training images, drawn with the run's seed; the test set is up to ``tiles_per_image``
    ``tile_size`` tiles of each test image (drawn with ``split_seed`` from its non-overlapping
    tiles; 0 takes them all). Training: see :mod:`vqcore.experiments.images`; ``steps``/``batch_size``/``lr`` per
    run, ``avq_steps`` for AVQ warm-started from RVQ. ``quantiles``: the band, over seeds (of the
    per-seed mean over the test tiles).
    ``example_image``/``example_size``: the decoded example crop (centre of that image when it
    is in the test split, else of the first test image).
    """

    bitrates: tuple[int, ...]
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
        name="quick", bitrates=_BITRATES, seeds=(0, 1, 2), stages=4, latent_dim=64, channels=48, downsampling=3,
        test_fraction=0.2, patch_size=32, num_patches=16384, tile_size=64, tiles_per_image=48,
        pretrain_steps=4800, pretrain_lr=3e-3, steps=200, batch_size=64, lr=5e-4, replace_every=40,
        replace_until=0.8, finetune_fraction=0.25, finetune_lr_factor=0.1, beam_width=8, avq_steps=25,
        avq_lr=3e-4,
        notes="minutes on a 2-core CPU, 3 seeds: autoencoder pretrained once per seed (4800 steps), then 200 "
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


def get_image_preset(preset: str | ImagePreset, overrides: Mapping[str, Any] | None = None) -> ImagePreset:
    """The :class:`ImagePreset` named ``preset`` (``smoke``, ``quick`` or ``paper``), or ``preset``
    itself, with the fields in ``overrides`` replaced (:func:`~vqcore.experiments.common.get_preset`)."""
    return get_preset(IMAGE_PRESETS, preset, overrides)
