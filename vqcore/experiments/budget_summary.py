"""The budget study's summaries: one JSON file per family, recomputed from the result files.

:func:`summarize` reads every finished factor of a family (its folder
``<results_dir>/.budget/<family>/x<factor>/``) and gives, per factor: the budget and settings, the
measured seconds, our metrics per method and rate, and per figure the fidelity report's numbers
against the published files (ours/paper, scale-free ours/paper, findings held n of m for ours and
for the paper's data) with the :func:`distance` to the paper; and, between neighbouring factors,
how much our metrics move (:func:`movement`). :func:`write_summary` writes it atomically.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..eval.fidelity import figure_report
from ..eval.fidelity.model import RatioStats
from ..io import results
from ..io.tagged_json import read_tagged, write_tagged
from . import registry
from .budget_study import factor_dir, factor_label, factor_value, family, scaled_preset, summary_path
from .common import Preset

__all__ = ["DISTANCE_DEFINITION", "FORMAT", "MOVEMENT_DEFINITION", "BudgetCut", "budget_cuts", "distance",
           "factor_files", "files_settings", "made_by", "movement", "read_summary", "summarize", "value_ratios",
           "write_summary"]

FORMAT = "vqcore-budget-study/1"
DISTANCE_DEFINITION = (
    "median over the matched points of |ln r|, where r is ours/paper of the scale-free curves (each curve divided "
    "by its value at the lowest rate, so only the shape counts) for a family whose data differ in scale from the "
    "paper's (toy), and ours/paper at the same method and x for the others; 0 when the curves agree, about "
    "|r - 1| for r near 1")
MOVEMENT_DEFINITION = ("median over the methods and x of our files of |ln(value at the larger factor / value at "
                       "the smaller)| (positive values only): how much our metrics still move with compute")
#: the most x points of a file whose values the summary stores (the Interspeech histograms have 256)
MAX_STORED_POINTS = 64


def distance(ratios: Sequence[float]) -> float | None:
    """The distance to the paper of a set of ratios ours/paper: the median of ``|ln r|`` over the
    finite positive ``r`` (:data:`DISTANCE_DEFINITION`); None when there is none."""
    logs = sorted(abs(math.log(r)) for r in ratios if math.isfinite(r) and r > 0)
    if not logs:
        return None
    mid = len(logs) // 2
    return logs[mid] if len(logs) % 2 else 0.5 * (logs[mid - 1] + logs[mid])


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _stats(s: RatioStats | None) -> dict[str, Any] | None:
    if s is None or not s.values:
        return None
    return {"median": _finite(s.median), "min": _finite(s.min), "max": _finite(s.max), "n": s.n}


def _figure_entry(fid: str, folder: Path, reference_dir: str | os.PathLike | None, compare: str | None
                  ) -> dict[str, Any]:
    report = figure_report(fid, folder, reference_dir)
    on = report.scale_free if compare == "scale_free" else report.ratio
    return {
        "distance": distance(on.values) if compare is not None and on is not None else None,
        "distance_on": compare if report.has_paper else None,
        "ours_paper": _stats(report.ratio),
        "scale_free": _stats(report.scale_free),
        "findings_held": {"ours": list(report.held("ours")), "paper": list(report.held("paper"))},
        "points_held": {"ours": list(report.points("ours")), "paper": list(report.points("paper"))},
        "findings": {f.key: {"text": f.text,
                             "ours": None if f.ours is None else f.ours.held,
                             "paper": None if f.paper is None else f.paper.held,
                             "ours_points": None if f.ours is None else f.ours.fraction()}
                     for f in report.findings},
    }


def factor_files(folder: Path, figures: Sequence[str]) -> dict[str, results.ResultFile]:
    """Our result files under ``folder`` that belong to ``figures`` (by their ``meta["figure"]``, or
    by the registry's file names of the figure: the NSVQ paper's ids, e.g. ``nsvq3``, are not the
    figure numbers its files record); none when the folder does not exist (a factor not run yet)."""
    out: dict[str, results.ResultFile] = {}
    if not Path(folder).is_dir():
        return out
    chosen = [registry.figure(fid) for fid in figures]
    for rel, r in results.load_dir(folder).items():
        meta = r.meta if isinstance(r.meta, Mapping) else {}
        if any(rel in fig.files or (meta.get("figure") == fig.id and meta.get("paper", fig.paper) == fig.paper)
               for fig in chosen):
            out[rel] = r
    return out


def _metrics(files: Mapping[str, results.ResultFile]) -> dict[str, Any]:
    return {rel: {"metric": r.metric, "x_key": r.x_key, "x": list(r.x),
                  "series": {m: list(s.central) for m, s in r.series.items()}}
            for rel, r in files.items() if len(r.x) <= MAX_STORED_POINTS}


def value_ratios(before: results.ResultFile, after: results.ResultFile) -> list[float]:
    """``after / before`` at every method and x label both files hold where both values are positive."""
    index = {x: i for i, x in enumerate(before.x)}
    ratios = []
    for m, s in after.series.items():
        if m not in before.series:
            continue
        for j, x in enumerate(after.x):
            i = index.get(x)
            va, vb = (None, None) if i is None else (before.series[m].central[i], s.central[j])
            if va is not None and vb is not None and va > 0 and vb > 0:
                ratios.append(vb / va)
    return ratios


def movement(before: Mapping[str, results.ResultFile], after: Mapping[str, results.ResultFile]) -> dict[str, Any]:
    """Per file both hold, :data:`MOVEMENT_DEFINITION` between ``before`` and ``after`` (None without a point)."""
    return {rel: distance(value_ratios(before[rel], after[rel])) for rel in sorted(set(before) & set(after))}


def _finished_factors(results_dir: str | os.PathLike, name: str) -> list[Fraction]:
    """The factors whose folders exist, named as :func:`~.budget_study.factor_dir` names them."""
    root = factor_dir(results_dir, name, 1).parent
    found = []
    for path in root.glob("x*"):
        match = re.fullmatch(r"x(\d+(?:\.\d+)?)", path.name)
        value = Fraction(match.group(1)) if match else None
        if path.is_dir() and value and path.name == f"x{factor_label(value)}":
            found.append(value)
    return sorted(found)


def files_settings(files: Mapping[str, results.ResultFile]) -> dict[str, Any] | None:
    """The preset settings that made ``files`` (their ``meta["settings"]``), or None when a file
    records none or the files were made with different settings (a factor to run again)."""
    found = [f.meta.get("settings") if isinstance(f.meta, Mapping) else None for f in files.values()]
    if not found or any(s is None for s in found) or any(s != found[0] for s in found[1:]):
        return None
    return found[0]


def made_by(files: Mapping[str, results.ResultFile], preset: Preset) -> bool:
    """Whether ``files`` are what ``preset`` makes: every file names the preset (``meta["preset"]``)
    and records its settings (``meta["settings"]``): the whole ``preset.as_dict()`` (recognised by
    its ``name``), or the subset of fields some runners write there, each equal to the preset's.
    False when there are no files."""
    planned = {k: v for k, v in preset.as_dict().items() if k != "notes"}  # as_dict() is JSON-ready; notes: prose
    for r in files.values():
        meta = r.meta if isinstance(r.meta, Mapping) else {}
        recorded = meta.get("settings")
        if meta.get("preset") != preset.name:
            return False
        if not isinstance(recorded, Mapping):
            continue
        recorded = {k: v for k, v in recorded.items() if k != "notes"}
        whole = "name" in recorded  # a preset's as_dict(), not a runner's subset of it
        if recorded != planned if whole else any(recorded[k] != planned[k] for k in recorded if k in planned):
            return False
    return bool(files)


def summarize(results_dir: str | os.PathLike, family_name: str, reference_dir: str | os.PathLike | None,
              seconds: Mapping[Fraction, Mapping[str, float] | None] | None = None, *, base: str = "quick"
              ) -> dict[str, Any]:
    """The summary of ``family_name`` from its files: every factor folder that holds its result files.

    ``seconds`` gives the measured seconds of a factor (they are not in the files); a factor
    without them gets None. A factor's ``budget`` is the step counts its files were made with, and
    ``current`` says whether those files are what the ``base`` preset of today makes at that factor
    (False for files made before the preset changed: the study would run them again).
    """
    fam = family(family_name)
    seconds = dict(seconds or {})
    factors: dict[str, Any] = {}
    loaded: dict[Fraction, dict[str, results.ResultFile]] = {}
    for factor in _finished_factors(results_dir, fam.name):
        folder = factor_dir(results_dir, fam.name, factor)
        files = factor_files(folder, fam.figures)
        if not files:
            continue
        loaded[factor] = files
        preset = scaled_preset(fam.name, factor, base)
        made = files_settings(files)
        factors[f"x{factor_label(factor)}"] = {
            "factor": factor_value(factor), "preset": preset.name,
            "budget": {k: getattr(preset, k) if made is None or k not in made else made[k] for k in fam.budget},
            "current": made_by(files, preset), "settings": made, "seconds": seconds.get(factor),
            "figures": {fid: _figure_entry(fid, folder, reference_dir, fam.compare) for fid in fam.figures},
            "metrics": _metrics(files),
        }
    done = sorted(loaded)
    moves = {f"x{factor_label(a)}->x{factor_label(b)}": movement(loaded[a], loaded[b]) for a, b in zip(done, done[1:])}
    meta = {"format": FORMAT, "family": fam.name, "figures": list(fam.figures), "base": base,
            "budget_fields": list(fam.budget), "subset": json.loads(json.dumps(dict(fam.subset))), "seed": 0,
            "distance": DISTANCE_DEFINITION, "distance_on": fam.compare, "movement": MOVEMENT_DEFINITION,
            "seconds": "wall_seconds and cpu_seconds (this process) of the runner call that finished the factor",
            "reference_dir": None if reference_dir is None else Path(reference_dir).name}
    return {"meta": meta, "factors": factors, "movement": moves}


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """The stored summary at ``path`` ({} when there is none); a ValueError naming a malformed file."""
    return read_tagged(path, FORMAT, "budget study summary")


def write_summary(results_dir: str | os.PathLike, family_name: str, reference_dir: str | os.PathLike | None,
                  new_seconds: Mapping[Fraction, Mapping[str, float]], *, base: str = "quick") -> dict[str, Any]:
    """Recompute the summary of ``family_name`` (:func:`summarize`) with the stored seconds updated
    by ``new_seconds``, write it atomically to :func:`~.budget_study.summary_path` and return it."""
    path = summary_path(results_dir, family_name)
    stored = read_summary(path)
    seconds = {Fraction(k[1:]): v.get("seconds") for k, v in stored.get("factors", {}).items()}
    seconds.update(new_seconds)
    summary = summarize(results_dir, family_name, reference_dir, seconds, base=base)
    write_tagged(path, summary)
    return summary


@dataclass(frozen=True)
class BudgetCut:
    """What a family's figure gives at a smaller budget than the quick preset's (:func:`budget_cuts`).

    Attributes:
        family, figure: the family and the figure id.
        smaller: the smaller factor (``0.25``).
        findings_smaller, findings_quick: ``(held, checked)`` of the paper's findings in ours at each.
        moves_down: the largest movement (:data:`MOVEMENT_DEFINITION`) over the figure's files from the
            smaller factor to x1; None where a file has none.
        moves_up: the same from x1 to the next larger factor (None when none has run): what one
            budget step further still changes, the scale against which ``moves_down`` is read.
    """

    family: str
    figure: str
    smaller: float
    findings_smaller: tuple[int, int]
    findings_quick: tuple[int, int]
    moves_down: float | None
    moves_up: float | None

    def same_within(self, noise: float) -> bool:
        """Whether the smaller budget keeps the quick budget's findings and moves the metrics by under ``noise``."""
        return (self.findings_smaller == self.findings_quick and self.moves_down is not None
                and self.moves_down < noise)


