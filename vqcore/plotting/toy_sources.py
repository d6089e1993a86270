"""Plots and tables of the toy data-sources study (:mod:`vqcore.experiments.toy_sources`).

- :func:`plot_source_curves`: for one method and one dimension, the scale-free curve
  ``MSE(r) / MSE(lowest r)`` of every source (solid) against the paper's (dashed, black);
- :func:`plot_source_panels`: one such panel per method, for one dimension;
- :func:`fall_table`: the falls ``MSE(high) / MSE(low)`` per source, method and D, ours and the
  paper's, their relative difference and the Gaussian bound's fall, as a pandas table.

matplotlib and pandas are imported when a function needs them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..eval.fidelity.compare import scale_free
from ..io import results
from .fidelity import fidelity_positions
from .figures import panels

__all__ = ["SOURCE_COLORS", "fall_table", "plot_source_curves", "plot_source_panels", "source_colors"]

#: one colour per source of :data:`vqcore.data.toy_sources.TOY_SOURCES`
SOURCE_COLORS: dict[str, str] = {
    "gaussian": "#1f77b4", "uniform": "#d62728", "laplace": "#2ca02c", "student_t": "#9467bd",
    "bernoulli_gaussian": "#8c564b", "factor": "#1f77b4", "ar1": "#ff7f0e", "powerlaw": "#e377c2",
}


#: colours of the sources with parameters (``"powerlaw@alpha=3"``), in the order they come
_VARIANT_COLORS = ("#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5")


def source_colors(sources: Sequence[str] | Mapping[str, Any]) -> dict[str, str]:
    """A colour per source: a plain source its :data:`SOURCE_COLORS` entry, a source with
    parameters the next of a palette of its own (so two variants of one source differ)."""
    out, spare = {}, iter(_VARIANT_COLORS * (1 + len(sources) // len(_VARIANT_COLORS)))
    for source in sources:
        out[source] = SOURCE_COLORS.get(source, "grey") if "@" not in source else next(spare)
    return out


def plot_source_curves(files: Mapping[str, results.ResultFile], paper: results.ResultFile | None, method: str,
                       ax: Any, *, title: str | None = None,
                       bound: tuple[Sequence[float], Sequence[float]] | None = None) -> Any:
    """On ``ax``: ``method``'s scale-free curve on every source of ``files`` (``{source: file}``,
    one dimension), the paper's and, when given, ``bound`` ``(rates, scale-free values)`` (the
    Gaussian rate-distortion bound's, dotted grey); returns ``ax``."""
    colors = source_colors(files)
    for source, result in files.items():
        if method not in result.series:
            continue
        xs, xlabel = fidelity_positions(result)
        ax.plot(xs, scale_free(result.series[method].central), marker="o", markersize=4, linewidth=1.6,
                color=colors[source], linestyle="-." if "@" in source else "-", label=source)
    if paper is not None and method in paper.series:
        xs, xlabel = fidelity_positions(paper)
        ax.plot(xs, scale_free(paper.series[method].central), linestyle="--", marker="s", markersize=5,
                markerfacecolor="white", color="black", linewidth=1.3, label="paper")
    if bound is not None:
        ax.plot(list(bound[0]), list(bound[1]), linestyle=":", color="grey", linewidth=1.4, label="Gaussian bound")
    ax.set_xlabel("VQ bitrate (bits per vector)")
    ax.set_ylabel("MSE / MSE at the lowest rate")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def plot_source_panels(files: Mapping[str, results.ResultFile], paper: results.ResultFile | None,
                       methods: Sequence[str] = ("AVQ", "RVQ", "PVQ"), *, label: str = "", height: float = 2.8,
                       bound: tuple[Sequence[float], Sequence[float]] | None = None):
    """One :func:`plot_source_curves` panel per method (two columns); one legend, of every curve
    drawn, below. Returns the figure."""
    present = [m for m in methods if any(m in f.series for f in files.values())]
    # narrower than the text column, so that the small fonts of two panels side by side stay readable
    fig, axes = panels(max(len(present), 1), ncols=2, height=height, width=6.2)
    legend: dict[str, Any] = {}
    for ax, m in zip(axes, present):
        plot_source_curves(files, paper, m, ax, title=f"{m}{', ' + label if label else ''}", bound=bound)
        for handle, text in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(text, handle)
    if len(axes) % 2:  # the free cell of the grid, at the lower right, holds the legend
        fig.tight_layout()
        fig.legend(list(legend.values()), list(legend), loc="center", ncol=1, fontsize="small",
                   bbox_to_anchor=(0.75, 0.5 / math.ceil(len(axes) / 2)))
    else:
        fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(len(legend), 2))
        fig.tight_layout(rect=(0, min(0.5, 0.03 * math.ceil(len(legend) / 2)), 1, 1))
    return fig


def fall_table(rows: Sequence[Mapping[str, Any]]):
    """The study's :func:`~vqcore.experiments.toy_sources.summary` rows as a table indexed by
    (figure, D, source, method): ours, the paper's, ``ours / paper - 1`` in %, the Gaussian bound's fall."""
    import pandas as pd

    table = pd.DataFrame([{"figure": r["figure"], "D": r["dim"], "source": r["source"], "method": r["method"],
                           "ours": r["ours"], "paper": r["paper"], "ours/paper - 1 (%)": 100 * r["rel_diff"],
                           "Gaussian bound": r["rd_fall"]} for r in rows])
    if table.empty:
        return table
    return table.set_index(["figure", "D", "source", "method"])
