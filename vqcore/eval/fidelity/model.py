"""The typed results of the fidelity report: panels, checked points, outcomes, ratios, deviations.

Every object here is a frozen dataclass of plain values (strings, numbers, tuples), so a report
can be compared, rendered (:mod:`.render`) or turned into a table without touching the files again.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...io.results import ResultFile

__all__ = [
    "Anomaly",
    "Deviation",
    "FindingResult",
    "Panel",
    "Point",
    "RatioStats",
    "SideOutcome",
    "stats",
]


@dataclass(frozen=True)
class Panel:
    """One result file of a figure, as the checks see it.

    Attributes:
        label: a readable name made from the file (its metric and context, ``"MSE (Data Dimension 256)"``).
        result: the file's content.
        tags: what a finding may select the panel by: the metric and every context ``"key=value"``.
        rel: the file's path relative to the results folder (``"icassp2023/Figure 3/..."``).
    """

    label: str
    result: ResultFile
    tags: frozenset[str] = frozenset()
    rel: str = ""

    def matches(self, on: str | None) -> bool:
        """True when ``on`` is None or one of :attr:`tags`."""
        return on is None or on in self.tags


@dataclass(frozen=True)
class Point:
    """One point at which a finding was checked.

    Attributes:
        panel: the :attr:`Panel.label` it belongs to.
        x: the x label (``"12 bits"``), or what the point is about (``"f/v"``, ``"seed 1"``).
        held: whether the finding holds there.
        detail: the measured values, as text (``"AVQ 5.01 < RVQ 6.22"``).
        within_spread: for a comparison of two banded curves that fails: True when their quantile
            bands overlap there (the difference is inside the seeds' spread); None when unknown.
    """

    panel: str
    x: str
    held: bool
    detail: str = ""
    within_spread: bool | None = None


@dataclass(frozen=True)
class SideOutcome:
    """A finding checked on one side (ours or the paper's): its points and the verdict.

    ``require`` is ``"all"`` (the finding says "at every rate") or ``"most"`` (more than half).
    """

    points: tuple[Point, ...]
    require: str = "all"

    @property
    def n(self) -> int:
        """Points checked."""
        return len(self.points)

    @property
    def n_held(self) -> int:
        """Points where the finding holds."""
        return sum(p.held for p in self.points)

    @property
    def held(self) -> bool | None:
        """True when all points hold (more than half, for ``"most"``); None with no point."""
        if not self.points:
            return None
        return self.n_held == self.n if self.require == "all" else self.n_held * 2 > self.n

    @property
    def failed(self) -> tuple[Point, ...]:
        """The points where it does not hold."""
        return tuple(p for p in self.points if not p.held)

    def fraction(self) -> str:
        """``"n/m"``."""
        return f"{self.n_held}/{self.n}"


@dataclass(frozen=True)
class FindingResult:
    """One published finding, checked in our data and in the paper's.

    ``ours`` / ``paper`` are None where that side has no data (the Interspeech figures have no
    published files; a comparison with the paper has no "paper side").
    """

    key: str
    text: str
    source: str
    ours: SideOutcome | None
    paper: SideOutcome | None


@dataclass(frozen=True)
class RatioStats:
    """ours/paper over matched points (same method, same x label).

    ``curve`` is the method (or ``"all"`` for the figure); ``panel`` the panel label (``""`` for the
    figure). ``values`` holds every ratio, in panel, method and x order.
    """

    curve: str
    panel: str
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return _median(self.values)

    @property
    def min(self) -> float:
        return min(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        return max(self.values) if self.values else math.nan

    def within(self, band: tuple[float, float]) -> bool:
        """True when every ratio lies in ``[band[0], band[1]]`` (and there is at least one)."""
        return bool(self.values) and band[0] <= self.min and self.max <= band[1]


def _median(values: Sequence[float]) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else 0.5 * (s[mid - 1] + s[mid])


def stats(curve: str, panel: str, values: Sequence[float]) -> RatioStats:
    """A :class:`RatioStats` of the finite ``values``."""
    return RatioStats(curve, panel, tuple(float(v) for v in values if math.isfinite(v)))


@dataclass(frozen=True)
class Anomaly:
    """Something odd in a data set itself (``side`` ``"paper"`` or ``"ours"``).

    ``kind``: ``"duplicate series"``, ``"band excludes mean"`` or ``"finding contradicted"``.
    """

    figure: str
    side: str
    kind: str
    text: str


@dataclass(frozen=True)
class Deviation:
    """Where our reproduction differs from the paper, with its measured cause (None: not explained).

    ``kind``: ``"finding"`` (a published finding that fails in ours) or ``"ratio"`` (ours/paper
    outside the band). ``context`` says what is known but not measured (our data set, for example).
    """

    figure: str
    kind: str
    what: str
    cause: str | None = None
    context: str = ""
    points: tuple[str, ...] = field(default_factory=tuple)
