"""The fidelity report: how close our reproduction is to each published figure, computed.

For every figure of the registry, from our result files and the authors' published ones:

- each published finding (:mod:`.catalogue`), a small declarative check (:mod:`.checks`,
  :mod:`.phones`), checked in our data and in the paper's, held at n of m points;
- ours/paper at every matched point (same method, same x), as a median and a range, per curve
  and per figure, and the same for scale-free curves (:mod:`.compare`);
- the toy-data analysis: what the near-constant ours/paper says about the paper's data scale
  (:mod:`.toy`);
- anomalies of the published data itself (:mod:`.anomalies`);
- the deviations, each with its measured cause or "not explained".

Entry points: :func:`~.report.figure_report` and :func:`~.report.summary` (typed results, :mod:`.model`), rendered
to Markdown by :mod:`.render` (each result also has ``to_markdown()`` and shows itself as Markdown
in a notebook). Plots of the scale-free curves are in :mod:`vqcore.plotting.fidelity`.
"""
from .catalogue import FIGURE_IDS, FINDINGS, Finding, findings
from .compare import (RATIO_BAND, gain_ratio, matched_ratios, per_bit_change, point_ratio, scale_free,
                      scale_free_mode)
from .files import FigureData, figure_data, load_ours
from .model import Anomaly, Deviation, FindingResult, Panel, Point, RatioStats, SideOutcome
from .render import (anomalies_markdown, deviations_markdown, figure_markdown, findings_markdown, points_markdown,
                     ratios_markdown, summary_markdown)
from .report import FigureReport, Summary, SummaryRow, deviations, figure_report, figure_reports, summary
from .toy import ToyRow, ToyScale, toy_scale, toy_text

__all__ = [
    "FIGURE_IDS", "FINDINGS", "RATIO_BAND", "Anomaly", "Deviation", "FigureData", "FigureReport", "Finding",
    "FindingResult", "Panel", "Point", "RatioStats", "SideOutcome", "Summary", "SummaryRow", "ToyRow", "ToyScale",
    "anomalies_markdown", "deviations", "deviations_markdown", "figure_data", "figure_markdown", "figure_report",
    "figure_reports", "findings", "findings_markdown", "gain_ratio", "load_ours", "matched_ratios", "per_bit_change",
    "point_ratio", "points_markdown", "ratios_markdown", "scale_free", "scale_free_mode", "summary", "summary_markdown",
    "toy_scale", "toy_text",
]
