"""The entry points: :func:`figure_report` for one figure, :func:`summary` for all, :func:`deviations`.

A report is computed from the files each time (a few dozen small JSON files): our result files
under ``results_dir`` (found by the figure their ``meta`` names) and the published ones under
``reference_dir`` (the same relative path; the whole ``reference/`` folder or one paper's).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...io.results import ResultFile
from . import render
from .anomalies import contradicted, file_anomalies
from .catalogue import FIGURE_IDS, PANEL_METRICS, findings
from .compare import RATIO_BAND, matched_ratios, scale_free_ratios
from .files import FigureData, figure_data, load_ours
from .model import Anomaly, Deviation, FindingResult, Panel, RatioStats, stats
from .toy import ToyScale, toy_scale

__all__ = ["FigureReport", "Summary", "SummaryRow", "deviations", "figure_report", "figure_reports", "summary"]


@dataclass(frozen=True)
class FigureReport:
    """Everything the report says about one figure.

    Attributes:
        figure: the figure id (``"2a"``).
        findings: every published finding, checked in ours and in the paper's data.
        curves: ours/paper per panel and method (empty without published data).
        ratio: ours/paper over every matched point of the figure; None without published data.
        scale_free: ours/paper of the scale-free curves (:func:`~.compare.scale_free_ratios`).
        anomalies: what is odd in the published data (and in ours).
        deviations: where ours differs from the paper, with the measured cause where known.
        toy: the toy-data analysis, for the figures on uncorrelated toy data.
        panels: the labels of our panels, and ``has_paper``: whether any published file matched.
    """

    figure: str
    findings: tuple[FindingResult, ...]
    curves: tuple[RatioStats, ...]
    ratio: RatioStats | None
    scale_free: RatioStats | None
    anomalies: tuple[Anomaly, ...]
    deviations: tuple[Deviation, ...]
    toy: ToyScale | None
    panels: tuple[str, ...]
    has_paper: bool

    @property
    def scales_differ(self) -> bool:
        """True when the median ours/paper lies outside :data:`~.compare.RATIO_BAND`."""
        return self.ratio is not None and bool(self.ratio.values) and not (
            RATIO_BAND[0] <= self.ratio.median <= RATIO_BAND[1])

    def held(self, side: str) -> tuple[int, int]:
        """``(findings held, findings checked)`` on ``side`` (``"ours"`` or ``"paper"``)."""
        outcomes = [getattr(f, side) for f in self.findings]
        verdicts = [o.held for o in outcomes if o is not None and o.held is not None]
        return sum(verdicts), len(verdicts)

    def points(self, side: str) -> tuple[int, int]:
        """``(points held, points checked)`` over every finding on ``side``."""
        outcomes = [o for o in (getattr(f, side) for f in self.findings) if o is not None]
        return sum(o.n_held for o in outcomes), sum(o.n for o in outcomes)

    def to_markdown(self) -> str:
        """The report as Markdown (:func:`~.render.figure_markdown`)."""
        return render.figure_markdown(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


@dataclass(frozen=True)
class SummaryRow:
    """One figure in :func:`summary`: findings held and checked (``ours``, ``paper``), their points
    held and checked (``ours_points``, ``paper_points``), ours/paper and its scale-free form (None:
    no published data), and how many deviations and anomalies the figure's report lists."""

    figure: str
    ours: tuple[int, int]
    paper: tuple[int, int]
    ours_points: tuple[int, int]
    paper_points: tuple[int, int]
    ratio: RatioStats | None
    scale_free: RatioStats | None
    deviations: int
    anomalies: int

    def cell(self) -> str:
        """The figure's numbers in one short Markdown cell (the landing page's table)."""
        return render.summary_cell(self)


