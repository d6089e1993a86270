"""Plots of the budget study (:mod:`vqcore.experiments.budget_study`; the numbers are its summaries').

- :func:`distance_rows`: ``(family, figure, factors, distances)`` for every figure with a distance;
- :func:`plot_distance`: the distance to the paper against the budget factor (log2 axis), one line
  per family and figure;
- :func:`metric_rows` / :func:`plot_metric_panels`: small panels of one result file's metric per
  method against the budget, at each stored rate (solid: the highest rate, dashed: the lowest).

A summary is the dict of :func:`vqcore.experiments.budget_summary.summarize` (or its JSON file).
matplotlib is imported when a function needs it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .figures import curve_style

__all__ = ["distance_rows", "metric_rows", "plot_distance", "plot_metric_panels"]


def _factors(summary: Mapping[str, Any]) -> list[tuple[float, Mapping[str, Any]]]:
    entries = summary.get("factors", {})
    return sorted(((e["factor"], e) for e in entries.values()), key=lambda t: t[0])


def distance_rows(summaries: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str, list[float], list[float]]]:
    """``(family, figure, factors, distances)`` per figure of each summary whose factors have a distance."""
    rows = []
    for name, summary in summaries.items():
        figures = summary.get("meta", {}).get("figures", [])
        for fid in figures:
            points = [(f, e["figures"][fid]["distance"]) for f, e in _factors(summary)
                      if e["figures"].get(fid, {}).get("distance") is not None]
            if points:
                rows.append((name, fid, [p[0] for p in points], [p[1] for p in points]))
    return rows


def _axes(ax: Any, figsize: tuple[float, float] = (5.5, 3.6)) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize)
    return ax


def _log2_axis(ax: Any, factors: Sequence[float]) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(factors))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"x{f:g}" for f in ticks])
    ax.set_xlabel("training budget (times the quick preset's)")
    ax.grid(True, alpha=0.3)


def plot_distance(summaries: Mapping[str, Mapping[str, Any]], ax: Any = None, *, title: str | None = None) -> Any:
    """The distance to the paper (:data:`~vqcore.experiments.budget_summary.DISTANCE_DEFINITION`)
    against the budget factor on a log2 axis, one line per family and figure. Returns the axes."""
    ax = _axes(ax)
    factors: list[float] = []
    markers = "osD^v<>ph*"
    for i, (name, fid, xs, ys) in enumerate(distance_rows(summaries)):
        ax.plot(xs, ys, marker=markers[i % len(markers)], label=f"{name}: Figure {fid}")
        factors += xs
    if factors:
        _log2_axis(ax, factors)
        ax.legend(fontsize="small", ncol=2)
    ax.set_ylabel("distance to the paper, median |ln r|")
    ax.set_ylim(bottom=0)
    if title:
        ax.set_title(title)
    return ax


def metric_rows(summary: Mapping[str, Any], rel: str) -> tuple[str, list[str], dict[str, dict[str, list]]]:
    """``(metric, x labels, {method: {x label: [(factor, value)]}})`` of the result file ``rel``
    over the summary's factors; a ValueError naming ``rel`` when no factor stores it."""
    metric, labels, out = None, [], {}
    for factor, entry in _factors(summary):
        stored = entry.get("metrics", {}).get(rel)
        if stored is None:
            continue
        metric = stored["metric"]
        labels = labels or list(stored["x"])
        for method, values in stored["series"].items():
            for x, v in zip(stored["x"], values):
                if v is not None:
                    out.setdefault(method, {}).setdefault(x, []).append((factor, v))
    if metric is None:
        raise ValueError(f"rel: no factor of the summary stores {rel!r}")
    return metric, labels, out


def plot_metric_panels(summary: Mapping[str, Any], rels: Sequence[str], axes: Sequence[Any] | None = None,
                       titles: Sequence[str] | None = None) -> list[Any]:
    """One small panel per result file in ``rels``: its metric per method against the budget factor
    (log2 axis), solid at the highest stored rate, dashed at the lowest. Returns the axes."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, grid = plt.subplots(1, len(rels), figsize=(3.2 * len(rels), 3.0), squeeze=False)
        axes = list(grid[0])
    for i, (ax, rel) in enumerate(zip(axes, rels)):
        metric, labels, series = metric_rows(summary, rel)
        factors: list[float] = []
        ends = [labels[-1], labels[0]] if len(labels) > 1 else labels[:1]
        for method, by_x in series.items():
            style = curve_style(method)
            for j, x in enumerate(ends):
                points = by_x.get(x, [])
                if not points:
                    continue
                ax.plot([p[0] for p in points], [p[1] for p in points], color=style.get("color"),
                        marker=style.get("marker", "o"), linestyle="-" if j == 0 else "--",
                        label=f"{method}, {x}")
                factors += [p[0] for p in points]
        if factors:
            _log2_axis(ax, factors)
        ax.set_xlabel("budget")
        ax.set_ylabel(metric)
        ax.set_title(titles[i] if titles else rel.rsplit("/", 1)[-1].removesuffix(".json"), fontsize="small")
        ax.legend(fontsize="x-small")
    return list(axes)
