"""The papers' experiments, each writing result files in the authors' layout.

- :mod:`~vqcore.experiments.toy`: Gaussian toy data, ICASSP 2023 Figures 2a, 2b, 3.
- :mod:`~vqcore.experiments.complexity_figures`: the complexity model, Figures 4c and 6b.
- :mod:`~vqcore.experiments.reproduce`: run them at a preset, then execute the figure notebooks.
- :mod:`~vqcore.experiments.presets`: the ``smoke``, ``quick`` and ``paper`` scales.
"""
from .presets import PRESET_NAMES, PRESETS, ToyPreset, get_preset

__all__ = ["PRESETS", "PRESET_NAMES", "ToyPreset", "get_preset"]
