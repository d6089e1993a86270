"""Figure helpers for the notebooks: the papers' plotting style, overlays and comparison tables.

Every helper takes :class:`vqcore.io.results.ResultFile` objects, so our files and the authors'
published ones are drawn by the same code:

- :func:`plot_result`: one line per method (mean) with its quantile band, or a plain line for
  deterministic series; x axis labelled with the file's x key (``"VQ Bitrate"``), y axis with
  its metric (``"MSE"``), as in the published figures.
- :func:`plot_reference`: a published result drawn over ours, dashed, with markers.
- :func:`comparison_table`: ours beside the paper's value, per x label and method.
- :func:`load_reference`: the matching published file, or None when no reference is given.
- :func:`ordering_by_x`: whether an ordering of methods holds at each x label.

matplotlib and pandas are imported when a function needs them.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import results

logger = logging.getLogger(__name__)

__all__ = [
    "METHOD_COLORS",
    "comparison_table",
    "load_reference",
    "ordering_by_x",
    "plot_figure",
    "plot_reference",
    "plot_result",
    "scales_differ",
    "x_positions",
]

#: one colour per method, shared by our curves and the paper's overlay
METHOD_COLORS: dict[str, str] = {
    "AVQ": "tab:blue",
    "RVQ": "tab:orange",
    "PVQ": "tab:green",
    "VQ": "tab:purple",
    "SFVQ": "tab:red",
}
_FALLBACK = ["tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
PAPER_LABEL = "paper"


def method_color(method: str) -> str:
    """The colour of ``method`` (its base name: ``"AVQ baseline"`` takes AVQ's colour)."""
    for name, color in METHOD_COLORS.items():
        if method == name or method.startswith(name + " "):
            return color
    return _FALLBACK[sum(map(ord, method)) % len(_FALLBACK)]


def x_positions(result: results.ResultFile) -> list[float]:
    """Numeric x values of the labels (``"12 bits"`` -> 12.0); label indices if any is not numeric."""
    try:
        return result.x_values()
    except results.ResultsError:
        return [float(i) for i in range(len(result.x))]


def _values(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _axes(ax: Any = None):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5.5, 4))
    return ax


def _tick_label(label: str, x_key: str) -> str:
    return label.split()[0] if x_key == "VQ Bitrate" else label


def _set_ticks(ax: Any, *files: results.ResultFile) -> None:
    """x ticks at every label of ``files`` (ours and the reference may cover different labels)."""
    ticks: dict[float, str] = {}
    for result in files:
        for x, label in zip(x_positions(result), result.x):
            ticks.setdefault(x, _tick_label(label, result.x_key))
    ordered = sorted(ticks)
    ax.set_xticks(ordered)
    ax.set_xticklabels([ticks[x] for x in ordered])


def _decorate(ax: Any, result: results.ResultFile, title: str | None) -> None:
    _set_ticks(ax, result)
    ax.set_xlabel(result.x_key)
    ax.set_ylabel(result.metric)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)


def plot_result(result: results.ResultFile, ax: Any = None, methods: Sequence[str] | None = None, *,
                label: str = "", band: bool = True, title: str | None = None, marker: str = "o") -> Any:
    """Draw ``result`` in the papers' style: per method the mean line and, for a band, the area
    between its quantiles. Legend entries are ``"<method><label>"``. Returns the axes."""
    ax = _axes(ax)
    xs = x_positions(result)
    for method in methods or result.methods:
        if method not in result.series:
            logger.warning("%s has no method %r", result.path or "result", method)
            continue
        s = result.series[method]
        color = method_color(method)
        ax.plot(xs, _values(s.central), marker=marker, markersize=4, color=color, linewidth=1.8,
                label=f"{method}{label}")
        if band and s.is_band and s.low is not None and s.high is not None:
            ax.fill_between(xs, _values(s.low), _values(s.high), color=color, alpha=0.25, linewidth=0)
    _decorate(ax, result, title)
    return ax


def plot_reference(reference: results.ResultFile, ax: Any, methods: Sequence[str] | None = None, *,
                   label: str = f" ({PAPER_LABEL})") -> Any:
    """Overlay a published result on ``ax``: dashed lines with open markers, same colours."""
    xs = x_positions(reference)
    for method in methods or reference.methods:
        if method not in reference.series:
            continue
        ax.plot(xs, _values(reference.series[method].central), linestyle="--", marker="s", markersize=4,
                markerfacecolor="none", color=method_color(method), linewidth=1.2, alpha=0.9,
                label=f"{method}{label}")
    return ax


def _value_range(result: results.ResultFile, methods: Sequence[str] | None) -> tuple[float, float]:
    vals = [v for m in (methods or result.methods) if m in result.series
            for v in result.series[m].central if v is not None and math.isfinite(v)]
    return (min(vals), max(vals)) if vals else (math.nan, math.nan)


def scales_differ(result: results.ResultFile, reference: results.ResultFile,
                  methods: Sequence[str] | None = None) -> bool:
    """True when the two files' value ranges overlap by less than half of the smaller range
    (then one y axis would flatten one of them)."""
    lo1, hi1 = _value_range(result, methods)
    lo2, hi2 = _value_range(reference, methods)
    if any(math.isnan(v) for v in (lo1, hi1, lo2, hi2)):
        return False
    overlap = min(hi1, hi2) - max(lo1, lo2)
    smaller = min(hi1 - lo1, hi2 - lo2)
    if smaller <= 0:
        return overlap < 0
    return overlap < 0.5 * smaller


