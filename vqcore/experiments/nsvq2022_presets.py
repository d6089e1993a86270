"""The settings of the NSVQ paper's figures (Vali & Bäckström, IEEE Access 2022) with the newer
estimators beside its own: :class:`EstimatorMethod` (a curve: its label, estimator and whether
codebook replacement runs), the speech presets (Figure 1, :data:`SPEECH_PRESETS`) and the image
presets (Figure 3, :data:`IMAGE_PRESETS`), each at the ``smoke``, ``quick`` and ``paper`` scales.

The speech presets extend :class:`~vqcore.experiments.speech_presets.SpeechPreset` (its corpus,
training budget and schedule) with the speech VQ-VAE's settings
(:class:`~vqcore.models.speech_vqvae.SpeechVQVAE`: one VQ codebook) and the image presets
:class:`~vqcore.experiments.image_presets.ImagePreset` (the image VQ-VAE, here with one VQ
codebook: ``stages = 1``); both add the methods, the DiVeQ noise and the codebook-usage log.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import common
from .image_presets import ImagePreset
from .speech_presets import SpeechPreset

__all__ = ["IMAGE_METHODS", "IMAGE_PRESETS", "METHODS", "SPEECH_METHODS", "SPEECH_PRESETS", "EstimatorMethod",
           "NSVQImagePreset", "NSVQSpeechPreset", "get_image_preset", "get_speech_preset"]


@dataclass(frozen=True)
class EstimatorMethod:
    """One curve of the figures: ``label`` (the authors' method name where the paper has the
    method), the quantizer's ``estimator`` and whether codebook replacement (CBR) runs."""

    label: str
    estimator: str
    replace: bool

    def settings(self) -> dict[str, Any]:
        """JSON-ready, for the run cache and the meta."""
        return {"estimator": self.estimator, "replace": self.replace}


#: every method by label: the paper's (STE, EMA, NSVQ w/o CBR, NSVQ) and the new ones
METHODS: dict[str, EstimatorMethod] = {m.label: m for m in (
    EstimatorMethod("STE", "ste", False),
    EstimatorMethod("EMA", "ema", False),
    EstimatorMethod("NSVQ w/o CBR", "nsvq", False),
    EstimatorMethod("NSVQ", "nsvq", True),
    EstimatorMethod("DiVeQ", "diveq", True),
    EstimatorMethod("DiVeQ-detach", "diveq_detach", True),
    EstimatorMethod("Rotation", "rotation", True),
)}
#: the curves of Figure 1 (the paper's STE and NSVQ first); every speech run uses the same recipe,
#: codebook replacement included, so only the estimator differs
SPEECH_METHODS: tuple[str, ...] = ("STE", "NSVQ", "DiVeQ", "DiVeQ-detach", "Rotation")
#: the curves of Figure 3 (the paper's four first)
IMAGE_METHODS: tuple[str, ...] = ("STE", "EMA", "NSVQ w/o CBR", "NSVQ", "DiVeQ", "DiVeQ-detach", "Rotation")


