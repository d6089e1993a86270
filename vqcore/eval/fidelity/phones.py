"""Checks of the Interspeech 2023 findings on our SFVQ files (the paper published no result files).

The files are histograms over the codebook index (x key ``"Index"``, one series per phone or
phone group, each summing to 1), one sentence's index over time (x key ``"Time"``, with the
phone segments in the file's ``"Phones"`` object) and the adjacent-index divergence (with its
``"Per seed"`` values). The direction of an SFVQ index is set by training (its first vertices
are sorted by norm), so "low indices" is read as "one end of the range".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...io.results import ResultFile
from .checks import fmt
from .model import Panel, Point

__all__ = ["AtOneEnd", "GroupsSeparate", "NeighbourPeaks", "OrderBeyondChance", "PerSeed", "SmoothWithinPhones",
           "mean_indices", "separation"]


def _histograms(result: ResultFile, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{name: shares over the index}`` for the names the file has (missing values as 0)."""
    out = {}
    for n in names:
        s = result.series.get(n)
        if s is not None:
            out[n] = np.array([0.0 if v is None else float(v) for v in s.central])
    return out


def mean_indices(result: ResultFile, names: Sequence[str]) -> dict[str, float]:
    """The mean codebook index of each named histogram (``sum_i i h_i / sum_i h_i``)."""
    out = {}
    for n, h in _histograms(result, names).items():
        if h.sum() > 0:
            out[n] = float((np.arange(h.size) * h).sum() / h.sum())
    return out


def separation(hists: dict[str, np.ndarray], first: Sequence[str], second: Sequence[str]) -> float:
    """``|mean of the second class's mean indices - the first's|`` divided by the index range."""
    size = next(iter(hists.values())).size
    idx = np.arange(size)

    def means(names: Sequence[str]) -> list[float]:
        return [float((idx * hists[n]).sum() / hists[n].sum()) for n in names if n in hists and hists[n].sum() > 0]

    a, b = means(first), means(second)
    if not a or not b:
        return math.nan
    return abs(float(np.mean(b)) - float(np.mean(a))) / size


@dataclass(frozen=True)
class GroupsSeparate:
    """The ``first`` groups lie on one side of the index range's middle, the ``second`` on the
    other: one point per group, held when its mean index is on its class's side (the side is the
    one its class's average mean index is on)."""

    first: tuple[str, ...]
    second: tuple[str, ...]

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            means = mean_indices(panel.result, self.first + self.second)
            a = [means[g] for g in self.first if g in means]
            b = [means[g] for g in self.second if g in means]
            if not a or not b:
                continue
            middle = (len(panel.result.x) - 1) / 2
            first_low = np.mean(a) < np.mean(b)
            for g in self.first + self.second:
                if g in means:
                    low = means[g] < middle
                    held = low == first_low if g in self.first else low != first_low
                    out.append(Point(panel.label, g, bool(held), f"mean index {means[g]:.1f} (middle {middle:g})"))
        return out


@dataclass(frozen=True)
class AtOneEnd:
    """``group``'s mean index lies in the outer ``fraction`` of the index range at either end."""

    group: str
    fraction: float = 0.25

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            means = mean_indices(panel.result, (self.group,))
            if self.group in means:
                size = len(panel.result.x)
                pos = means[self.group] / (size - 1)
                held = pos <= self.fraction or pos >= 1 - self.fraction
                out.append(Point(panel.label, self.group, held, f"mean index {means[self.group]:.1f} of 0..{size - 1}"))
        return out


def _peak(h: np.ndarray, width: int) -> int:
    kernel = np.ones(width) / width
    return int(np.argmax(np.convolve(h, kernel, mode="same")))


@dataclass(frozen=True)
class NeighbourPeaks:
    """Similar phones peak at neighbouring indices: for every pair within each of ``sets`` that the
    file has, the peaks (argmax of the histogram smoothed over ``width`` indices) are at most
    ``max_fraction`` of the index range apart."""

    sets: tuple[tuple[str, ...], ...]
    max_fraction: float = 0.125
    width: int = 5

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            hists = _histograms(panel.result, [p for s in self.sets for p in s])
            size = len(panel.result.x)
            for phones in self.sets:
                present = [p for p in phones if p in hists and hists[p].sum() > 0]
                for i, a in enumerate(present):
                    for b in present[i + 1:]:
                        pa, pb = _peak(hists[a], self.width), _peak(hists[b], self.width)
                        out.append(Point(panel.label, f"{a}/{b}", abs(pa - pb) <= self.max_fraction * size,
                                         f"peaks at {pa} and {pb}"))
        return out


