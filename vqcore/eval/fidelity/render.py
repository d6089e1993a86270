"""Markdown of the fidelity report: tables and bullet lists, for ``IPython.display.Markdown`` or glue.

Every number comes from the typed results (:mod:`.model`, :mod:`.report`); nothing is typed here.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .compare import RATIO_BAND
from .model import Anomaly, Deviation, FindingResult, RatioStats, SideOutcome

if TYPE_CHECKING:  # the report module imports this one
    from . import report
    from .report import FigureReport, SummaryRow

__all__ = ["anomalies_markdown", "deviations_markdown", "figure_markdown", "findings_markdown", "outcome_text",
           "points_markdown", "ratio_text", "ratios_markdown", "summary_cell", "summary_markdown"]

_MAX_POINTS = 6  # failed points listed per deviation; the rest are counted


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def outcome_text(outcome: SideOutcome | None) -> str:
    """``"held 8/8"``, ``"fails 5/8"``, ``"no points"`` or ``"n/a"`` (no data on that side)."""
    if outcome is None:
        return "n/a"
    if outcome.held is None:
        return "no points"
    return f"{'held' if outcome.held else 'fails'} {outcome.fraction()}"


def ratio_text(r: RatioStats | None) -> str:
    """``"0.472 (0.441 to 0.530)"``: median and range; ``"n/a"`` for None or no point."""
    if r is None or not r.values:
        return "n/a"
    return f"{r.median:.3g} ({r.min:.3g} to {r.max:.3g})"


def findings_markdown(report: FigureReport) -> str:
    """The table of a figure's findings: text, source, and held n/m in ours and in the paper's data."""
    return "\n".join(_findings_table(report))


def ratios_markdown(report: FigureReport) -> str:
    """The table of ours/paper per curve and for the figure, and the scale-free line."""
    return "\n".join(_ratio_table(report))


def _point_cell(outcome: SideOutcome | None, key: tuple[str, str]) -> str:
    if outcome is None:
        return ""
    for p in outcome.points:
        if (p.panel, p.x) == key:
            return f"{'yes' if p.held else '**no**'}: {_cell(p.detail)}"
    return ""


def points_markdown(finding: FindingResult) -> str:
    """Every point of one finding: where, and whether it holds (with the values) in ours and the paper's."""
    keys: list[tuple[str, str]] = []
    for outcome in (finding.ours, finding.paper):
        for p in outcome.points if outcome is not None else ():
            if (p.panel, p.x) not in keys:
                keys.append((p.panel, p.x))
    lines = [f"*{_cell(finding.text)}*", "", "| panel | point | ours | paper |", "|---|---|---|---|"]
    lines += [f"| {_cell(panel)} | {_cell(x)} | {_point_cell(finding.ours, (panel, x))} | "
              f"{_point_cell(finding.paper, (panel, x))} |" for panel, x in keys]
    return "\n".join(lines)


def _findings_table(report: FigureReport) -> list[str]:
    lines = ["| finding | source | ours | paper |", "|---|---|---|---|"]
    for f in report.findings:
        lines.append(f"| {_cell(f.text)} | {_cell(f.source)} | {outcome_text(f.ours)} | {outcome_text(f.paper)} |")
    return lines


def _ratio_table(report: FigureReport) -> list[str]:
    if not report.has_paper:
        return ["No published result file for this figure: only our data are checked."]
    lines = ["| panel | curve | points | ours/paper median | min | max |", "|---|---|---|---|---|---|"]
    for r in report.curves:
        lines.append(f"| {_cell(r.panel)} | {_cell(r.curve)} | {r.n} | {r.median:.3g} | {r.min:.3g} | {r.max:.3g} |")
    if report.ratio is not None and report.ratio.values:
        r = report.ratio
        lines.append(f"| **all** | | {r.n} | **{r.median:.3g}** | {r.min:.3g} | {r.max:.3g} |")
    if report.scale_free is not None and report.scale_free.values:
        lines += ["", f"Scale-free (each curve divided by its value at the lowest rate, or its change from it "
                  f"for a logarithmic metric), ours/paper past the lowest rate: {ratio_text(report.scale_free)}"
                  + (" (the data sets differ in scale)." if report.scales_differ else ".")]
    return lines


def anomalies_markdown(anomalies: Sequence[Anomaly]) -> str:
    """A bullet per anomaly (``"- paper, duplicate series: ..."``); a sentence when there is none."""
    if not anomalies:
        return "No anomaly found."
    return "\n".join(f"- **{a.side}**, {a.kind}: {_cell(a.text)}" for a in anomalies)


def _deviation_bullet(d: Deviation, with_figure: bool) -> str:
    head = f"**Figure {d.figure}**: " if with_figure else ""
    cause = d.cause if d.cause else "not explained"
    text = f"- {head}{d.what}. *Cause:* {cause}."
    if d.context:
        text += f" ({d.context})"
    if d.points:
        shown = "; ".join(d.points[:_MAX_POINTS])
        more = f"; and {len(d.points) - _MAX_POINTS} more" if len(d.points) > _MAX_POINTS else ""
        text += f" Fails at: {shown}{more}."
    return _cell(text)


def deviations_markdown(deviations: Sequence[Deviation], *, with_figure: bool = True) -> str:
    """A bullet per deviation: what differs, its measured cause (or "not explained"), where it fails."""
    if not deviations:
        return "No deviation: every finding holds in ours and every ratio is inside the band."
    return "\n".join(_deviation_bullet(d, with_figure) for d in deviations)


def figure_markdown(report: FigureReport) -> str:
    """The whole report of one figure: findings, ratios, the toy analysis, anomalies, deviations."""
    head = f"**Fidelity report, figure {report.figure}.** Findings held: ours {_held(report.held('ours'))}"
    head += (f", the paper's data {_held(report.held('paper'))}; ours/paper {ratio_text(report.ratio)}."
             if report.has_paper else " (no published data).")
    parts = [head,
             "", *_findings_table(report), "", *_ratio_table(report)]
    if report.toy is not None:
        parts += ["", report.toy.text]
    parts += ["", "**Anomalies.**", "", anomalies_markdown(report.anomalies),
              "", f"**Deviations** (a finding that fails in ours, or ours/paper outside {RATIO_BAND[0]:g} to "
              f"{RATIO_BAND[1]:g}).", "", deviations_markdown(report.deviations, with_figure=False)]
    return "\n".join(parts)


def _held(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]}" if pair[1] else "n/a"


def summary_cell(row: SummaryRow) -> str:
    """``"findings 3/3 (paper 3/3); ours/paper 0.47 (0.44 to 0.53)"``: one figure in a table cell."""
    text = f"findings {_held(row.ours)} (paper {_held(row.paper)}), points {_held(row.ours_points)}"
    text += f" (paper {_held(row.paper_points)})" if row.paper_points[1] else ""
    if row.ratio is not None and row.ratio.values:
        text += f"; ours/paper {ratio_text(row.ratio)}"
    else:
        text += "; no published data"
    return text


def summary_markdown(summary: report.Summary) -> str:
    """A table with one row per figure."""
    lines = ["| figure | findings held, ours | findings held, paper | points held, ours | points held, paper "
             "| ours/paper median (range) | scale-free ours/paper | deviations | anomalies |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.rows:
        lines.append(f"| {r.figure} | {_held(r.ours)} | {_held(r.paper)} | {_held(r.ours_points)} | "
                     f"{_held(r.paper_points)} | {ratio_text(r.ratio)} | {ratio_text(r.scale_free)} | "
                     f"{r.deviations} | {r.anomalies} |")
    return "\n".join(lines)
