"""The uncorrelated toy data: ours/paper per dimension and what it says about the paper's data scale.

A quantizer trained on data scaled by ``a`` learns codebooks scaled by ``a`` and has ``a**2`` times
the MSE at every rate, so when two runs differ only in the data's variance, ours/paper is one
constant per dimension: the ratio of the variances. :func:`toy_scale` measures it over every
matched point of our uncorrelated files (those whose ``meta["data"]["kind"]`` is
``"uncorrelated"``; Figure 2b and Figure 3's D = 64 hold the same points and count once), and
with our data's energy (``meta["data"]["test_energy"]``) gives the variance the paper's data
would need: :func:`toy_text` says it in words.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ...io.results import ResultFile
from .compare import matched_values
from .files import reference_file
from .model import RatioStats, stats

__all__ = ["ToyRow", "ToyScale", "toy_scale", "toy_text"]

#: implied total energies within this relative distance of each other count as "about the same"
SAME_ENERGY = 0.10


@dataclass(frozen=True)
class ToyRow:
    """One dimension of the uncorrelated toy data.

    Attributes:
        dim: the data dimension D.
        ratio: ours/paper over every matched point (methods x rates) at this D.
        our_variance: our data's variance per component (``test_energy / D``).
        figures: the figure ids whose files gave the points.
        keys: ``"method, x label"`` of each ratio, in the order of ``ratio.values``.
    """

    dim: int
    ratio: RatioStats
    our_variance: float
    figures: tuple[str, ...]
    keys: tuple[str, ...] = ()

    @property
    def farthest(self) -> str:
        """Which point (``"PVQ, 40 bits"``) has the ratio farthest from the median."""
        if not self.keys or not self.ratio.values:
            return ""
        med = self.ratio.median
        i = max(range(len(self.ratio.values)), key=lambda k: abs(self.ratio.values[k] / med - 1.0))
        return self.keys[i]

    @property
    def deviation(self) -> float:
        """How far from constant the ratio is, the largest ``|ratio / median - 1|``."""
        med = self.ratio.median
        return max(abs(v / med - 1.0) for v in self.ratio.values) if self.ratio.values else math.nan

    def method_deviation(self) -> dict[str, float]:
        """Per method, the largest ``|ratio / median - 1|`` over its points (the median of all methods)."""
        med = self.ratio.median
        out: dict[str, float] = {}
        for key, v in zip(self.keys, self.ratio.values):
            method = key.rsplit(", ", 1)[0]
            out[method] = max(out.get(method, 0.0), abs(v / med - 1.0))
        return out

    @property
    def paper_over_ours(self) -> float:
        """The implied variance ratio, paper over ours (the inverse of the median ratio)."""
        return 1.0 / self.ratio.median

    @property
    def implied_variance(self) -> float:
        """The paper's data's variance per component, if the ratio is only a scale."""
        return self.our_variance * self.paper_over_ours

    @property
    def implied_energy(self) -> float:
        """The paper's data's total energy ``E ||x||^2 = D * variance``, if the ratio is only a scale."""
        return self.dim * self.implied_variance


@dataclass(frozen=True)
class ToyScale:
    """:class:`ToyRow` per dimension, in increasing D, and the text :func:`toy_text` makes of them."""

    rows: tuple[ToyRow, ...]

    @property
    def text(self) -> str:
        return toy_text(self)

    def _repr_markdown_(self) -> str:
        return self.text


def _dim(result: ResultFile) -> int | None:
    data = result.meta.get("data") if isinstance(result.meta, Mapping) else None
    value = data.get("dim") if isinstance(data, Mapping) else result.context.get("Data Dimension")
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _energy(result: ResultFile) -> float | None:
    data = result.meta.get("data") if isinstance(result.meta, Mapping) else None
    value = data.get("test_energy") if isinstance(data, Mapping) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def toy_scale(ours: Mapping[str, Mapping[str, ResultFile]], reference_dir: str | os.PathLike | None) -> ToyScale | None:
    """The toy analysis from :func:`~.files.load_ours`'s grouping; None without an uncorrelated
    file of ours that has a published counterpart."""
    by_dim: dict[int, dict[tuple[str, str], float]] = {}
    energy: dict[int, list[float]] = {}
    figs: dict[int, list[str]] = {}
    for fid, files in ours.items():
        for rel, result in sorted(files.items()):
            data = result.meta.get("data") if isinstance(result.meta, Mapping) else None
            if not isinstance(data, Mapping) or data.get("kind") != "uncorrelated":
                continue
            dim, paper = _dim(result), reference_file(reference_dir, rel)
            if dim is None or paper is None:
                continue
            points = by_dim.setdefault(dim, {})
            for method, rows in matched_values(result, paper).items():
                for label, o, p in rows:
                    if p != 0:
                        points.setdefault((method, label), o / p)
            if (e := _energy(result)) is not None:
                energy.setdefault(dim, []).append(e / dim)
            if fid not in figs.setdefault(dim, []):
                figs[dim].append(fid)
    rows = tuple(ToyRow(d, stats("all", f"D = {d}", list(by_dim[d].values())),
                        sum(energy[d]) / len(energy[d]) if energy.get(d) else math.nan, tuple(figs[d]),
                        tuple(f"{m}, {x}" for m, x in by_dim[d]))
                 for d in sorted(by_dim) if by_dim[d])
    return ToyScale(rows) if rows else None


def toy_text(toy: ToyScale) -> str:
    """What the toy data's ratios say, in Markdown (every number from ``toy``)."""
    if not toy.rows:
        return "No uncorrelated toy data with a published counterpart."
    per_dim = "; ".join(
        f"D = {r.dim}: median {r.ratio.median:.3f} (range {r.ratio.min:.3f} to {r.ratio.max:.3f} over {r.ratio.n} "
        f"points; at most {r.deviation:.1%} from the median, at {r.farthest})" for r in toy.rows)
    inverse = ", ".join(f"{r.paper_over_ours:.2f}" for r in toy.rows)
    dims = ", ".join(str(r.dim) for r in toy.rows)
    worst = max(r.deviation for r in toy.rows)
    how = "within 5% of a constant" if worst <= 0.05 else f"close to a constant (within {worst:.1%})"
    lines = [
        f"On the uncorrelated toy data, ours/paper is {how} at each dimension: {per_dim}. Inverted, the "
        f"paper's MSE is {inverse} times ours at D = {dims}.",
        "",
        "By method, the farthest any point lies from its dimension's median: " + "; ".join(
            f"D = {r.dim}: " + ", ".join(f"{m} {d:.1%}" for m, d in r.method_deviation().items())
            for r in toy.rows if r.keys) + ".",
        "",
        "A quantizer trained on data scaled by *a* has *a*² times the MSE at every rate, so a constant ratio "
        "per dimension is what a difference in the data's variance alone would give. "
        + " ".join(f"At D = {r.dim} our data have variance {r.our_variance:.3g} per component, so the paper's "
                   f"would have about {r.implied_variance:.3g} (total energy E‖x‖² ≈ {r.implied_energy:.3g})."
                   if math.isfinite(r.our_variance) else
                   f"At D = {r.dim} our file does not record its data's energy (meta data.test_energy)."
                   for r in toy.rows),
    ]
    energies = [r.implied_energy for r in toy.rows if math.isfinite(r.implied_energy)]
    spread = (max(energies) - min(energies)) / min(energies) if energies else math.nan
    if len(energies) > 1 and spread <= SAME_ENERGY:
        lines += ["", f"The implied total energy is about the same at every dimension ({min(energies):.3g} to "
                  f"{max(energies):.3g}, {spread:.1%} apart) while the variance per component falls with D: the "
                  "paper's vectors look scaled to a fixed total energy rather than drawn with unit variance per "
                  "component. This is a scale, not a difference in the quantizers; the scale-free comparison "
                  "(each curve divided by its value at the lowest rate) removes it."]
    elif len(energies) > 1:
        lines += ["", f"The implied total energies differ by {spread:.1%} between dimensions, so no single rule "
                  "(unit variance, or fixed total energy) explains the paper's scale."]
    if worst > 0.05:
        far = max(toy.rows, key=lambda r: r.deviation)
        lines += ["", f"The ratio strays up to {worst:.1%} from its median (at {far.farthest}, D = {far.dim}), so a "
                  "scale does not explain every point: there the curves' shapes differ too."]
    return "\n".join(lines)
