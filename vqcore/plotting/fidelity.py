"""Plots of the fidelity report's scale-free comparison (the numbers are :mod:`vqcore.eval.fidelity`'s).

- :func:`plot_scale_free`: every curve divided by its value at the lowest rate (or, for a
  logarithmic metric such as dB, its change from that value), ours solid and the paper's dashed,
  so two data sets of different scale can share one axis;
- :func:`plot_per_bit`: the change per added bit (relative, for a linear metric), between
  neighbouring rates;
- :func:`plot_scale_free_panels`: both side by side, the second panel of a figure page.

They take :class:`~vqcore.io.results.ResultFile` objects (ours and the published one) and draw in
the figures' style (:func:`~vqcore.plotting.figures.curve_style`). matplotlib is imported when a
function needs it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..eval.fidelity.compare import per_bit_change, scale_free, scale_free_mode
from ..io import results
from .figures import OURS_LABEL, PAPER_LABEL, curve_label, curve_style, x_positions

__all__ = ["fidelity_positions", "plot_per_bit", "plot_scale_free", "plot_scale_free_panels"]


def fidelity_positions(result: results.ResultFile) -> tuple[list[float], str]:
    """x positions and their axis label: the rate (``"VQ Bitrate"``) or, for a search depth ``T``,
    ``log2 T`` (so a change "per bit" is a change per doubling of ``T``)."""
    xs = x_positions(result)
    if result.x_key == "T" and all(x > 0 for x in xs):
        return [math.log2(x) for x in xs], "log2 T"
    return xs, result.x_key


def _axes(ax: Any, figsize: tuple[float, float] = (5.5, 3.6)) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _sources(result: results.ResultFile, reference: results.ResultFile | None):
    yield result, OURS_LABEL
    if reference is not None:
        yield reference, PAPER_LABEL


def _methods(result: results.ResultFile, methods: Sequence[str] | None) -> list[str]:
    return [m for m in (methods or result.methods) if m in result.series]


def plot_scale_free(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None,
                    methods: Sequence[str] | None = None, *, mode: str | None = None, title: str | None = None) -> Any:
    """Ours (solid) and the paper's (dashed) curves divided by (``mode="ratio"``) or minus
    (``"difference"``) their value at the lowest rate; ``mode`` None picks by the metric
    (:func:`~vqcore.eval.fidelity.compare.scale_free_mode`). Returns the axes."""
    ax = _axes(ax)
    mode = mode or scale_free_mode(result.metric)
    overlay = reference is not None
    for source_file, source in _sources(result, reference):
        xs, xlabel = fidelity_positions(source_file)
        for m in _methods(source_file, methods):
            ax.plot(xs, scale_free(source_file.series[m].central, mode), label=curve_label(m, source, overlay),
                    **curve_style(m, source))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{result.metric} / lowest-rate value" if mode == "ratio" else f"{result.metric} - lowest-rate value")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_per_bit(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None,
                 methods: Sequence[str] | None = None, *, relative: bool | None = None,
                 title: str | None = None) -> Any:
    """The change per added bit between neighbouring rates, drawn at their midpoints; ``relative``
    (default: for a linear metric) draws the change of ``ln`` of the value (a fraction per bit).
    Returns the axes."""
    ax = _axes(ax)
    relative = scale_free_mode(result.metric) == "ratio" if relative is None else relative
    overlay = reference is not None
    for source_file, source in _sources(result, reference):
        xs, xlabel = fidelity_positions(source_file)
        mids = [(a + b) / 2 for a, b in zip(xs, xs[1:])]
        for m in _methods(source_file, methods):
            change = per_bit_change(xs, source_file.series[m].central, relative=relative)
            ax.plot(mids, change, label=curve_label(m, source, overlay), **curve_style(m, source))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"change of ln {result.metric} per bit" if relative else f"change of {result.metric} per bit")
    ax.axhline(0.0, color="0.6", linewidth=0.8)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_scale_free_panels(result: results.ResultFile, reference: results.ResultFile | None = None,
                           axes: Sequence[Any] | None = None, methods: Sequence[str] | None = None) -> tuple[Any, Any]:
    """:func:`plot_scale_free` and :func:`plot_per_bit` on two axes (made, one per row, when
    ``axes`` is None); a legend on the first. Returns the two axes."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(2, 1, figsize=(6.8, 6.4), constrained_layout=True)
    first, second = axes
    plot_scale_free(result, reference, first, methods)
    plot_per_bit(result, reference, second, methods)
    first.legend(fontsize="small", ncol=2)
    return first, second
