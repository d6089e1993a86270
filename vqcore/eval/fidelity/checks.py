"""Declarative checks on curves: each is a small frozen dataclass whose ``points(panels)`` returns
one :class:`~.model.Point` per place the finding can be checked.

A check looks at the panels it selects (``on``: a metric or a context ``"key=value"``, None for
all) and skips points where a value is missing. The same check runs on our panels and on the
paper's, so both are judged by one rule. :class:`Exact` compares ours with the paper's
(``compare = True``: it takes both sides).
"""
from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ...io.results import ResultFile, Series
from .model import Panel, Point

__all__ = ["AtLeastGap", "AtLeastRatio", "Close", "Exact", "Extreme", "LessGainAtHigherDim", "Order",
           "RelClose", "Rises", "fmt"]

_RELATIONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def fmt(value: float) -> str:
    """A value as the report writes it: 4 significant digits."""
    return f"{value:.4g}"


def _at(series: Series, i: int) -> float | None:
    v = series.central[i]
    return None if v is None or not math.isfinite(v) else float(v)


def _band(series: Series, i: int) -> tuple[float, float] | None:
    if not series.is_band or series.low is None or series.high is None:
        return None
    lo, hi = series.low[i], series.high[i]
    return None if lo is None or hi is None else (min(lo, hi), max(lo, hi))


def _overlap(sa: Series | None, i: int, sb: Series | None, j: int) -> bool | None:
    """Whether the quantile bands of ``sa`` at ``i`` and ``sb`` at ``j`` overlap; None without bands."""
    ba = _band(sa, i) if sa is not None else None
    bb = _band(sb, j) if sb is not None else None
    return None if ba is None or bb is None else ba[0] <= bb[1] and bb[0] <= ba[1]


def _xs(result: ResultFile) -> list[float | None]:
    try:
        return list(result.x_values())
    except ValueError:
        return [None] * len(result.x)


def _selected(panels: Sequence[Panel], on: str | None) -> list[Panel]:
    return [p for p in panels if p.matches(on)]


def _rows(panel: Panel, methods: Sequence[str], x_min: float | None = None):
    """``(i, label, [value per method])`` at each x where every method has a value."""
    r = panel.result
    if any(m not in r.series for m in methods):
        return
    for i, (label, x) in enumerate(zip(r.x, _xs(r))):
        if x_min is not None and (x is None or x < x_min):
            continue
        vals = [_at(r.series[m], i) for m in methods]
        if all(v is not None for v in vals):
            yield i, label, vals


@dataclass(frozen=True)
class Order:
    """``a <rel> b`` at every x (``rel``: ``"<"``, ``"<="``, ``">"``, ``">="``), optionally from ``x_min`` up.

    ``ties="skip"`` leaves out the points where the two are equal (two recalls of 1 show no order).
    """

    a: str
    rel: str
    b: str
    on: str | None = None
    x_min: float | None = None
    ties: str = "compare"

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        if self.rel not in _RELATIONS:
            raise ValueError(f"rel must be one of {sorted(_RELATIONS)}, got {self.rel!r}")
        out = []
        for panel in _selected(panels, self.on):
            sa, sb = (panel.result.series.get(m) for m in (self.a, self.b))
            for i, label, (va, vb) in _rows(panel, (self.a, self.b), self.x_min):
                if self.ties == "skip" and va == vb:
                    continue
                held = _RELATIONS[self.rel](va, vb)
                spread = None if held else _overlap(sa, i, sb, i)
                out.append(Point(panel.label, label, held, f"{self.a} {fmt(va)}, {self.b} {fmt(vb)}", spread))
        return out


@dataclass(frozen=True)
class Rises:
    """Every method's value rises (``falls=True``: falls) from each x to the next; equal counts as held."""

    methods: tuple[str, ...] | None = None
    falls: bool = False
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in _selected(panels, self.on):
            r = panel.result
            for m in self.methods or tuple(r.series):
                if m not in r.series:
                    continue
                s = r.series[m]
                vals = [(i, label, _at(s, i)) for i, label in enumerate(r.x)]
                vals = [t for t in vals if t[2] is not None]
                for (i0, l0, v0), (i1, l1, v1) in zip(vals, vals[1:]):
                    held = v1 <= v0 if self.falls else v1 >= v0
                    out.append(Point(panel.label, f"{m}: {l0} to {l1}", held, f"{fmt(v0)} to {fmt(v1)}",
                                     None if held else _overlap(s, i0, s, i1)))
        return out


@dataclass(frozen=True)
class Close:
    """The methods are within ``max_spread`` of each other at every x: ``(max - min) / min <= max_spread``."""

    methods: tuple[str, ...]
    max_spread: float
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in _selected(panels, self.on):
            for _, label, vals in _rows(panel, self.methods):
                lo, hi = min(vals), max(vals)
                spread = (hi - lo) / abs(lo) if lo != 0 else math.inf
                out.append(Point(panel.label, label, spread <= self.max_spread, f"spread {spread:.1%}"))
        return out


