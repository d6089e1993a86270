"""Figure helpers for the notebooks: the papers' plotting style, overlays and comparison tables.

Every helper takes :class:`vqcore.io.results.ResultFile` objects, so our files and the authors'
published ones are drawn by the same code:

- :func:`curve_style`: the one place the curves' looks are decided: colour by method, ours
  solid with filled markers, the paper's dashed with open markers, and a marker shape per method
  (``"<m> proposed"`` and ``"<m> baseline"`` get different ones).
- :func:`plot_result`: one line per method (mean) with its quantile band, or a plain line for
  deterministic series; x axis labelled with the file's x key (``"VQ Bitrate"``), y axis with
  its metric (``"MSE"``), as in the published figures.
- :func:`plot_reference`: a published result drawn over ours, dashed, with open markers.
- :func:`comparison_table`: ours beside the paper's value, per x label and method;
  :func:`paper_table`: ours, the paper's and their ratio at every point, grouped by method.
- :func:`book_style`, :func:`panels`, :func:`displayed_font_px` and :func:`show`: figures that stay
  legible in the book's text column (:data:`COLUMN_PX` wide, fonts of at least
  :data:`MIN_FONT_PX` there).
- :func:`setup_notebook`: what every figure notebook does first (logging, warnings, pandas and
  matplotlib options, and its folders resolved from the repository root or the notebooks folder).
- :func:`load_reference`: the matching published file, or None when no reference is given.
- :func:`ordering_by_x`: whether an ordering of methods holds at each x label.

matplotlib and pandas are imported when a function needs them.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import results

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMN_PX",
    "METHOD_COLORS",
    "METHOD_MARKERS",
    "MIN_FONT_PX",
    "book_style",
    "comparison_table",
    "curve_label",
    "curve_style",
    "describe_runs",
    "displayed_font_px",
    "legend_below",
    "load_reference",
    "ordering_by_x",
    "panels",
    "paper_table",
    "plot_figure",
    "plot_reference",
    "plot_result",
    "rank_by_x",
    "ratio_rows",
    "repository_root",
    "resolve_path",
    "scales_differ",
    "setup_notebook",
    "show",
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
#: one marker per method (so the curves differ in more than colour); variants, below, override it
METHOD_MARKERS: dict[str, str] = {"AVQ": "o", "RVQ": "s", "PVQ": "D", "VQ": "v", "SFVQ": "P"}
#: markers of the variants of a method (``"AVQ proposed"``, ``"AVQ baseline"``)
VARIANT_MARKERS: dict[str, str] = {"proposed": "o", "baseline": "^"}
_FALLBACK = ["tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan"]
PAPER_LABEL = "paper"
OURS_LABEL = "ours"
SOURCES = (OURS_LABEL, PAPER_LABEL)

#: the width of the book's text column, in CSS pixels, and the smallest font size legible there
COLUMN_PX = 688
MIN_FONT_PX = 9.0
#: the width of a figure that fills the text column at 100 dpi, in inches
FIGURE_WIDTH_IN = 6.8


def _base_method(method: str) -> str | None:
    for name in METHOD_COLORS:
        if method == name or method.startswith(name + " "):
            return name
    return None


def method_color(method: str) -> str:
    """The colour of ``method`` (its base name: ``"AVQ baseline"`` takes AVQ's colour)."""
    base = _base_method(method)
    return METHOD_COLORS[base] if base else _FALLBACK[sum(map(ord, method)) % len(_FALLBACK)]


def curve_style(method: str, source: str = OURS_LABEL) -> dict[str, Any]:
    """The matplotlib keyword arguments of one curve: the style rules of every figure, in one place.

    - colour: the method's (:data:`METHOD_COLORS`; ``"AVQ baseline"`` takes AVQ's);
    - line: ours (``source="ours"``) solid, the paper's (``source="paper"``) dashed and thinner;
    - marker: per method (:data:`METHOD_MARKERS`), but ``"<m> proposed"`` a circle and
      ``"<m> baseline"`` a triangle (:data:`VARIANT_MARKERS`), so a proposed quantizer and its
      baseline differ even where they share a colour;
    - marker face: ours filled, the paper's open (white inside).

    >>> curve_style("RVQ baseline", "paper")["linestyle"], curve_style("RVQ baseline", "paper")["marker"]
    ('--', '^')
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    variant = method.rsplit(" ", 1)[-1] if " " in method else ""
    base = _base_method(method)
    marker = VARIANT_MARKERS.get(variant) or (METHOD_MARKERS[base] if base else "o")
    color = method_color(method)
    style: dict[str, Any] = {"color": color, "marker": marker, "markeredgecolor": color}
    if source == OURS_LABEL:
        style.update(linestyle="-", linewidth=1.9, markersize=5, markerfacecolor=color)
    else:
        style.update(linestyle="--", linewidth=1.4, markersize=6, markerfacecolor="white", alpha=0.95)
    return style


def curve_label(method: str, source: str = OURS_LABEL, overlay: bool = True) -> str:
    """The legend entry of a curve: ``"AVQ (ours)"``, ``"AVQ (paper)"``; just ``"AVQ"`` for ours
    without an ``overlay``."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return f"{method} ({source})" if overlay or source == PAPER_LABEL else method


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
        _, ax = panels(1)
        ax = ax[0]
    return ax


def _tick_label(label: str, x_key: str) -> str:
    return label.split()[0] if x_key in ("VQ Bitrate", "VQ bitrate", "Sampling Rate") else label


def _set_ticks(ax: Any, *files: results.ResultFile) -> None:
    """x ticks at every label of ``files`` (ours and the reference may cover different labels)."""
    ticks: dict[float, str] = {}
    for result in files:
        for x, label in zip(x_positions(result), result.x):
            ticks.setdefault(x, _tick_label(label, result.x_key))
    ordered = sorted(ticks)
    ax.set_xticks(ordered)
    ax.set_xticklabels([ticks[x] for x in ordered])


def _x_label(result: results.ResultFile) -> str:
    if result.x_key == "Sampling Rate" and all(x.endswith("kbits/sec") for x in result.x):
        return "bitrate (kbit/s)"
    if result.x_key in ("VQ Bitrate", "VQ bitrate") and all(x.endswith("bits") for x in result.x):
        return "bits per vector"
    return result.x_key


def _decorate(ax: Any, result: results.ResultFile, title: str | None) -> None:
    _set_ticks(ax, result)
    ax.set_xlabel(_x_label(result))
    ax.set_ylabel(result.metric)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)


