"""Ours against the paper's at matched points (same method, same x label), and scale-free curves.

- :func:`point_ratio`: ours/paper at one point (for a log10 metric, the ratio of the quantities,
  ``10 ** (ours - paper)``).
- :func:`matched_ratios`: per curve and per figure, as :class:`~.model.RatioStats` (median, range).
- :func:`scale_free`: a curve divided by its value at the lowest rate (``"ratio"``), or, for a
  logarithmic metric (dB, log10), its change from that value (``"difference"``);
  :func:`per_bit_change`: the change per added unit of x (per bit).
- :func:`gain_ratio`: the gain over the upper span of a curve over its gain over the lower span
  (does it keep rising, or flatten?).
- :func:`scale_free_ratios`: ours/paper of the scale-free curves, past the lowest rate.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from ...io.results import ResultFile
from .model import Panel, RatioStats, stats

__all__ = ["RATIO_BAND", "gain_ratio", "is_logarithmic", "matched_ratios", "matched_values", "per_bit_change",
           "point_ratio", "scale_free", "scale_free_mode", "scale_free_ratios"]

#: ours/paper inside this band counts as "the same scale"
RATIO_BAND: tuple[float, float] = (0.9, 1.1)


def is_logarithmic(metric: str) -> bool:
    """True for a metric on a log scale: log10 (complexity) or decibels (pSNR, peak SNR)."""
    low = metric.lower()
    return "log10" in low or "snr" in low or "db" in low.split()


def point_ratio(ours: float, paper: float, metric: str = "") -> float:
    """ours/paper (for a log10 metric ``10 ** (ours - paper)``); NaN when the paper's value is 0."""
    if "log10" in metric.lower():
        return 10.0 ** (ours - paper)
    return ours / paper if paper != 0 else math.nan


def matched_values(ours: ResultFile, paper: ResultFile) -> dict[str, list[tuple[str, float, float]]]:
    """``{method: [(x label, ours, paper)]}`` at the points both files have, in our x order."""
    index = {label: i for i, label in enumerate(paper.x)}
    out: dict[str, list[tuple[str, float, float]]] = {}
    for method, s in ours.series.items():
        ps = paper.series.get(method)
        if ps is None:
            continue
        rows = []
        for i, label in enumerate(ours.x):
            j = index.get(label)
            vo, vp = s.central[i], None if j is None else ps.central[j]
            if vo is not None and vp is not None:
                rows.append((label, float(vo), float(vp)))
        if rows:
            out[method] = rows
    return out


def matched_ratios(pairs: Sequence[tuple[Panel, Panel]]) -> tuple[list[RatioStats], RatioStats]:
    """ours/paper per curve (one :class:`~.model.RatioStats` per panel and method) and for the whole figure."""
    curves, pooled = [], []
    for ours, paper in pairs:
        for method, rows in matched_values(ours.result, paper.result).items():
            values = [point_ratio(o, p, ours.result.metric) for _, o, p in rows]
            curves.append(stats(method, ours.label, values))
            pooled += values
    return curves, stats("all", "", pooled)


def scale_free_mode(metric: str) -> str:
    """``"difference"`` for a logarithmic metric (:func:`is_logarithmic`), ``"ratio"`` otherwise."""
    return "difference" if is_logarithmic(metric) else "ratio"


def scale_free(values: Sequence[float | None], mode: str = "ratio") -> list[float]:
    """The curve divided by (``"ratio"``) or minus (``"difference"``) its first value (the lowest
    rate); NaN where a value is missing, and everywhere when the first value is missing (or 0 for
    a ratio)."""
    if mode not in ("ratio", "difference"):
        raise ValueError(f"mode must be 'ratio' or 'difference', got {mode!r}")
    vals = [math.nan if v is None else float(v) for v in values]
    if not vals:
        return []
    first = vals[0]
    if math.isnan(first) or (mode == "ratio" and first == 0):
        return [math.nan] * len(vals)
    return [v / first if mode == "ratio" else v - first for v in vals]


def per_bit_change(xs: Sequence[float], values: Sequence[float | None], *, relative: bool = False) -> list[float]:
    """``(v[i+1] - v[i]) / (x[i+1] - x[i])`` between neighbouring points (``len - 1`` values); with
    ``relative`` the change of ``ln v`` instead (a fraction of the value per bit)."""
    if len(xs) != len(values):
        raise ValueError(f"xs and values must have the same length, got {len(xs)} and {len(values)}")
    out = []
    for (x0, v0), (x1, v1) in zip(zip(xs, values), zip(xs[1:], values[1:])):
        if v0 is None or v1 is None or x1 == x0 or (relative and (v0 <= 0 or v1 <= 0)):
            out.append(math.nan)
        elif relative:
            out.append((math.log(v1) - math.log(v0)) / (x1 - x0))
        else:
            out.append((v1 - v0) / (x1 - x0))
    return out


def gain_ratio(xs: Sequence[float], values: Sequence[float | None], low: float, mid: float, high: float) -> float:
    """``(v(high) - v(mid)) / (v(mid) - v(low))``: how much of a curve's gain is left in its upper span.

    1 for a straight line over two equal spans; near 0 for a curve that flattens after ``mid``.
    The three x values must be points of ``xs``; NaN where a value is missing or the lower span
    gains nothing.

    >>> gain_ratio([12, 28, 40], [0.70, 0.86, 0.88], 12, 28, 40)  # doctest: +ELLIPSIS
    0.12...
    """
    if len(xs) != len(values):
        raise ValueError(f"xs and values must have the same length, got {len(xs)} and {len(values)}")
    at = {}
    for name, x in (("low", low), ("mid", mid), ("high", high)):
        if x not in xs:
            raise ValueError(f"{name}={x!r} is not one of the curve's x values {list(xs)}")
        at[name] = values[list(xs).index(x)]
    if not low < mid < high:
        raise ValueError(f"low < mid < high is required, got {low}, {mid}, {high}")
    if any(v is None or math.isnan(v) for v in at.values()) or at["mid"] == at["low"]:
        return math.nan
    return (at["high"] - at["mid"]) / (at["mid"] - at["low"])


def scale_free_ratios(pairs: Sequence[tuple[Panel, Panel]]) -> RatioStats:
    """ours/paper of the scale-free curves (:func:`scale_free`, mode by metric) at every matched
    point past the first: 1 everywhere when the curves differ only in scale."""
    pooled = []
    for ours, paper in pairs:
        mode = scale_free_mode(ours.result.metric)
        for rows in matched_values(ours.result, paper.result).values():
            o = scale_free([r[1] for r in rows], mode)
            p = scale_free([r[2] for r in rows], mode)
            pooled += [a / b for a, b in zip(o[1:], p[1:]) if b != 0 and not math.isnan(a) and not math.isnan(b)]
    return stats("all", "scale-free", pooled)