@dataclass(frozen=True)
class AtLeastRatio:
    """``a >= factor * min(others)`` at every x (for an error: ``a`` far behind the best of the others)."""

    a: str
    others: tuple[str, ...]
    factor: float
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in _selected(panels, self.on):
            for _, label, vals in _rows(panel, (self.a, *self.others)):
                best = min(vals[1:])
                ratio = vals[0] / best if best > 0 else math.inf
                out.append(Point(panel.label, label, ratio >= self.factor, f"{self.a} {ratio:.3g} x the best other"))
        return out


@dataclass(frozen=True)
class AtLeastGap:
    """``a - b >= gap`` at every x (on a log10 axis: ``a`` at least ``10**gap`` times ``b``)."""

    a: str
    b: str
    gap: float
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in _selected(panels, self.on):
            for _, label, (va, vb) in _rows(panel, (self.a, self.b)):
                out.append(Point(panel.label, label, va - vb >= self.gap, f"{self.a} - {self.b} = {fmt(va - vb)}"))
        return out


@dataclass(frozen=True)
class RelClose:
    """``|a - b| <= within * |b|`` at every x (``a`` close to ``b``)."""

    a: str
    b: str
    within: float
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in _selected(panels, self.on):
            for _, label, (va, vb) in _rows(panel, (self.a, self.b)):
                rel = abs(va - vb) / abs(vb) if vb != 0 else math.inf
                out.append(Point(panel.label, label, rel <= self.within,
                                 f"{self.a} {fmt(va)}, {self.b} {fmt(vb)} ({rel:.1%} apart)"))
        return out


@dataclass(frozen=True)
class Extreme:
    """``method`` is the worst (``worst=False``: the best) of ``among`` at every x from ``x_min`` up."""

    method: str
    among: tuple[str, ...]
    worst: bool = True
    lower_is_better: bool = True
    x_min: float | None = None
    on: str | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        others = tuple(m for m in self.among if m != self.method)
        out = []
        for panel in _selected(panels, self.on):
            series = panel.result.series
            for i, label, vals in _rows(panel, (self.method, *others), self.x_min):
                v, rest = vals[0], vals[1:]
                want_high = self.worst == self.lower_is_better  # the worst error, or the best score
                beaten = [m for m, o in zip(others, rest) if (o > v if want_high else o < v)]
                detail = ", ".join(f"{m} {fmt(x)}" for m, x in zip((self.method, *others), vals))
                spread = None
                if beaten:
                    overlaps = [_overlap(series[self.method], i, series[m], i) for m in beaten]
                    spread = None if None in overlaps else all(overlaps)
                out.append(Point(panel.label, label, not beaten, detail, spread))
        return out


@dataclass(frozen=True)
class LessGainAtHigherDim:
    """At a higher data dimension each added bit reduces the error by less: for every pair of
    neighbouring dimensions (the panels' context ``key``), every method and every step between
    rates, the relative reduction per bit, ``(ln v_i - ln v_(i+1)) / (x_(i+1) - x_i)``, is smaller
    at the higher dimension."""

    methods: tuple[str, ...]
    key: str = "Data Dimension"

    def _by_dim(self, panels: Sequence[Panel]) -> list[tuple[float, Panel]]:
        out = []
        for panel in panels:
            value = panel.result.context.get(self.key)
            try:
                out.append((float(value), panel))
            except (TypeError, ValueError):
                continue
        return sorted(out, key=lambda t: t[0])

    @staticmethod
    def _gains(panel: Panel, method: str) -> dict[str, float]:
        r = panel.result
        xs = _xs(r)
        s = r.series.get(method)
        if s is None:
            return {}
        out = {}
        for i in range(len(r.x) - 1):
            v0, v1, x0, x1 = _at(s, i), _at(s, i + 1), xs[i], xs[i + 1]
            if None in (v0, v1, x0, x1) or v0 <= 0 or v1 <= 0 or x1 == x0:
                continue
            out[f"{r.x[i]} to {r.x[i + 1]}"] = (math.log(v0) - math.log(v1)) / (x1 - x0)
        return out

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        dims = self._by_dim(panels)
        out = []
        for (d0, p0), (d1, p1) in zip(dims, dims[1:]):
            for m in self.methods:
                g0, g1 = self._gains(p0, m), self._gains(p1, m)
                for step in (s for s in g0 if s in g1):
                    out.append(Point(f"D {d0:g} and {d1:g}", f"{m}: {step}", g1[step] < g0[step],
                                     f"{g0[step]:.4f} and {g1[step]:.4f} per bit"))
        return out


@dataclass(frozen=True)
class Exact:
    """Ours equals the paper's at every matched point to ``tol`` (absolute). Needs both sides."""

    tol: float
    compare = True

    def points_pair(self, pairs: Sequence[tuple[Panel, Panel]]) -> list[Point]:
        out = []
        for ours, paper in pairs:
            ref_index = {label: i for i, label in enumerate(paper.result.x)}
            for m, s in ours.result.series.items():
                ps = paper.result.series.get(m)
                if ps is None:
                    continue
                for i, label in enumerate(ours.result.x):
                    j = ref_index.get(label)
                    vo, vp = _at(s, i), None if j is None else _at(ps, j)
                    if vo is None or vp is None:
                        continue
                    out.append(Point(ours.label, f"{m}: {label}", abs(vo - vp) <= self.tol,
                                     f"|ours - paper| = {abs(vo - vp):.2g}"))
        return out