def plot_result(result: results.ResultFile, ax: Any = None, methods: Sequence[str] | None = None, *,
                label: str = "", band: bool = True, title: str | None = None) -> Any:
    """Draw ``result`` in the papers' style: per method the mean line (:func:`curve_style`, ours)
    and, for a band, the area between its quantiles. Legend entries are ``"<method><label>"``.
    Returns the axes."""
    ax = _axes(ax)
    xs = x_positions(result)
    for method in methods or result.methods:
        if method not in result.series:
            logger.warning("%s has no method %r", result.path or "result", method)
            continue
        s = result.series[method]
        style = curve_style(method, OURS_LABEL)
        ax.plot(xs, _values(s.central), label=f"{method}{label}", **style)
        if band and s.is_band and s.low is not None and s.high is not None:
            ax.fill_between(xs, _values(s.low), _values(s.high), color=style["color"], alpha=0.2, linewidth=0)
    _decorate(ax, result, title)
    return ax


def plot_reference(reference: results.ResultFile, ax: Any, methods: Sequence[str] | None = None, *,
                   label: str = f" ({PAPER_LABEL})", band: bool = True) -> Any:
    """Overlay a published result on ``ax``: per method the paper's curve (:func:`curve_style`,
    dashed, open markers, our colours) and, for a band, its quantiles as a light hatched area."""
    xs = x_positions(reference)
    for method in methods or reference.methods:
        if method not in reference.series:
            continue
        s = reference.series[method]
        style = curve_style(method, PAPER_LABEL)
        ax.plot(xs, _values(s.central), label=f"{method}{label}", **style)
        if band and s.is_band and s.low is not None and s.high is not None:
            ax.fill_between(xs, _values(s.low), _values(s.high), facecolor="none", edgecolor=style["color"],
                            hatch="////", alpha=0.35, linewidth=0)
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


def legend_below(ax: Any, handles: Sequence[Any], labels: Sequence[str], *, ncol: int = 3,
                 by_rows: bool = True) -> Any:
    """A legend under the axes (it then covers no curve and keeps the figure's width) in ``ncol``
    columns. matplotlib fills a legend column by column; with ``by_rows`` the entries are reordered
    to read row by row (one row per source when ``ncol`` is the number of methods). Returns the legend."""
    order = list(range(len(labels)))
    if by_rows:
        rows = math.ceil(len(labels) / ncol) if labels else 1
        order = [r * ncol + c for c in range(ncol) for r in range(rows) if r * ncol + c < len(labels)]
    return ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper center",
                     bbox_to_anchor=(0.5, -0.2), ncol=min(ncol, max(1, len(labels))), frameon=False,
                     columnspacing=1.2, handlelength=2.6)