@dataclass(frozen=True)
class OrderBeyondChance:
    """The separation of the ``first`` and ``second`` groups (:func:`separation`) against the same
    number after relabelling the indices by random permutations (``permutations`` of them, seeded):
    with ``expect_order`` held when it exceeds the ``1 - level`` quantile of the permuted values
    (an ordered codebook), without it held when it does not (an unordered one, the control)."""

    first: tuple[str, ...]
    second: tuple[str, ...]
    expect_order: bool = True
    permutations: int = 1000
    level: float = 0.05
    seed: int = 0

    def _null(self, hists: dict[str, np.ndarray]) -> np.ndarray:
        """The separation under each random relabelling of the indices: ``(permutations,)``."""
        names = [n for n in self.first + self.second if n in hists and hists[n].sum() > 0]
        shares = np.stack([hists[n] / hists[n].sum() for n in names])  # (groups, E)
        size = shares.shape[1]
        rng = np.random.default_rng(self.seed)
        # relabelling index i as perm[i] moves the mean index of a group to sum_i h_i perm[i]
        perms = np.stack([rng.permutation(size) for _ in range(self.permutations)]).astype(np.float64)
        means = shares @ perms.T  # (groups, permutations)
        is_first = np.array([n in self.first for n in names])
        if is_first.all() or not is_first.any():
            return np.full(self.permutations, np.nan)
        return np.abs(means[~is_first].mean(0) - means[is_first].mean(0)) / size

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            hists = _histograms(panel.result, self.first + self.second)
            if not hists:
                continue
            observed = separation(hists, self.first, self.second)
            null = self._null(hists)
            if np.isnan(observed) or np.isnan(null).all():
                continue
            threshold = float(np.quantile(null, 1 - self.level))
            beyond = observed > threshold
            out.append(Point(panel.label, "separation", bool(beyond == self.expect_order),
                             f"{observed:.3f} of the range; chance {1 - self.level:.0%} quantile {threshold:.3f}"))
        return out


def _seconds(label: str) -> float | None:
    try:
        return float(label.split()[0])
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class SmoothWithinPhones:
    """Within a phone, ``a``'s index moves less than ``b``'s: one point per phone segment with at
    least ``min_frames`` frames, held when the mean absolute index step between its consecutive
    frames is smaller for ``a`` (segments where both are equal are not counted)."""

    a: str = "SFVQ"
    b: str = "VQ"
    min_frames: int = 3

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            r = panel.result
            phones = r.extra.get("Phones")
            if not isinstance(phones, dict) or self.a not in r.series or self.b not in r.series:
                continue
            times = [_seconds(label) for label in r.x]
            for start, end, name in zip(phones.get("start_s", []), phones.get("end_s", []), phones.get("timit", [])):
                idx = [i for i, t in enumerate(times) if t is not None and start <= t < end]
                if len(idx) < self.min_frames:
                    continue
                steps = []
                for m in (self.a, self.b):
                    v = [r.series[m].central[i] for i in idx]
                    if any(x is None for x in v):
                        break
                    steps.append(float(np.mean(np.abs(np.diff(v)))))
                if len(steps) == 2 and steps[0] != steps[1]:
                    out.append(Point(panel.label, f"{name} at {start:.2f} s", steps[0] < steps[1],
                                     f"mean step {self.a} {steps[0]:.1f}, {self.b} {steps[1]:.1f}"))
        return out


@dataclass(frozen=True)
class PerSeed:
    """``a`` below ``b`` for every seed (the file's ``"Per seed"`` lists), or, with ``within``,
    ``|a - b| <= within * |b|`` (``a`` at ``b``)."""

    a: str
    b: str
    within: float | None = None

    def points(self, panels: Sequence[Panel]) -> list[Point]:
        out = []
        for panel in panels:
            per_seed = panel.result.extra.get("Per seed")
            if not isinstance(per_seed, dict) or self.a not in per_seed or self.b not in per_seed:
                continue
            seeds = per_seed.get("Seed", list(range(len(per_seed[self.a]))))
            for seed, va, vb in zip(seeds, per_seed[self.a], per_seed[self.b]):
                if self.within is None:
                    held, detail = va < vb, f"{self.a} {fmt(va)}, {self.b} {fmt(vb)}"
                else:
                    rel = abs(va - vb) / abs(vb) if vb else math.inf
                    held, detail = rel <= self.within, f"{self.a} {fmt(va)}, {self.b} {fmt(vb)} ({rel:.1%} apart)"
                out.append(Point(panel.label, f"seed {seed}", bool(held), detail))
        return out