@dataclass(frozen=True)
class Summary:
    """One :class:`SummaryRow` per figure, in the papers' order."""

    rows: tuple[SummaryRow, ...]

    def row(self, figure_id: str) -> SummaryRow:
        """The row of ``figure_id``; ValueError naming it when there is none."""
        for r in self.rows:
            if r.figure == figure_id:
                return r
        raise ValueError(f"figure_id: no row for {figure_id!r}")

    def to_markdown(self) -> str:
        return render.summary_markdown(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def _figure_id(figure_id: str) -> str:
    fid = str(figure_id).strip()
    return fid[len("Figure "):].strip() if fid.startswith("Figure ") else fid


def _data_context(panels: Sequence[Panel]) -> str:
    """What our files say about their data and their bands (``meta["data"]``, ``meta["over"]``)."""
    parts = []
    for p in panels[:1]:
        meta = p.result.meta if isinstance(p.result.meta, Mapping) else {}
        data = meta.get("data")
        if isinstance(data, Mapping):
            for key in ("name", "source", "construction", "kind"):
                if isinstance(data.get(key), str):
                    parts.append(f"our data: {data[key]}")
                    break
        if isinstance(meta.get("over"), str):
            parts.append(f"our bands are over {meta['over']}")
    return "; ".join(parts)


def _finding_cause(f: FindingResult) -> str | None:
    """The measured cause of a finding's failed points in ours, or None."""
    failed = f.ours.failed
    paper_failed = {(p.panel, p.x) for p in f.paper.failed} if f.paper is not None else set()
    shared = [p for p in failed if (p.panel, p.x) in paper_failed]
    spread = [p for p in failed if p.within_spread and (p.panel, p.x) not in paper_failed]
    causes = []
    n = len(failed)
    if shared:
        where = "every one of our failed points" if len(shared) == n else f"{len(shared)} of our {n} failed points"
        causes.append(f"the paper's own data fail it too at {where}")
    if spread:
        where = "every failed point" if len(spread) == n else f"{len(spread)} of the {n} failed points"
        causes.append(f"within the spread of our results (the two quantile bands overlap) at {where}")
    if not causes:
        return None
    if len(shared) + len(spread) < len(failed):
        causes.append("the rest not explained")
    return "; ".join(causes)


def _finding_deviation(figure: str, f: FindingResult, context: str) -> Deviation:
    what = f"{f.text}: ours hold it at {f.ours.fraction()} points"
    if f.paper is not None and f.paper.held is not None:
        what += f", the paper's data at {f.paper.fraction()}"
    points = tuple(f"{p.x} ({p.panel}): {p.detail}" for p in f.ours.failed)
    return Deviation(figure, "finding", what, _finding_cause(f), context, points)


def _ratio_deviation(figure: str, ratio: RatioStats, free: RatioStats | None, toy: ToyScale | None,
                     context: str) -> Deviation:
    where = f" ({ratio.panel})" if ratio.panel else ""
    what = (f"ours/paper{where} median {ratio.median:.3g} (range {ratio.min:.3g} to {ratio.max:.3g}), outside "
            f"{RATIO_BAND[0]:g} to {RATIO_BAND[1]:g}")
    causes = []
    rows = [r for r in (toy.rows if toy is not None else ())
            if figure in r.figures and (not ratio.panel or re.search(rf"\b{r.dim}\b", ratio.panel))]
    if rows:
        causes.append("the data's scale: on the uncorrelated toy data ours/paper is "
                      + ", ".join(f"{r.ratio.median:.3g} at D = {r.dim} (every point within {r.deviation:.1%} of it)"
                                  for r in rows)
                      + f", the paper's data having about {', '.join(f'{r.paper_over_ours:.3g}' for r in rows)} "
                        "times our variance (the toy analysis)")
    if free is not None and free.values:
        agree = RATIO_BAND[0] <= free.median <= RATIO_BAND[1]
        text = (f"the scale-free curves (divided by their value at the lowest rate) give ours/paper median "
                f"{free.median:.3g} (range {free.min:.3g} to {free.max:.3g})")
        if agree:
            causes.append(f"a scale: {text}, inside the band")
        else:
            what += f"; {text}, outside it too"
    return Deviation(figure, "ratio", what, "; ".join(causes) or None, context)


def _panel_ratios(curves: Sequence[RatioStats],
                  pairs: Sequence[tuple[Panel, Panel]]) -> list[tuple[RatioStats, RatioStats]]:
    """Per panel: ours/paper over its curves, and its scale-free ours/paper."""
    out = []
    for ours, paper in pairs:
        values = [v for c in curves if c.panel == ours.label for v in c.values]
        out.append((stats("all", ours.label, values), scale_free_ratios([(ours, paper)])))
    return out


def _report(figure: str, data: FigureData, toy: ToyScale | None) -> FigureReport:
    results = tuple(f.evaluate(data) for f in findings(figure))
    pairs = data.pairs()
    curves, pooled = matched_ratios(pairs) if pairs else ([], None)
    free = scale_free_ratios(pairs) if pairs else None
    toy_here = toy if toy is not None and any(figure in r.figures for r in toy.rows) else None
    anomalies = tuple(file_anomalies(data.paper, figure, "paper") + contradicted(results, figure)
                      + file_anomalies(data.ours, figure, "ours"))
    context = _data_context(data.ours)
    devs = [_finding_deviation(figure, f, context) for f in results if f.ours is not None and f.ours.held is False]
    panels = _panel_ratios(curves, pairs) if len(pairs) > 1 else [(pooled, free)] if pooled is not None else []
    for ratio, panel_free in panels:
        if ratio.values and not RATIO_BAND[0] <= ratio.median <= RATIO_BAND[1]:
            devs.append(_ratio_deviation(figure, ratio, panel_free, toy_here, context))
    return FigureReport(figure, results, tuple(curves), pooled, free, anomalies, tuple(devs), toy_here,
                        tuple(p.label for p in data.ours), bool(pairs))


def _load(results_dir: str | os.PathLike) -> dict[str, dict[str, ResultFile]]:
    return load_ours(results_dir)


def figure_report(figure_id: str, results_dir: str | os.PathLike,
                  reference_dir: str | os.PathLike | None) -> FigureReport:
    """The :class:`FigureReport` of ``figure_id`` (``"2a"`` or ``"Figure 2a"``) from our results
    under ``results_dir`` and the published files under ``reference_dir`` (None: ours only)."""
    fid = _figure_id(figure_id)
    findings(fid)  # ValueError for an unknown figure, before any file is read
    ours = _load(results_dir)
    return _report(fid, figure_data(fid, ours, reference_dir, PANEL_METRICS[fid]), toy_scale(ours, reference_dir))


def figure_reports(results_dir: str | os.PathLike,
                   reference_dir: str | os.PathLike | None) -> tuple[FigureReport, ...]:
    """:func:`figure_report` of every figure, in the papers' order (the files read once)."""
    ours = _load(results_dir)
    toy = toy_scale(ours, reference_dir)
    return tuple(_report(fid, figure_data(fid, ours, reference_dir, PANEL_METRICS[fid]), toy) for fid in FIGURE_IDS)


def summary(results_dir: str | os.PathLike, reference_dir: str | os.PathLike | None) -> Summary:
    """One :class:`SummaryRow` per figure the report knows (the registry's figures), in order."""
    rows = tuple(SummaryRow(r.figure, r.held("ours"), r.held("paper"), r.points("ours"), r.points("paper"), r.ratio,
                            r.scale_free, len(r.deviations), len(r.anomalies))
                 for r in figure_reports(results_dir, reference_dir))
    return Summary(rows)


def deviations(results_dir: str | os.PathLike, reference_dir: str | os.PathLike | None) -> tuple[Deviation, ...]:
    """Every :class:`~.model.Deviation` of every figure, in the papers' order."""
    return tuple(d for r in figure_reports(results_dir, reference_dir) for d in r.deviations)