def _check_methods(methods: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not methods or any(m not in allowed for m in methods):
        raise ValueError(f"methods must be a non-empty selection of {allowed}, got {methods!r}")


@dataclass(frozen=True, kw_only=True)
class _UsageFields:
    """The fields both figures add: the curves, the DiVeQ noise and the usage log (every
    ``usage_every`` steps: perplexity of the codes of those steps, and the entries not chosen in
    the last ``dead_window`` steps)."""

    diveq_noise_std: float = 1e-3
    usage_every: int = 25
    dead_window: int = 50


@dataclass(frozen=True, kw_only=True)
class NSVQSpeechPreset(_UsageFields, SpeechPreset):
    """:class:`SpeechPreset` with the curves of Figure 1 (``methods``, labels of :data:`METHODS`) and
    the speech VQ-VAE of every codec (:class:`~vqcore.models.speech_vqvae.SpeechVQVAE`, one VQ
    codebook): ``codebook_bits`` per latent vector, ``latent_dim``, ``hidden`` units, the
    perceptual weighting's ``knee_hz``; its codebook starts from the encoder's latents of
    ``init_frames`` random training frames, and replacement discards entries chosen in fewer than
    ``discard_threshold`` of the batches. Every codec is trained end to end by the same recipe
    (``steps``, ``batch_size``, ``lr``, the schedule fields); only the estimator changes."""

    methods: tuple[str, ...] = SPEECH_METHODS
    codebook_bits: int = 8
    latent_dim: int = 8
    hidden: int = 256
    knee_hz: float | None = 300.0
    init_frames: int = 512
    discard_threshold: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_methods(self.methods, SPEECH_METHODS)
        _common_checks(self)
        for name in ("codebook_bits", "latent_dim", "hidden", "init_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.discard_threshold < 1:
            raise ValueError(f"discard_threshold must be in [0, 1), got {self.discard_threshold!r}")

    def model_settings(self) -> dict[str, Any]:
        """The constructor arguments of every codec's :class:`~vqcore.models.speech_vqvae.SpeechVQVAE`
        besides its bitrate and estimator."""
        return {"codebook_bits": self.codebook_bits, "latent_dim": self.latent_dim, "hidden": self.hidden,
                "knee_hz": self.knee_hz, "compand": self.compand}

    def run_settings(self, method: str) -> dict[str, Any]:
        """What determines one codec of ``method`` besides its key (JSON-ready)."""
        return {**self.training_settings("VQ"), **METHODS[method].settings(), **self.model_settings(),
                "diveq_noise_std": self.diveq_noise_std, "usage_every": self.usage_every,
                "dead_window": self.dead_window, "init_frames": self.init_frames,
                "discard_threshold": self.discard_threshold, "codec": "SpeechVQVAE"}


@dataclass(frozen=True, kw_only=True)
class NSVQImagePreset(_UsageFields, ImagePreset):
    """:class:`ImagePreset` with one VQ codebook (``stages = 1``) and the curves of Figure 3."""

    methods: tuple[str, ...] = IMAGE_METHODS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stages != 1:
            raise ValueError(f"stages must be 1 (one VQ codebook), got {self.stages}")
        _check_methods(self.methods, IMAGE_METHODS)
        _common_checks(self)

    def run_settings(self, method: str) -> dict[str, Any]:
        """What determines one run of ``method`` besides its key (JSON-ready)."""
        return {**self.training_settings("VQ"), **METHODS[method].settings(),
                "diveq_noise_std": self.diveq_noise_std, "usage_every": self.usage_every,
                "dead_window": self.dead_window}


def _common_checks(preset: _UsageFields) -> None:
    """``ValueError`` naming the field when the usage log or the noise is out of range."""
    for name in ("usage_every", "dead_window"):
        value = getattr(preset, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not preset.diveq_noise_std >= 0:
        raise ValueError(f"diveq_noise_std must be >= 0, got {preset.diveq_noise_std!r}")


_RATES = (8.0, 9.6, 13.2, 16.4, 24.4, 32.0)
_BITS = (6, 7, 8, 9, 10, 11)

SPEECH_PRESETS: dict[str, NSVQSpeechPreset] = {
    "smoke": NSVQSpeechPreset(
        name="smoke", corpus="smoke", bitrates=(8.0,), seeds=(0,), steps=6, batch_size=64, lr=2e-3,
        finetune_fraction=0.5, finetune_lr_factor=0.1, replace_every=2, replace_until=0.9, beam_width=1,
        max_test_items=1, usage_every=2, dead_window=2, hidden=32, init_frames=64,
        notes="pipeline check only: one rate, a few steps on the smoke corpus; the numbers mean nothing"),
    "quick": NSVQSpeechPreset(
        name="quick", corpus="quick", bitrates=_RATES, seeds=(0,), steps=2000, batch_size=128, lr=2e-3,
        finetune_fraction=0.2, finetune_lr_factor=0.1, replace_every=50, replace_until=0.9, beam_width=1,
        max_test_items=15, usage_every=20, dead_window=50,
        notes="half an hour on one CPU thread: the paper's 6 rates, one seed, 2000 end-to-end Adam steps of 128 "
              "frames per codec, 256 hidden units, 15 of the 30 test utterances"),
    "paper": NSVQSpeechPreset(
        name="paper", corpus="paper", bitrates=_RATES, seeds=(0, 1, 2), steps=20000, batch_size=256, lr=1e-3,
        finetune_fraction=0.1, finetune_lr_factor=0.1, replace_every=1000, replace_until=0.9, beam_width=1,
        usage_every=200, dead_window=1000, hidden=512, init_frames=4096,
        notes="20000 end-to-end steps of 256 frames per codec, 512 hidden units, 3 seeds; a GPU is recommended"),
}

_IMAGE_COMMON: dict[str, Any] = dict(stages=1, test_fraction=0.2, replace_until=0.8, finetune_lr_factor=0.1,
                                     beam_width=1, avq_init="scratch")

IMAGE_PRESETS: dict[str, NSVQImagePreset] = {
    "smoke": NSVQImagePreset(
        name="smoke", bitrates=(6, 8), seeds=(0,), latent_dim=8, channels=8, downsampling=3, patch_size=32,
        num_patches=256, tile_size=32, tiles_per_image=2, pretrain_steps=5, pretrain_lr=3e-3, steps=6,
        batch_size=8, lr=3e-4, replace_every=2, finetune_fraction=0.25, init_vectors=256, example_size=32,
        usage_every=2, dead_window=2, **_IMAGE_COMMON,
        notes="pipeline check only: two bit rates, a tiny model and a few steps; the numbers mean nothing"),
    "quick": NSVQImagePreset(
        name="quick", bitrates=_BITS, seeds=(0, 1), latent_dim=64, channels=48, downsampling=3, patch_size=32,
        num_patches=16384, tile_size=64, tiles_per_image=24, pretrain_steps=1200, pretrain_lr=3e-3, steps=120,
        batch_size=64, lr=5e-4, replace_every=20, finetune_fraction=0.25, usage_every=5, dead_window=20,
        **_IMAGE_COMMON,
        notes="a quarter of an hour on a busy 2-core CPU with one torch thread: the paper's 6 codebook sizes, 2 "
              "seeds, the ICASSP quick preset's autoencoder (pretrained once per seed, 1200 steps) and 120 "
              "end-to-end steps per run (the ICASSP quick preset has 200), 24 test tiles per test image"),
    "paper": NSVQImagePreset(
        name="paper", bitrates=_BITS, seeds=(0, 1, 2), latent_dim=64, channels=128, downsampling=3, patch_size=64,
        num_patches=65536, tile_size=64, tiles_per_image=0, pretrain_steps=0, pretrain_lr=1e-3, steps=20000,
        batch_size=64, lr=1e-3, replace_every=1000, finetune_fraction=0.1, usage_every=200, dead_window=1000,
        **{**_IMAGE_COMMON, "replace_until": 0.9},
        notes="closer to the paper: every model trained end to end from scratch, 20000 steps, all test tiles, "
              "3 seeds; a GPU is recommended"),
}


def get_speech_preset(preset: str | NSVQSpeechPreset, overrides: Mapping[str, Any] | None = None) -> NSVQSpeechPreset:
    """The speech preset named ``preset`` (or ``preset`` itself), with ``overrides`` replaced."""
    return common.get_preset(SPEECH_PRESETS, preset, overrides)


def get_image_preset(preset: str | NSVQImagePreset, overrides: Mapping[str, Any] | None = None) -> NSVQImagePreset:
    """The image preset named ``preset`` (or ``preset`` itself), with ``overrides`` replaced."""
    return common.get_preset(IMAGE_PRESETS, preset, overrides)
