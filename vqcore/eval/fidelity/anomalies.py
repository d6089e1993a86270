"""Anomalies of a data set itself, found automatically.

- :func:`duplicate_series`: two different keys of a file (two methods, or two fields of them)
  hold the same list in every entry, which a real measurement almost never gives.
- :func:`band_problems`: a band whose quantiles do not contain its mean.
- :func:`contradicted`: findings that the data set itself does not support.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

from ...io import results
from ...io.results import ResultFile
from .files import panel_of
from .model import Anomaly, FindingResult, Panel

__all__ = ["MIN_ENTRIES", "band_problems", "contradicted", "duplicate_series", "file_anomalies", "published_anomalies",
           "series_lists"]

#: lists shorter than this are not compared (two equal entries are no evidence)
MIN_ENTRIES = 3


def series_lists(result: ResultFile) -> dict[str, list]:
    """Every list of a file under the key it has in the file (``"Quantile High (PVQ proposed)"``)."""
    out: dict[str, list] = {}
    for method, s in result.series.items():
        if s.is_band:
            for prefix, values in (("Mean", s.mean), ("Quantile Low", s.low), ("Quantile High", s.high)):
                if values is not None:
                    out[f"{prefix} ({method})"] = list(values)
        else:
            out[method] = list(s.values or [])
    return out


def _method_of(key: str) -> str:
    return key.split(" (", 1)[1][:-1] if key.endswith(")") and " (" in key else key


def duplicate_series(panel: Panel, figure: str, side: str) -> list[Anomaly]:
    """Keys of different methods whose lists are equal in every entry (at least :data:`MIN_ENTRIES`)."""
    lists = series_lists(panel.result)
    out = []
    for (k1, v1), (k2, v2) in itertools.combinations(lists.items(), 2):
        if _method_of(k1) == _method_of(k2) or len(v1) < MIN_ENTRIES or v1 != v2 or all(v is None for v in v1):
            continue
        out.append(Anomaly(figure, side, "duplicate series",
                           f"{panel.label}: \"{k2}\" equals \"{k1}\" in all {len(v1)} entries"))
    return out


def band_problems(panel: Panel, figure: str, side: str) -> list[Anomaly]:
    """Bands whose quantile low is above the mean or quantile high below it at some x."""
    out = []
    r = panel.result
    for method, s in r.series.items():
        if not s.is_band or s.low is None or s.high is None:
            continue
        bad = [r.x[i] for i, (m, lo, hi) in enumerate(zip(s.mean, s.low, s.high))
               if None not in (m, lo, hi) and not lo <= m <= hi]
        if bad:
            out.append(Anomaly(figure, side, "band excludes mean",
                               f"{panel.label}: the quantile band of {method} does not contain its mean at "
                               f"{len(bad)} of {len(r.x)} points ({', '.join(bad)})"))
    return out


def file_anomalies(panels: Sequence[Panel], figure: str, side: str) -> list[Anomaly]:
    """:func:`duplicate_series` and :func:`band_problems` of every panel."""
    out: list[Anomaly] = []
    for panel in panels:
        out += duplicate_series(panel, figure, side) + band_problems(panel, figure, side)
    return out


def contradicted(results: Sequence[FindingResult], figure: str) -> list[Anomaly]:
    """The findings that the paper's own data do not support (held at n of m points)."""
    out = []
    for f in results:
        if f.paper is not None and f.paper.held is False:
            where = ", ".join(f"{p.x}" + (f" ({p.panel})" if p.panel else "") for p in f.paper.failed[:6])
            more = f" and {len(f.paper.failed) - 6} more" if len(f.paper.failed) > 6 else ""
            out.append(Anomaly(figure, "paper", "finding contradicted",
                               f"{f.text}: the paper's data hold it at {f.paper.fraction()} points; "
                               f"not at {where}{more}"))
    return out


def published_anomalies(reference_dir: str | os.PathLike) -> list[Anomaly]:
    """:func:`file_anomalies` of every published file under ``reference_dir`` (both papers, the NSVQ
    paper's too); an anomaly's ``figure`` is the file's path relative to that folder."""
    out: list[Anomaly] = []
    for rel, result in results.load_dir(reference_dir).items():
        out += file_anomalies([panel_of(result, rel)], rel, "paper")
    return out
