"""A re-run against the results of record: what it cost per figure, and how far its numbers moved.

Run the preset again into another folder (``vqcore reproduce --preset quick --results-dir RERUN``),
then :func:`compare` reads both folders and gives, per figure whose result files the re-run holds:

- its cost in both (:func:`vqcore.experiments.timing.figure_costs`: compute seconds, the trained runs);
- how far the re-run's numbers moved from the record's (:func:`moved`: the median and the largest
  ``|ln(rerun / record)|`` over every method and x of its files, positive values only);
- the papers' findings held by each (the fidelity report's n of m, ours only).

The same code on another machine gives slightly other numbers (other CPU kernels, other summation
orders), so a re-run tells how much of a result is the machine and what the preset costs there.
:func:`store` keeps it in the record's folder, atomically: the comparison, with the machine it was
made on, at ``<results_dir>/.rerun/<name>.json`` and the re-run's compared result files under
``<results_dir>/.rerun/<name>/`` (a hidden folder, like the budget study's, so no figure page reads
them as results of record). :func:`markdown` makes the reproduction page's table.
"""
from __future__ import annotations

import math
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..eval.fidelity import figure_reports
from ..io import results
from ..io.atomic import atomic_write_text
from ..io.tagged_json import read_tagged, write_tagged
from . import registry, timing
from .budget_summary import distance, value_ratios

__all__ = ["FORMAT", "MOVED_DEFINITION", "RERUN_FOLDER", "call_span", "compare", "complete_figures", "machine",
           "markdown", "moved", "read", "rerun_path", "store", "write"]

FORMAT = "vqcore-rerun-check/1"
#: the folder under the results folder that holds the comparisons (hidden: see the module docstring)
RERUN_FOLDER = ".rerun"
MOVED_DEFINITION = ("median and largest |ln(rerun / record)| over every method and x of the figure's files "
                    "(positive values only); 0.01 is a 1 % change")


def rerun_path(results_dir: str | os.PathLike, name: str) -> Path:
    """``<results_dir>/.rerun/<name>.json``; a ValueError names ``name`` when it is not a plain file name."""
    if not isinstance(name, str) or not name or Path(name).name != name or name.startswith("."):
        raise ValueError(f"name must be a plain file name such as 'quick', got {name!r}")
    return Path(results_dir) / RERUN_FOLDER / f"{name}.json"


def complete_figures(results_dir: str | os.PathLike) -> list[str]:
    """The registry's figures all of whose result files are under ``results_dir``, in the papers' order."""
    root = Path(results_dir)
    return [f.id for f in registry.FIGURES if all((root / rel).is_file() for rel in f.files)]


def moved(record: Mapping[str, results.ResultFile], rerun: Mapping[str, results.ResultFile]) -> dict[str, Any]:
    """``{"median", "max", "points"}`` of ``|ln(rerun / record)|`` over the files both hold
    (:data:`MOVED_DEFINITION`); median and max None when no point matches."""
    ratios = [r for rel in sorted(set(record) & set(rerun)) for r in value_ratios(record[rel], rerun[rel])]
    return {"median": distance(ratios), "max": max((abs(math.log(r)) for r in ratios), default=None),
            "points": len(ratios)}


