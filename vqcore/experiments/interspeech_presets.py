"""The settings of the Interspeech 2023 SFVQ experiments at the ``smoke``, ``quick`` and ``paper`` scales."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import common

__all__ = ["METHODS", "PRESETS", "InterspeechPreset", "get_preset"]

#: the quantizers compared, in the result files' order
METHODS: tuple[str, ...] = ("SFVQ", "VQ")

#: the settings that determine a trained voice-conversion model (besides its method and seed)
_TRAINING_KEYS = ("corpus", "corpus_seed", "bits", "n_mels", "latent_dim", "channels", "layers", "speaker_dim",
                  "batch_size", "segment_frames", "lr", "codebook_lr", "replace_every", "replace_until", "steps")


@dataclass(frozen=True, kw_only=True)
class InterspeechPreset(common.Preset):
    """Settings of the SFVQ experiments (the Interspeech figures) at one scale.

    Data: the eSpeak NG corpus named ``corpus`` built with ``corpus_seed``
    (:func:`vqcore.speech.corpus.build_corpus`). Features: log-mel
    (:class:`~vqcore.speech.logmel.LogMel`), ``n_mels`` bands, 20 ms hop at 16 kHz. Model:
    ``layers`` convolutions of ``channels`` channels in the encoder and in the decoder, latent
    dimension ``latent_dim``, speaker embedding ``speaker_dim``, a quantizer of ``bits`` bits.
    Training: Adam, ``steps`` batches of ``batch_size`` random ``segment_frames``-frame excerpts,
    learning rate ``lr`` (``codebook_lr`` for the quantizer), cosine decay to ``lr / 10``; SFVQ
    doubles at :func:`vqcore.training.growth_schedule` (``bits - 1`` equal phases); VQ replaces
    unused codewords every ``replace_every`` steps until ``replace_until`` of the steps.
    Analysis: pairs of adjacent indices with at least ``min_count`` test frames each;
    ``permutations`` random relabellings for the baseline; bands over seeds at ``quantiles``.
    Audio examples: Griffin-Lim with ``gl_iterations`` iterations. The 2-D picture: ``num_2d``
    points, ``steps_2d`` training steps, at each of ``bits_2d``.
    """

    corpus: str
    steps: int
    corpus_seed: int = 0
    bits: int = 8
    n_mels: int = 64
    latent_dim: int = 16
    channels: int = 96
    layers: int = 2
    speaker_dim: int = 16
    batch_size: int = 16
    segment_frames: int = 48
    lr: float = 2e-3
    codebook_lr: float = 5e-3
    replace_every: int = 100
    replace_until: float = 0.8
    min_count: int = 5
    permutations: int = 200
    gl_iterations: int = 64
    bits_2d: tuple[int, ...] = (3, 5, 7)
    steps_2d: int = 2000
    num_2d: int = 20000
    quantiles: tuple[float, float] = (0.05, 0.95)

    def settings(self) -> dict[str, Any]:
        """Every setting but the ``notes`` (the ``"settings"`` of the result files' meta), JSON-ready."""
        return {k: v for k, v in self.as_dict().items() if k != "notes"}

    def training_settings(self) -> dict[str, Any]:
        """What determines a trained model (the run cache's settings; the key holds method and seed)."""
        return {k: getattr(self, k) for k in _TRAINING_KEYS}


PRESETS: dict[str, InterspeechPreset] = {
    "smoke": InterspeechPreset(name="smoke", corpus="smoke", seeds=(0, 1), steps=40, channels=32, n_mels=40,
                               latent_dim=8, batch_size=8, segment_frames=32, min_count=2, permutations=20,
                               gl_iterations=8, bits_2d=(3, 5), steps_2d=200, num_2d=2000,
                               notes="seconds on a CPU: what the tests run"),
    "quick": InterspeechPreset(name="quick", corpus="quick", seeds=(0, 1, 2), steps=3000,
                               notes="minutes on a 2-core CPU: the results of record"),
    "paper": InterspeechPreset(name="paper", corpus="paper", seeds=(0, 1, 2, 3, 4), steps=20000, channels=256,
                               layers=3, batch_size=32, segment_frames=64, lr=1e-3, codebook_lr=2e-3,
                               permutations=1000, gl_iterations=100, steps_2d=5000, num_2d=50000,
                               notes="closer to the paper's scale; a GPU is recommended"),
}


def get_preset(preset: str | InterspeechPreset, overrides: Mapping[str, Any] | None = None) -> InterspeechPreset:
    """The preset named ``preset`` (``smoke``, ``quick``, ``paper``) or ``preset`` itself, with the
    settings in ``overrides`` replaced (:func:`vqcore.experiments.common.get_preset`)."""
    return common.get_preset(PRESETS, preset, overrides)
