"""ICASSP 2023 Figures 4c and 6b: encoding complexity (log10 WMOPS) of AVQ, RVQ and PVQ.

The values come from the papers' operation-count model (:mod:`vqcore.eval.complexity`), so they are
deterministic: each method is a plain list (no band), and no preset changes them. The files get
the authors' names and keys plus our ``meta``:

- ``icassp2023/Figure 4/Complexity_Fig4-c.json``: ``D = 64, M = 4, B = 16``.
- ``icassp2023/Figure 6/Complexity_Fig6-b.json``: ``D = 128, M = 4, B = min(K, 64)``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from ..eval import complexity
from ..io import results

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "complexity_file", "complexity_result", "run_complexity"]

#: the complexity figures, as accepted by :func:`vqcore.eval.complexity.complexity_table`
FIGURES = ("4c", "6b")
_FILES = {
    "4c": "icassp2023/Figure 4/Complexity_Fig4-c.json",
    "6b": "icassp2023/Figure 6/Complexity_Fig6-b.json",
}
_SETTINGS_TEXT = {
    "4c": "D = 64, M = 4, beam width B = 16 at every bitrate",
    "6b": "D = 128, M = 4, beam width B = min(K, 64)",
}


def complexity_file(figure: str) -> str:
    """Path of the figure's result file relative to the results folder (the authors' name)."""
    key = str(figure).strip().lower()
    if key not in _FILES:
        raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")
    return _FILES[key]


def complexity_result(figure: str, precision: str = "single", preset: str = "quick") -> results.ResultFile:
    """The complexity figure as a validated :class:`~vqcore.io.results.ResultFile` with ``meta``.

    ``preset`` is only recorded (the values do not depend on it).
    """
    key = str(figure).strip().lower()
    complexity_file(key)  # checks the name
    start = time.perf_counter()
    table = complexity.complexity_table(key, precision)
    result = results.validate(table, f"complexity table {key}")
    result.meta = results.make_meta(
        preset, [], "cpu", over="not applicable: deterministic values from the complexity model",
        figure=key, paper="icassp2023", precision=precision,
        model="vqcore.eval.complexity: ITU-T STL 2009 weights, log10 of WMOPS per encoded vector",
        settings=_SETTINGS_TEXT[key],
        bitrates=[asdict(s) for s in complexity.figure_settings(key)],
        wall_time_s=round(time.perf_counter() - start, 6),
    )
    return result


def run_complexity(figures: Iterable[str] = FIGURES, results_dir: str | Path = "Results",
                   precision: str = "single", preset: str = "quick") -> list[Path]:
    """Write the complexity figures' result files under ``results_dir``; returns their paths."""
    written = []
    for fig in figures:
        key = str(fig).strip().lower()
        path = results.write(complexity_result(key, precision, preset), Path(results_dir) / complexity_file(key))
        logger.info("complexity figure %s written to %s", key, path)
        written.append(path)
    return written
