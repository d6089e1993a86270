"""The Interspeech 2023 SFVQ experiments: the 2-D picture and the phone analysis of a voice-conversion VQ-VAE.

:func:`run_interspeech` is the runner of the figures in :data:`FIGURES` (those that
:mod:`vqcore.experiments.registry` gives this runner, with their result files):

- ``sfvq2d``: VQ beside SFVQ on 2-D data (:mod:`vqcore.experiments.sfvq_2d`);
- ``sfvqtime``, ``sfvqgroups``, ``sfvqfricatives``, ``sfvqcontrol``, ``sfvqdivergence``: the
  codebook indices of the voice-conversion model's SFVQ and VQ against the phones of the test set
  (:mod:`vqcore.experiments.interspeech_figures`, one writer per result file).

The pieces: the settings in :mod:`vqcore.experiments.interspeech_presets`, the model's training in
:mod:`vqcore.experiments.voice_conversion_training`, the stored models (resumable, safetensors) in
:mod:`vqcore.experiments.interspeech_runs` and the audio examples in
:mod:`vqcore.experiments.voice_conversion_audio`. The names the notebooks use are importable here.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from . import registry
from .common import parse_figures, resolve_device, run_seeds
from .interspeech_figures import CONSONANT_GROUPS, INDEX_X_KEY, TIME_X_KEY, VOWEL_GROUPS, WRITERS
from .interspeech_presets import METHODS, PRESETS, InterspeechPreset, get_preset
from .interspeech_runs import prepare_study, run_cache
from .sfvq_2d import gaussian_2d, pentagon_corners, quantizer_2d_path, uniform_pentagon, write_sfvq_2d
from .voice_conversion_training import train_voice_conversion

__all__ = ["FIGURES", "FILES", "figure_files", "run_interspeech"]

#: the figures this runner makes, in the registry's order
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_interspeech")
#: figure -> the name of its result file (in ``interspeech2023/``), from the registry
FILES: dict[str, str] = {f: Path(registry.figure(f).files[0]).name for f in FIGURES}


def figure_files(figure: str) -> list[str]:
    """Result files (relative to the results folder) that ``figure`` writes."""
    (key,) = parse_figures([figure], FIGURES)
    return list(registry.figure(key).files)


def run_interspeech(figures: str | Iterable[str] | None, preset: str | InterspeechPreset,
                    results_dir: str | os.PathLike, device: str | torch.device | None, *, progress: bool = True,
                    seeds: Sequence[int] | None = None, cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Run (or resume) the SFVQ experiments for ``figures`` and write their result files.

    Args:
        figures: ids of :data:`FIGURES` (a list or ``"sfvq2d,sfvqtime"``; None: all).
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`InterspeechPreset`.
        results_dir: the ``Results`` folder; files go to ``<results_dir>/interspeech2023/``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ...
        progress: tqdm bars.
        seeds: override the preset's seeds (the first is the model of record and the 2-D data's seed).
        cache_dir: trained models (default ``<results_dir>/.runs/interspeech/<preset>``).
    Returns:
        The result files written.
    """
    p = get_preset(preset)
    figs = parse_figures(figures, FIGURES)
    seeds = run_seeds(p, seeds)
    dev = resolve_device(device)
    written: list[Path] = []
    if "sfvq2d" in figs:
        written.append(write_sfvq_2d(p, results_dir, seeds[0], dev, progress))
    speech = [f for f in WRITERS if f in figs]
    if speech:
        study = prepare_study(p, seeds, run_cache(results_dir, p.name, cache_dir), dev,
                              all_seeds="sfvqdivergence" in speech, progress=progress)
        written += [WRITERS[f](study, results_dir) for f in speech]
    return written
