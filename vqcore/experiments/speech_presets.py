"""The settings of the speech coding experiment (ICASSP 2023 Figure 1) and the runs they plan.

:class:`SpeechPreset` holds everything that determines a result but the run's key; :data:`PRESETS`
has the ``smoke``, ``quick`` and ``paper`` scales. A run is one codec, :class:`SpeechRunKey`
(method, bitrate, seed); :func:`planned_runs` lists every run of the figure.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..speech.codec import check_power
from . import common
from .fit_presets import FitPreset

__all__ = ["METHODS", "POSTFILTER", "PRESETS", "SpeechPreset", "SpeechRunKey", "bitrate_label", "get_preset", "planned_runs"]


@dataclass(frozen=True, kw_only=True)
class SpeechPreset(FitPreset):
    """Settings of the speech coding experiment (everything that determines a result but the run's key).

    ``steps`` Adam steps of ``batch_size`` vectors per quantizer at ``lr``; the last
    ``finetune_fraction`` of them at ``lr * finetune_lr_factor`` without codebook replacement.
    AVQ: ``avq_init`` ``"rvq"`` (warm start from the RVQ codec of the same bitrate and seed, then
    ``avq_steps`` beam-search steps of ``avq_batch_size`` at ``avq_lr``, the same final phase) or
    ``"scratch"`` (the same budget as the others). ``max_test_items`` limits the test utterances
    (None: all). ``audio_sentence``: index in :data:`vqcore.speech.corpus.SENTENCES` of the
    utterance written for the audio players (0: the SFVQ sentence, always a test sentence).
    ``compand`` and ``postfilter``: the codec's companding power and its decoder's postfilter power
    (:class:`~vqcore.speech.codec.SpeechCodec`; 1: none, the plain codec). Each enters the run
    settings and ``meta`` only when it is not 1, so the plain codec's stored runs and files read as
    they did before the settings existed, and runs of two codecs never mix in a cache.
    """

    corpus: str
    bitrates: tuple[float, ...]
    corpus_seed: int = 0
    max_test_items: int | None = None
    noise_fill: float = 0.0
    quantiles: tuple[float, float] = (0.05, 0.95)
    audio_sentence: int = 0
    compand: float = 1.0
    postfilter: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        for name in _CODEC_SETTINGS:
            check_power(name, getattr(self, name), numbers_only=True)

    def codec_settings(self) -> dict[str, float]:
        """The codec settings that are not the plain codec's: ``{"compand": 0.75}``, ``{}`` for the plain codec."""
        return {k: float(getattr(self, k)) for k in _CODEC_SETTINGS if getattr(self, k) != 1}

    @property
    def codec_name(self) -> str:
        """The codec's short name: ``"plain"``, ``"compand-0.75"``, ``"postfilter-1.25"``, or both joined by ``+``."""
        return "+".join(f"{k}-{v:g}" for k, v in self.codec_settings().items()) or "plain"

    def own_settings(self) -> dict[str, Any]:
        """The corpus and the codec settings that determine every run (see :meth:`FitPreset.training_settings`)."""
        out = {"corpus": self.corpus, "corpus_seed": self.corpus_seed, "max_test_items": self.max_test_items,
               "noise_fill": self.noise_fill}
        return {**out, **self.codec_settings()}

    def as_dict(self) -> dict[str, Any]:
        """All settings, JSON-ready; ``compand`` and ``postfilter`` only when not 1 (see the class docstring)."""
        out = super().as_dict()
        for k in _CODEC_SETTINGS:
            if getattr(self, k) == 1:
                del out[k]
        return out


#: the codec settings of a preset whose value 1 means the plain codec
_CODEC_SETTINGS = ("compand", "postfilter")

#: the decoder postfilter's power of the codec of record (:class:`~vqcore.speech.codec.SpeechCodec`): the
#: power in 1, 1.1, 1.2, 1.25, 1.3, 1.4 with the highest mean PESQ of the three methods at 8, 16.4 and 32 kbit/s
#: on 30 *training* utterances (the held-out ones did not choose it), with the quick preset's codecs
POSTFILTER = 1.2

#: methods, in the order of the authors' files
METHODS = ("AVQ", "RVQ", "PVQ")

_RATES = (8.0, 9.6, 13.2, 16.4, 24.4, 32.0)

PRESETS: dict[str, SpeechPreset] = {
    "smoke": SpeechPreset(
        name="smoke", corpus="smoke", bitrates=_RATES, seeds=(0,), steps=6, batch_size=64, lr=1e-2,
        finetune_fraction=0.5, finetune_lr_factor=0.1, replace_every=2, replace_until=0.9, beam_width=2,
        avq_steps=2, avq_batch_size=64, avq_lr=3e-3, max_test_items=2, postfilter=POSTFILTER,
        notes="pipeline check only: a few steps on the smoke corpus; the numbers mean nothing"),
    "quick": SpeechPreset(
        name="quick", corpus="quick", bitrates=_RATES, seeds=(0, 1, 2), steps=1000, batch_size=256, lr=1e-2,
        finetune_fraction=0.2, finetune_lr_factor=0.1, replace_every=50, replace_until=0.9, beam_width=8,
        avq_steps=120, avq_batch_size=512, avq_lr=3e-3, postfilter=POSTFILTER,
        notes="minutes on a 2-core CPU per seed: three seeds, 1000 Adam steps per quantizer; AVQ starts from the "
              "trained RVQ codebooks and trains 120 beam-search steps of 512 vectors with beam width 8; the "
              "decoder's postfilter at power 1.2"),
    "paper": SpeechPreset(
        name="paper", corpus="paper", bitrates=_RATES, seeds=(0, 1, 2), steps=20000, batch_size=256, lr=1e-3,
        finetune_fraction=0.1, finetune_lr_factor=0.1, replace_every=1000, replace_until=0.9, beam_width=16,
        avq_init="scratch", postfilter=POSTFILTER,
        notes="the paper's scale of training (tens of thousands of steps, beam width 16, every method from "
              "scratch) on the larger corpus; a GPU is recommended"),
}


def get_preset(preset: str | SpeechPreset, overrides: Mapping[str, Any] | None = None) -> SpeechPreset:
    """The :class:`SpeechPreset` named ``preset`` (``smoke``, ``quick`` or ``paper``), or ``preset``
    itself, with the settings in ``overrides`` replaced (:func:`vqcore.experiments.common.get_preset`)."""
    return common.get_preset(PRESETS, preset, overrides)


def bitrate_label(bitrate: float) -> str:
    """The authors' x label of a bitrate: ``8.0 -> "8 kbits/sec"``, ``9.6 -> "9.6 kbits/sec"``."""
    return f"{float(bitrate):g} kbits/sec"


@dataclass(frozen=True, order=True)
class SpeechRunKey:
    """One codec: method, bitrate (kbit/s), seed."""

    method: str
    bitrate: float
    seed: int

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``AVQ-9.6kbps-s0``."""
        return f"{self.method}-{self.bitrate:g}kbps-s{self.seed}"

    @property
    def run_seed(self) -> int:
        """The seed of the run's training, from its name."""
        return common.stable_seed(self.name)

    @property
    def warm_start(self) -> SpeechRunKey:
        """The RVQ run at the same bitrate and seed (an AVQ run's warm start)."""
        return SpeechRunKey("RVQ", self.bitrate, self.seed)


def planned_runs(preset: str | SpeechPreset = "quick", seeds: Sequence[int] | None = None) -> list[SpeechRunKey]:
    """Every run of the figure, RVQ before AVQ at each (bitrate, seed) for the warm start."""
    p = get_preset(preset)
    seeds = tuple(p.seeds if seeds is None else seeds)
    return [SpeechRunKey(m, float(r), int(s)) for s in seeds for r in p.bitrates for m in ("RVQ", "PVQ", "AVQ")]
