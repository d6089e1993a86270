"""The encoding-cost figure of the benchmark grid (``python -m benchmarks.grid``): microseconds per
vector against the codebook size ``K`` and against the beam width, vqcore's searches beside faiss's
``ResidualQuantizer`` on the same codebooks. Works on the grid's JSON as a dictionary; matplotlib is
imported when a function needs it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["cost_table", "plot_encode_cost"]

#: the grid's method keys drawn, with their label and line style
METHODS = {
    "vqcore.AdditiveVQ": ("vqcore AVQ, free order", {"linestyle": "-", "marker": "o"}),
    "vqcore.AdditiveVQ.ordered_track": ("vqcore AVQ, ordered track (the default)", {"linestyle": "-.", "marker": "s"}),
    "faiss.ResidualQuantizer": ("faiss RQ", {"linestyle": "--", "marker": "^"}),
}


def cost_table(grid: dict[str, Any], data: str, threads: int) -> dict[str, dict[tuple[int, int], float]]:
    """Microseconds per vector (``1e6 / median vectors/s``) by method and ``(K, beam)`` for one data set
    and thread count of the grid's ``points``."""
    if not isinstance(grid, dict) or not isinstance(grid.get("points"), list):
        raise ValueError("grid: expected the JSON of benchmarks.grid (a mapping with a 'points' list)")
    table: dict[str, dict[tuple[int, int], float]] = {}
    for p in grid["points"]:
        if p["data"] != data or p["threads"] != threads:
            continue
        for key, row in p["methods"].items():
            table.setdefault(key, {})[(p["K"], p["beam"])] = 1e6 / row["vec_per_s_median"]
    if not table:
        raise ValueError(f"grid: no points for data {data!r} at {threads} thread(s)")
    return table


def _panel(ax: Any, table: dict[str, dict[tuple[int, int], float]], along: str, fixed: Sequence[int],
           colors: Sequence[str]) -> None:
    """Cost against ``along`` ("K" or "beam"), one colour per value of the other axis, one style per method."""
    for color, value in zip(colors, fixed):
        for key, (label, style) in METHODS.items():
            pts = sorted((kb[0] if along == "K" else kb[1], us) for kb, us in table.get(key, {}).items()
                         if (kb[1] if along == "K" else kb[0]) == value)
            if pts:
                ax.plot(*zip(*pts), color=color, linewidth=1.6, markersize=4, **style)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.2", label=label, **style) for label, style in METHODS.values()]
    handles += [Line2D([], [], color=color, linewidth=3, label=f"{'beam' if along == 'K' else 'K'} {value}")
                for color, value in zip(colors, fixed)]
    ax.legend(handles=handles, fontsize=7, ncol=2)
    ax.set(xscale="log", yscale="log", xlabel="codebook size K" if along == "K" else "beam width",
           ylabel="encoding cost (µs per vector)")
    ticks = sorted({kb[0] if along == "K" else kb[1] for rows in table.values() for kb in rows})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(_ticker().NullLocator())
    ax.grid(True, which="both", alpha=0.3)


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def plot_encode_cost(grid: dict[str, Any], data: str = "iid", threads: int = 1, axes: Any = None) -> Any:
    """Two panels: cost per vector against ``K`` (a line per beam width) and against the beam width (a line
    per ``K``), vqcore's AVQ (free order, ordered track) solid against faiss RQ dashed. Returns the axes."""
    import matplotlib.pyplot as plt

    table = cost_table(grid, data, threads)
    ks = sorted({kb[0] for rows in table.values() for kb in rows})
    beams = sorted({kb[1] for rows in table.values() for kb in rows})
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    palette = plt.get_cmap("viridis")
    _panel(axes[0], table, "K", beams, [palette(i / max(1, len(beams) - 1) * 0.85) for i in range(len(beams))])
    _panel(axes[1], table, "beam", ks, [palette(i / max(1, len(ks) - 1) * 0.85) for i in range(len(ks))])
    axes[0].set_title(f"{data} data, {threads} thread{'s' if threads > 1 else ''}: cost against K")
    axes[1].set_title("cost against the beam width")
    return axes
