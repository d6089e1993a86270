"""ICASSP 2023 Figures 4c and 6b: encoding complexity (log10 WMOPS) of AVQ, RVQ and PVQ.

The values come from the papers' operation-count model (:mod:`vqcore.eval.complexity`), so they are
deterministic: each method is a plain list (no band), and no preset or device changes them. The
files get the authors' names (from :mod:`vqcore.experiments.registry`) and keys, plus our ``meta``:

- Figure 4c: ``D = 64, M = 4, B = 16``.
- Figure 6b: ``D = 128, M = 4, B = min(K, 64)``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import torch

from ..eval import complexity
from ..io import result_meta, results
from . import registry
from .common import PRESET_NAMES, Preset, parse_figures

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "complexity_result", "run_complexity"]

#: the complexity figures, as the registry lists them and :func:`vqcore.eval.complexity.complexity_table` takes them
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_complexity")
_SETTINGS_TEXT = {
    "4c": "D = 64, M = 4, beam width B = 16 at every bitrate",
    "6b": "D = 128, M = 4, beam width B = min(K, 64)",
}


def _preset_name(preset: str | Preset) -> str:
    """The name to record: the values do not depend on the preset."""
    name = preset.name if isinstance(preset, Preset) else str(preset).strip().lower()
    if name not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}, got {preset!r}")
    return name


def complexity_result(figure: str, precision: str = "single", preset: str | Preset = "quick"
                      ) -> results.ResultFile:
    """The complexity figure (``"4c"``, ``"Figure 6b"``, ...) as a validated
    :class:`~vqcore.io.results.ResultFile` with ``meta``.

    ``preset`` is only recorded (the values do not depend on it).
    """
    (key,) = parse_figures([figure], FIGURES)
    preset = _preset_name(preset)
    start = time.perf_counter()
    table = complexity.complexity_table(key, precision)
    result = results.validate(table, f"complexity table {key}")
    result.meta = result_meta.make_meta(
        preset, [], "cpu", over="not applicable: deterministic values from the complexity model",
        figure=key, paper=registry.figure(key).paper, precision=precision,
        model="vqcore.eval.complexity: ITU-T STL 2009 weights, log10 of WMOPS per encoded vector",
        settings=_SETTINGS_TEXT[key],
        bitrates=[asdict(s) for s in complexity.figure_settings(key)],
        wall_time_s=round(time.perf_counter() - start, 6),
    )
    return result


def run_complexity(figures: str | Iterable[str] | None = None, preset: str | Preset = "quick",
                   results_dir: str | Path = "Results", device: str | torch.device | None = None, *,
                   progress: bool = True, precision: str = "single") -> list[Path]:
    """Write the complexity figures' result files under ``results_dir``; returns their paths (the
    :class:`~vqcore.experiments.common.Runner` signature).

    ``figures``: ``"4c"``, ``"6b"`` or both (None); ``preset`` is only recorded; ``device`` and
    ``progress`` change nothing (the model is a formula, evaluated at once); ``precision`` chooses
    the operation weights (``"single"`` or ``"double"``).
    """
    written = []
    for key in parse_figures(figures, FIGURES):
        path = results.write(complexity_result(key, precision, preset), registry.result_path(results_dir, key))
        logger.info("complexity figure %s written to %s", key, path)
        written.append(path)
    return written
