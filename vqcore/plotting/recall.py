"""Figure helpers for the nearest-neighbour search figures (ICASSP 2023 Figures 5 and 6a).

Recall@T against the search depth ``T`` on a logarithmic axis, in the style of
:func:`vqcore.plotting.figures.curve_style`: our curves solid with filled markers and the proposed
(NSVQ-trained) quantizers' quantile bands, the published curves, when given, dashed with open
markers; a proposed quantizer (circles) and its classical baseline (triangles) share the method's
colour. Works on
:class:`vqcore.io.results.ResultFile` objects, so our files and the authors' draw the same way.
matplotlib is imported when a function needs it.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from ..io import results
from .figures import OURS_LABEL, PAPER_LABEL, curve_label, curve_style, legend_below, panels

__all__ = ["depth_positions", "plot_recall", "recall_at_depth", "recall_ordering"]


def depth_positions(result: results.ResultFile, base: int = 2) -> list[float]:
    """``log_base(T)`` of each ``T`` label of ``result`` (``"512"`` -> 9 for ``base=2``)."""
    if base < 2:
        raise ValueError(f"base must be >= 2, got {base}")
    if result.x_key != "T":
        raise ValueError(f"result: need an x axis 'T', got {result.x_key!r}")
    return [math.log(float(t), base) for t in result.x]


def _draw(ax: Any, result: results.ResultFile, xs: list[float], methods: Sequence[str] | None, source: str,
          overlay: bool) -> None:
    for method in methods or result.methods:
        if method not in result.series:
            continue
        s = result.series[method]
        style = curve_style(method, source)
        ax.plot(xs, [math.nan if v is None else v for v in s.central], label=curve_label(method, source, overlay),
                **style)
        if source == OURS_LABEL and s.is_band and s.low is not None and s.high is not None:
            ax.fill_between(xs, s.low, s.high, color=style["color"], alpha=0.2, linewidth=0)


def plot_recall(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None, *,
                base: int = 2, methods: Sequence[str] | None = None, title: str | None = None,
                legend: bool = True) -> Any:
    """Recall@T of ``result`` (and, dashed, of ``reference``) against ``log_base(T)``.

    Styles from :func:`~vqcore.plotting.figures.curve_style`: ours solid (the proposed methods with
    their quantile band), the paper's dashed with open markers; ``"<m> proposed"`` circles,
    ``"<m> baseline"`` triangles, the method's colour for both. The legend sits below the axes,
    with a reference our curves in its left column and the paper's in the right. Returns the axes.
    """
    if ax is None:
        _, axes = panels(1, height=3.6)
        ax = axes[0]
    xs = depth_positions(result, base)
    _draw(ax, result, xs, methods, OURS_LABEL, reference is not None)
    if reference is not None:
        _draw(ax, reference, depth_positions(reference, base), methods, PAPER_LABEL, True)
    ticks = sorted(set(xs) | (set(depth_positions(reference, base)) if reference is not None else set()))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{round(base ** t)}" for t in ticks])
    ax.set_xlabel(f"T (log{base} scale)" if base != 10 else "T (log scale)")
    ax.set_ylabel(result.metric)
    ax.set_ylim(0.0, 1.02)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    if legend:
        handles, labels = ax.get_legend_handles_labels()
        if reference is not None:  # ours in the left column, the paper's in the right one
            legend_below(ax, handles, labels, ncol=2, by_rows=False)
        else:
            legend_below(ax, handles, labels, ncol=min(3, len(labels)))
    return ax


def recall_at_depth(result: results.ResultFile, depth: int | str) -> dict[str, float]:
    """Each method's (mean) recall at depth ``T = depth``."""
    label = str(depth)
    if label not in result.x:
        raise ValueError(f"depth {depth} is not among the result's T labels {result.x}")
    i = result.x.index(label)
    return {m: s.central[i] for m, s in result.series.items() if s.central[i] is not None}


def recall_ordering(result: results.ResultFile, depth: int | str, methods: Sequence[str]) -> bool:
    """True when recall@``depth`` strictly falls along ``methods`` (best first)."""
    r = recall_at_depth(result, depth)
    missing = [m for m in methods if m not in r]
    if missing:
        raise ValueError(f"methods {missing} are not in the result")
    return all(r[a] > r[b] for a, b in itertools.pairwise(methods))