def plot_figure(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None,
                methods: Sequence[str] | None = None, *, title: str | None = None,
                ours_label: str = " (ours)", legend: bool = True, logy: bool = False,
                reference_axis: str = "auto") -> Any:
    """Ours (:func:`plot_result`) and, when given, the published curves (:func:`plot_reference`).

    ``reference_axis``: ``"same"`` draws the paper's curves on our y axis, ``"twin"`` on a second
    y axis at the right (labelled as the paper's), ``"auto"`` picks ``"twin"`` when
    :func:`scales_differ` (for example when the data sets differ in scale). Returns our axes; the
    second one, if any, is ``ax.paper_axis``.
    """
    if reference_axis not in ("auto", "same", "twin"):
        raise ValueError(f"reference_axis must be 'auto', 'same' or 'twin', got {reference_axis!r}")
    ax = plot_result(result, ax, methods, label=ours_label if reference is not None else "", title=title)
    target = ax
    if reference is not None:
        twin = reference_axis == "twin" or (reference_axis == "auto" and scales_differ(result, reference, methods))
        if twin:
            target = ax.twinx()
            target.set_ylabel(f"{reference.metric} ({PAPER_LABEL}, dashed; right axis)")
            ax.set_ylabel(f"{result.metric} (ours, solid; left axis)")
        plot_reference(reference, target, methods)
        _set_ticks(ax, result, reference)
    ax.paper_axis = target if target is not ax else None
    if logy:
        ax.set_yscale("log")
        if target is not ax:
            target.set_yscale("log")
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if target is not ax:
            more_handles, more_labels = target.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        (target if target is not ax else ax).legend(handles, labels, fontsize="small",
                                                    ncol=2 if reference is not None else 1)
    return ax


def load_reference(reference_dir: str | os.PathLike | None, figure: int | str, name: str) -> results.ResultFile | None:
    """The published file ``Figure <figure>/<name>`` under ``reference_dir``; None when
    ``reference_dir`` is None, or (with a warning) when the file is not there."""
    if reference_dir is None or str(reference_dir) == "":
        return None
    root = Path(reference_dir)
    if not root.is_dir():
        logger.warning("reference folder %s does not exist: no overlay", root)
        return None
    try:
        return results.find(root, figure, name)
    except FileNotFoundError:
        logger.warning("no Figure %s/%s under %s: no overlay", figure, name, root)
        return None


def comparison_table(result: results.ResultFile, reference: results.ResultFile | None = None,
                     methods: Sequence[str] | None = None, *, quantiles: bool = True, relative: str | None = "ratio"):
    """A :class:`pandas.DataFrame` indexed by the x labels: per method our mean (``"<m> ours"``),
    our quantiles (``"<m> ours low"``, ``"<m> ours high"``) and, with a ``reference``, the paper's
    value (``"<m> paper"``) and ours relative to it: ``relative="ratio"`` adds ``"<m> ours/paper"``,
    ``"difference"`` adds ``"<m> ours-paper"`` (for logarithmic metrics), None adds nothing."""
    import pandas as pd

    if relative not in ("ratio", "difference", None):
        raise ValueError(f"relative must be 'ratio', 'difference' or None, got {relative!r}")

    columns: dict[str, list[float]] = {}
    ref_index = {label: i for i, label in enumerate(reference.x)} if reference is not None else {}
    for method in methods or result.methods:
        if method not in result.series:
            continue
        s = result.series[method]
        columns[f"{method} ours"] = _values(s.central)
        if quantiles and s.is_band and s.low is not None:
            columns[f"{method} ours low"] = _values(s.low)
            columns[f"{method} ours high"] = _values(s.high)
        if reference is not None and method in reference.series:
            ref = _values(reference.series[method].central)
            paper = [ref[ref_index[label]] if label in ref_index else math.nan for label in result.x]
            columns[f"{method} {PAPER_LABEL}"] = paper
            ours = columns[f"{method} ours"]
            if relative == "ratio":
                columns[f"{method} ours/{PAPER_LABEL}"] = [o / p if p != 0.0 else math.nan for o, p in zip(ours, paper)]
            elif relative == "difference":
                columns[f"{method} ours-{PAPER_LABEL}"] = [o - p for o, p in zip(ours, paper)]
    frame = pd.DataFrame(columns, index=pd.Index(result.x, name=result.x_key))
    frame.attrs["metric"] = result.metric
    return frame


def ordering_by_x(result: results.ResultFile, order: Sequence[str], *, lower_is_better: bool = True,
                  strict: bool = True) -> dict[str, bool]:
    """Per x label: does ``order`` hold, best first (``["AVQ", "RVQ", "PVQ"]`` with
    ``lower_is_better``: AVQ < RVQ < PVQ)? Missing points count as not holding."""
    out = {}
    for i, label in enumerate(result.x):
        vals = [result.series[m].central[i] for m in order]
        if any(v is None for v in vals):
            out[label] = False
            continue
        pairs = itertools.pairwise(vals)
        if lower_is_better:
            out[label] = all(a < b if strict else a <= b for a, b in pairs)
        else:
            out[label] = all(a > b if strict else a >= b for a, b in pairs)
    return out
