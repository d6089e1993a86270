"""Figure helpers for the nearest-neighbour search figures (ICASSP 2023 Figures 5 and 6a).

Recall@T against the search depth ``T`` on a logarithmic axis, in the paper's style: the
proposed (NSVQ-trained) quantizers as solid lines with their band, the classical baselines
dashed, and, when given, the published curves dotted with open markers. Works on
:class:`vqcore.io.results.ResultFile` objects, so our files and the authors' draw the same way.
matplotlib is imported when a function needs it.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from ..io import results
from .figures import method_color

__all__ = ["depth_positions", "plot_recall", "recall_at_depth", "recall_ordering"]


def depth_positions(result: results.ResultFile, base: int = 2) -> list[float]:
    """``log_base(T)`` of each ``T`` label of ``result`` (``"512"`` -> 9 for ``base=2``)."""
    if base < 2:
        raise ValueError(f"base must be >= 2, got {base}")
    if result.x_key != "T":
        raise ValueError(f"result: need an x axis 'T', got {result.x_key!r}")
    return [math.log(float(t), base) for t in result.x]


def _style(method: str) -> dict[str, Any]:
    if method.endswith("baseline"):
        return {"linestyle": "--", "marker": "^", "linewidth": 1.5}
    return {"linestyle": "-", "marker": "o", "linewidth": 1.9}


def plot_recall(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None, *,
                base: int = 2, methods: Sequence[str] | None = None, title: str | None = None,
                legend: bool = True) -> Any:
    """Recall@T of ``result`` (and, dotted, of ``reference``) against ``log_base(T)``.

    Proposed methods (``"<m> proposed"``) are solid with their quantile band, baselines
    (``"<m> baseline"``) dashed; the method's colour is shared with the reference's curves.
    Returns the axes.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4.3))
    xs = depth_positions(result, base)
    for method in methods or result.methods:
        if method not in result.series:
            continue
        s = result.series[method]
        color = method_color(method)
        suffix = " (ours)" if reference is not None else ""
        ax.plot(xs, [math.nan if v is None else v for v in s.central], color=color, markersize=4,
                label=f"{method}{suffix}", **_style(method))
        if s.is_band and s.low is not None and s.high is not None:
            ax.fill_between(xs, s.low, s.high, color=color, alpha=0.2, linewidth=0)
    if reference is not None:
        rx = depth_positions(reference, base)
        for method in methods or reference.methods:
            if method not in reference.series:
                continue
            ax.plot(rx, [math.nan if v is None else v for v in reference.series[method].central],
                    color=method_color(method), linestyle=":", marker="s", markerfacecolor="none", markersize=4,
                    linewidth=1.1, alpha=0.8, label=f"{method} (paper)")
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
        ax.legend(fontsize="small", loc="lower right")
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