def _pair_entries(handles: list[Any], labels: list[str]) -> tuple[list[Any], list[str]]:
    """Legend entries ordered ours first, then the paper's (one row each when ``ncol`` is the method count)."""
    ours = [(h, lab) for h, lab in zip(handles, labels) if not lab.endswith(f"({PAPER_LABEL})")]
    theirs = [(h, lab) for h, lab in zip(handles, labels) if lab.endswith(f"({PAPER_LABEL})")]
    pairs = ours + theirs
    return [h for h, _ in pairs], [lab for _, lab in pairs]


def plot_figure(result: results.ResultFile, reference: results.ResultFile | None = None, ax: Any = None,
                methods: Sequence[str] | None = None, *, title: str | None = None,
                ours_label: str = f" ({OURS_LABEL})", legend: bool = True, logy: bool = False,
                reference_axis: str = "auto") -> Any:
    """Ours (:func:`plot_result`) and, when given, the published curves (:func:`plot_reference`).

    ``reference_axis``: ``"same"`` draws the paper's curves on our y axis, ``"twin"`` on a second
    y axis at the right (labelled as the paper's), ``"auto"`` picks ``"twin"`` when
    :func:`scales_differ` (for example when the data sets differ in scale). The legend sits below
    the axes (:func:`legend_below`): our curves in the first row, the paper's in the second.
    Returns our axes; the second one, if any, is ``ax.paper_axis``.
    """
    if reference_axis not in ("auto", "same", "twin"):
        raise ValueError(f"reference_axis must be 'auto', 'same' or 'twin', got {reference_axis!r}")
    ax = plot_result(result, ax, methods, label=ours_label if reference is not None else "", title=title)
    target = ax
    if reference is not None:
        twin = reference_axis == "twin" or (reference_axis == "auto" and scales_differ(result, reference, methods))
        if twin:
            target = ax.twinx()
            target.set_ylabel(f"{PAPER_LABEL} (dashed)")
            ax.set_ylabel(f"{result.metric}, {OURS_LABEL} (solid)")
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
        handles, labels = _pair_entries(handles, labels)
        shown = [m for m in (methods or result.methods) if m in result.series]
        legend_below(target if target is not ax else ax, handles, labels, ncol=max(1, len(shown)))
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


def _paper_values(result: results.ResultFile, reference: results.ResultFile, method: str) -> list[float]:
    """The paper's values of ``method`` at our x labels (NaN where the paper has no such label)."""
    ref_index = {label: i for i, label in enumerate(reference.x)}
    ref = _values(reference.series[method].central)
    return [ref[ref_index[label]] if label in ref_index else math.nan for label in result.x]