def _end_and_wall(meta: Mapping[str, Any], name: str) -> tuple[datetime, float] | None:
    date, wall = meta.get("date"), meta.get(timing.WALL_KEY)
    if date is None or wall is None:
        return None
    try:
        end = datetime.fromisoformat(str(date).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: meta.date {date!r} is not an ISO date") from None
    if isinstance(wall, bool) or not isinstance(wall, (int, float)) or not wall >= 0:
        raise ValueError(f"{name}: meta.{timing.WALL_KEY} must be a number >= 0, got {wall!r}")
    return end, float(wall)


def call_span(files: Mapping[str, results.ResultFile]) -> dict[str, Any] | None:
    """``{"started", "finished", "wall_seconds"}``: from the earliest start (a file's ``meta.date``, when it
    was written, less its ``wall_time_s``) to the latest ``meta.date`` of ``files``; None when no file
    records both. For one call from an empty cache, the wall time of that call."""
    spans = [s for rel, r in files.items() if (s := _end_and_wall(r.meta or {}, rel)) is not None]
    if not spans:
        return None
    start = min(end.timestamp() - wall for end, wall in spans)
    finish = max(end for end, _ in spans)
    return {"started": datetime.fromtimestamp(start, finish.tzinfo).isoformat(timespec="seconds"),
            "finished": finish.isoformat(timespec="seconds"), "wall_seconds": round(finish.timestamp() - start, 1)}


def machine() -> dict[str, Any]:
    """This machine: its processor's name (``/proc/cpuinfo`` where there is one), cores and platform."""
    name = platform.processor() or ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return {"processor": name or "unknown", "cores": os.cpu_count(), "platform": platform.platform()}


def _findings(folder: Path, reference_dir: str | os.PathLike) -> dict[str, list[int] | None]:
    """Per figure, ``[held, checked]`` of the papers' findings in the files under ``folder`` (None: none
    checked); the folder is read once for all figures."""
    out = {}
    for report in figure_reports(folder, reference_dir):
        held, checked = report.held("ours")
        out[report.figure] = [held, checked] if checked else None
    return out


def compare(record_dir: str | os.PathLike, rerun_dir: str | os.PathLike,
            reference_dir: str | os.PathLike | None = None, *, figures: Sequence[str] | None = None,
            machine_info: Mapping[str, Any] | None = None, command: str | None = None,
            notes: str | None = None) -> dict[str, Any]:
    """The comparison of the re-run under ``rerun_dir`` with the record under ``record_dir``, per figure
    of ``figures`` (None: every figure whose files are all in both folders).

    ``reference_dir``: the published files, for the findings (None: findings are not counted, as some
    need the paper's curves). ``machine_info``: where the re-run ran (None: :func:`machine`, this one).
    ``command``: how it was run, and ``notes``: anything else about it (caches kept from an earlier run, a
    busy machine), both stored as given. A ValueError names a folder that is missing, or a
    figure whose files one of them lacks."""
    record_dir, rerun_dir = Path(record_dir), Path(rerun_dir)
    for option, folder in (("record_dir", record_dir), ("rerun_dir", rerun_dir)):
        if not folder.is_dir():
            raise ValueError(f"{option}: {str(folder)!r} is not a folder")
    recorded = set(complete_figures(record_dir))
    in_both = [f for f in complete_figures(rerun_dir) if f in recorded]
    chosen = in_both if figures is None else registry.parse(list(figures))
    missing = [f for f in chosen if f not in in_both]
    if missing:
        raise ValueError(f"figures: {', '.join(missing)} lack result files under {str(record_dir)!r} or "
                         f"{str(rerun_dir)!r}")
    if not chosen:
        raise ValueError(f"rerun_dir: {str(rerun_dir)!r} holds no figure's result files")
    costs = {"record": timing.figure_costs(record_dir, chosen), "rerun": timing.figure_costs(rerun_dir, chosen)}
    per_side = {side: {f.figure: f for f in c.figures} for side, c in costs.items()}
    found = None if reference_dir is None else {side: _findings(folder, reference_dir)
                                                for side, folder in (("record", record_dir), ("rerun", rerun_dir))}
    rerun_files: dict[str, results.ResultFile] = {}
    out: dict[str, Any] = {}
    for fid in chosen:
        files = registry.figure(fid).files
        loaded = {side: {rel: results.load(folder / rel) for rel in files}
                  for side, folder in (("record", record_dir), ("rerun", rerun_dir))}
        rerun_files.update(loaded["rerun"])
        out[fid] = {
            "paper": registry.figure(fid).paper,
            "preset": {side: per_side[side][fid].preset for side in per_side},
            "runs": {side: per_side[side][fid].runs for side in per_side},
            "compute_seconds": {side: round(per_side[side][fid].compute_seconds, 1) for side in per_side},
            "shared_with": list(per_side["rerun"][fid].shared_with),
            "moved": moved(loaded["record"], loaded["rerun"]),
            "findings": None if found is None else {side: found[side][fid] for side in found},
        }
    versions = next((r.meta.get("versions") for r in rerun_files.values() if isinstance(r.meta, Mapping)
                     and r.meta.get("versions")), None)
    meta = {"format": FORMAT, "record": record_dir.name, "figures": chosen, "command": command, "notes": notes,
            "machine": dict(machine_info) if machine_info is not None else machine(), "versions": versions,
            "call": call_span(rerun_files), "devices": list(costs["rerun"].devices),
            "moved": MOVED_DEFINITION,
            "compute_seconds": "the figure's runs' seconds from its files' meta "
                               "(vqcore.experiments.timing); shared runs counted once in the total"}
    total = {side: {"runs": c.runs, "compute_seconds": round(c.compute_seconds, 1)} for side, c in costs.items()}
    return {"meta": meta, "figures": out, "total": total}


def store(record_dir: str | os.PathLike, rerun_dir: str | os.PathLike, name: str,
          reference_dir: str | os.PathLike | None = None, **options: Any) -> Path:
    """:func:`compare` the re-run with the record and keep both in the record's folder: the re-run's
    compared result files copied to ``<record_dir>/.rerun/<name>/`` (so the comparison can be made
    again from the repository) and the comparison at :func:`rerun_path`; returns its path.
    ``options``: :func:`compare`'s keyword arguments."""
    path = rerun_path(record_dir, name)
    summary = compare(record_dir, rerun_dir, reference_dir, **options)
    kept = path.with_suffix("")
    for fid in summary["meta"]["figures"]:
        for rel in registry.figure(fid).files:
            target = kept / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, (Path(rerun_dir) / rel).read_text(encoding="utf-8"))
    return write(summary, path)


def write(summary: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``summary`` (:func:`compare`'s) to ``path`` atomically; returns the path."""
    return write_tagged(path, summary)


def read(path: str | os.PathLike) -> dict[str, Any]:
    """The comparison stored at ``path`` ({} when there is none); a ValueError naming a malformed file."""
    return read_tagged(path, FORMAT, "re-run comparison")


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown(summary: Mapping[str, Any]) -> str:
    """The comparison as a table: per figure the compute minutes of the record and of the re-run, how far
    the numbers moved, and the findings held by each; then the totals."""
    rows = ["| figure | paper | compute of record (min) | compute of the re-run (min) | moved: median | moved: largest "
            "| findings held: record | re-run |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for fid, f in summary["figures"].items():
        found = f.get("findings") or {}
        held = {side: "–" if not found.get(side) else f"{found[side][0]}/{found[side][1]}"
                for side in ("record", "rerun")}
        rows.append(f"| {fid} | {f['paper']} | {f['compute_seconds']['record'] / 60:.1f} | "
                    f"{f['compute_seconds']['rerun'] / 60:.1f} | {_num(f['moved']['median'], '.4f')} | "
                    f"{_num(f['moved']['max'], '.4f')} | {held['record']} | {held['rerun']} |")
    total = summary["total"]
    rows.append(f"| **total** | | **{total['record']['compute_seconds'] / 60:.1f}** | "
                f"**{total['rerun']['compute_seconds'] / 60:.1f}** | | | | |")
    return "\n".join(rows)