def budget_cuts(summaries: Mapping[str, Mapping[str, Any]], smaller: float = 0.25) -> list[BudgetCut]:
    """Per family (name -> its :func:`summarize` output) and figure that ran at both ``smaller`` and x1:
    how much of the quick preset's result the budget below it still gives."""
    out = []
    for name, summary in summaries.items():
        entries = {float(e["factor"]): e for e in summary.get("factors", {}).values()}
        if smaller not in entries or 1.0 not in entries:
            continue
        larger = min((f for f in entries if f > 1), default=None)
        down = summary.get("movement", {}).get(f"x{factor_label(Fraction(smaller))}->x1", {})
        up = summary.get("movement", {}).get(f"x1->x{factor_label(Fraction(larger))}", {}) if larger else {}
        for fid, quick in entries[1.0]["figures"].items():
            low = entries[smaller]["figures"].get(fid)
            if low is None:
                continue
            files = [rel for rel in down if rel in registry.figure(fid).files]

            def worst(moves: Mapping[str, float | None]) -> float | None:
                values = [moves.get(rel) for rel in files]
                return None if not values or any(v is None for v in values) else max(values)

            out.append(BudgetCut(name, fid, smaller, tuple(low["findings_held"]["ours"]),
                                 tuple(quick["findings_held"]["ours"]), worst(down), worst(up) if up else None))
    return out