def ratio_rows(result: results.ResultFile, reference: results.ResultFile,
               methods: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Ours, the paper's and their ratio at every point both files have, as plain rows
    ``{"x": label, "method": m, "ours": o, "paper": p, "ratio": o / p}`` (``ratio`` None where the
    paper's value is 0 or missing). Methods only one of the files has are left out."""
    rows = []
    for method in methods or result.methods:
        if method not in result.series or method not in reference.series:
            continue
        ours = _values(result.series[method].central)
        for label, o, p in zip(result.x, ours, _paper_values(result, reference, method)):
            if math.isnan(o) or math.isnan(p):
                continue
            rows.append({"x": label, "method": method, "ours": o, "paper": p, "ratio": o / p if p != 0.0 else None})
    return rows


def paper_table(result: results.ResultFile, reference: results.ResultFile | None = None,
                methods: Sequence[str] | None = None, *, difference: bool = False):
    """A :class:`pandas.DataFrame` indexed by our x labels, with two column levels: per method
    ``ours``, ``paper`` and ``ours / paper`` (and ``ours - paper`` with ``difference``, for metrics in
    dB or logarithms). Without a ``reference``, per method ``ours`` only. The metric is in
    ``frame.attrs["metric"]``. The spaces in the labels let a header wrap, so that a table of four
    columns per method fits the text column."""
    import pandas as pd

    columns: dict[tuple[str, str], list[float]] = {}
    for method in methods or result.methods:
        if method not in result.series:
            continue
        ours = _values(result.series[method].central)
        columns[(method, OURS_LABEL)] = ours
        if reference is None or method not in reference.series:
            continue
        paper = _paper_values(result, reference, method)
        columns[(method, PAPER_LABEL)] = paper
        columns[(method, f"{OURS_LABEL} / {PAPER_LABEL}")] = [o / p if p != 0.0 else math.nan for o, p in zip(ours, paper)]
        if difference:
            columns[(method, f"{OURS_LABEL} - {PAPER_LABEL}")] = [o - p for o, p in zip(ours, paper)]
    frame = pd.DataFrame(columns, index=pd.Index(result.x, name=result.x_key))
    if columns:
        frame.columns = pd.MultiIndex.from_tuples(list(columns), names=["method", ""])
    frame.attrs["metric"] = result.metric
    return frame


# -- figures that stay legible in the book -------------------------------------------------------

def book_style(base_font_pt: float = 10.0) -> dict[str, Any]:
    """matplotlib settings (for :data:`matplotlib.rcParams`) of the book's figures: the width of the
    text column at 100 dpi, and every font at least 9 points, so that at the displayed size
    (:data:`COLUMN_PX` wide) no text is below :data:`MIN_FONT_PX` (see :func:`displayed_font_px`)."""
    small = max(9.0, base_font_pt - 1)
    return {"figure.figsize": (FIGURE_WIDTH_IN, 3.6), "figure.dpi": 100, "savefig.dpi": 100,
            "font.size": base_font_pt, "axes.titlesize": base_font_pt + 0.5, "axes.labelsize": base_font_pt,
            "xtick.labelsize": small, "ytick.labelsize": small, "legend.fontsize": small,
            "legend.title_fontsize": small, "figure.titlesize": base_font_pt + 1,
            "figure.constrained_layout.use": False}


def panels(n: int, ncols: int = 1, *, height: float = 3.2, width: float = FIGURE_WIDTH_IN, **subplots: Any):
    """``(figure, flat array of n axes)``: ``n`` panels in rows of ``ncols`` (1 or 2 in the text
    column), each ``height`` inches high, the figure ``width`` inches wide. Extra keywords go to
    :func:`matplotlib.pyplot.subplots`; unused cells of the grid are removed."""
    import matplotlib.pyplot as plt
    import numpy as np

    if n < 1 or ncols < 1:
        raise ValueError(f"panels needs n >= 1 and ncols >= 1, got n={n}, ncols={ncols}")
    rows = math.ceil(n / ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(width, height * rows), squeeze=False, **subplots)
    flat = np.asarray(axes).ravel()
    for extra in flat[n:]:
        extra.remove()
    return fig, flat[:n]


def _texts(fig: Any) -> list[Any]:
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and t.get_figure() is fig]


def displayed_font_px(fig: Any, column_px: int = COLUMN_PX) -> float:
    """The smallest font among ``fig``'s visible texts, in pixels, as the book shows the figure:
    saved with a tight bounding box at the figure's dpi, then scaled down to ``column_px`` when
    wider. (A font of ``s`` points is ``s * dpi / 72`` pixels in the image.)"""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_tightbbox(renderer).width * fig.dpi
    scale = min(1.0, column_px / width_px) if width_px > 0 else 1.0
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return min(sizes) * fig.dpi / 72 * scale if sizes else math.inf


def show(fig: Any, *, column_px: int = COLUMN_PX, min_font_px: float = MIN_FONT_PX) -> None:
    """Lay ``fig`` out and show it (the notebooks' last step of a figure); warns when a text would be
    smaller than ``min_font_px`` in the ``column_px`` text column."""
    import matplotlib.pyplot as plt

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    smallest = displayed_font_px(fig, column_px)
    if smallest < min_font_px:
        warnings.warn(f"figure text of {smallest:.1f} px at {column_px} px wide, below {min_font_px} px: "
                      "make the figure narrower or its fonts larger", stacklevel=2)
    plt.show()


# -- the figure notebooks' setup -------------------------------------------------------------------

def repository_root(start: str | os.PathLike | None = None) -> Path | None:
    """The repository above ``start`` (default: the working folder): the first folder, ``start``
    included, that holds ``notebooks/`` and ``pyproject.toml``; None when there is none."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / "pyproject.toml").is_file():
            return folder
    return None


def resolve_path(path: str | os.PathLike | None, start: str | os.PathLike | None = None) -> Path | None:
    """A notebook's folder parameter made absolute. An absolute path stays as it is; a relative one
    is taken from the working folder when it exists there, else from the repository's
    ``notebooks/`` folder (where the defaults, ``"../Results"``, point) when it exists there, else
    from the working folder (a folder an experiment will create). None and ``""`` give None."""
    if path is None or str(path) == "":
        return None
    p = Path(path)
    if p.is_absolute():
        return p
    here = Path(start if start is not None else os.getcwd()).resolve()
    if (here / p).exists():
        return (here / p).resolve()
    root = repository_root(here)
    if root is not None and (root / "notebooks" / p).exists():
        return (root / "notebooks" / p).resolve()
    return (here / p).resolve()


def setup_notebook(results_dir: str | os.PathLike, reference_dir: str | os.PathLike | None = None,
                   ) -> tuple[Path, Path | None]:
    """What every figure notebook does first; returns ``(results_dir, reference_dir)`` resolved by
    :func:`resolve_path` (so the notebooks run from the repository root and from ``notebooks/``).

    - logging: warnings and errors of every library are shown, their INFO lines (faiss's loader)
      are not;
    - tqdm's notice that notebook progress bars are missing is not shown (no bars are drawn);
    - pandas shows whole cells and wide tables (nothing cut with "...");
    - matplotlib uses :func:`book_style`.
    """
    import matplotlib as mpl

    logging.basicConfig(level=logging.WARNING, force=True)
    for name in ("faiss", "faiss.loader"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="IProgress not found")
    try:
        import pandas as pd
    except ImportError:  # the notebooks without tables do not need it
        pd = None
    if pd is not None:
        for option, value in (("display.max_colwidth", None), ("display.width", None),
                              ("display.max_columns", None), ("display.max_rows", 200), ("display.precision", 4)):
            pd.set_option(option, value)
    mpl.rcParams.update(book_style())
    return resolve_path(results_dir), resolve_path(reference_dir)


def rank_by_x(result: results.ResultFile, methods: Sequence[str] | None = None, *,
              lower_is_better: bool = True) -> dict[str, list[str]]:
    """Per x label, the methods best first (ties keep the file's order); missing points left out.

    Example: ``rank_by_x(fig3_d256)["40 bits"][0]`` is the method with the lowest MSE at 40 bits.
    """
    out = {}
    names = [m for m in (methods or result.methods) if m in result.series]
    for i, label in enumerate(result.x):
        present = [m for m in names if result.series[m].central[i] is not None]
        sign = 1.0 if lower_is_better else -1.0
        out[label] = sorted(present, key=lambda m: sign * result.series[m].central[i])
    return out


def describe_runs(labels: Sequence[str], flags: Sequence[bool], *, every: str = "at every bitrate",
                  none: str = "at no bitrate") -> str:
    """Where ``flags`` hold along ``labels``, in words: ``every``, ``none``, ``"from 20 bits up"``,
    ``"up to 16 bits"``, or the runs (``"at 12 bits and 20 to 28 bits"``).

    >>> describe_runs(["12 bits", "16 bits", "20 bits", "24 bits"], [False, False, True, True])
    'from 20 bits up'
    >>> describe_runs(["12 bits", "16 bits", "20 bits", "24 bits"], [True, False, True, True])
    'at 12 bits and 20 to 24 bits'
    """
    if len(labels) != len(flags):
        raise ValueError(f"labels and flags differ in length: {len(labels)} and {len(flags)}")
    runs: list[tuple[int, int]] = []
    for i, flag in enumerate(flags):
        if flag and runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        elif flag:
            runs.append((i, i))
    if not runs:
        return none
    if runs == [(0, len(labels) - 1)]:
        return every
    if len(runs) == 1 and runs[0][0] < runs[0][1] == len(labels) - 1:
        return f"from {labels[runs[0][0]]} up"
    if len(runs) == 1 and runs[0][0] == 0 < runs[0][1]:
        return f"up to {labels[runs[0][1]]}"

    def span(a: int, b: int) -> str:
        if a == b:
            return labels[a]
        first, last = labels[a].split(), labels[b].split()
        start = first[0] if len(first) > 1 and first[1:] == last[1:] else labels[a]
        return f"{start} to {labels[b]}"
    parts = [span(a, b) for a, b in runs]
    return "at " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


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
