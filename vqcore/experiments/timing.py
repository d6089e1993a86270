"""What the results of record cost: per figure, the compute and wall seconds their ``meta`` records.

:func:`figure_costs` reads every result file of record that the figure registry
(:mod:`vqcore.experiments.registry`) names under a results folder and returns, per figure, its
preset, device, number of training runs, compute seconds and wall seconds; :func:`costs_markdown`
makes the reproduction page's table of them.

What is read from each file's ``meta``:

- ``preset``, ``device`` and ``seeds`` (a list): required.
- compute seconds: ``compute_seconds`` (``compute_s`` in the nearest-neighbour files), the sum of
  the times of the runs the file was made from, whether they ran in this call or were read from the
  run cache. A runner that keeps no run cache (the complexity model, the 2-D SFVQ study) records only
  ``wall_time_s``; its whole work is that one call, so its wall time is its compute time.
- wall seconds: ``wall_time_s``, the time of the call that last wrote the file. After a resumed run
  it is only the time to read the stored runs, so it can be far below the compute time.
- runs, the trained models: none when ``seeds`` is empty (a deterministic model, nothing trained);
  else the entries of a ``runs`` mapping (a list counts its items: one per seed); else the entries of
  a ``train_seconds`` mapping (one per trained model); else seeds x methods (``methods`` when it is a
  mapping, else the file's series) x rates (``settings["bitrates"]``, else the x axis).

A file without one of the required keys, or with neither compute nor wall seconds, raises
:class:`ValueError` naming the file and the key.

Seeds that cost unevenly: where ``meta`` keeps its runs per seed (a ``runs`` mapping whose names end
in ``-s<seed>``, and ``autoencoder_without_quantizer`` per seed), :func:`seed_seconds` sums them per
seed, and :func:`uneven_seeds` names the run sets whose slowest seed took far longer than their
median seed. The seeds of one figure do the same work, so such a spread measures a busy or slower
machine during that seed, not the figure.

Shared runs are counted once. Several files, and several figures, can come from the same runs:
Figure 2b's panel is Figure 3's panel at D = 64, PESQ and pSNR come from the same codecs, Figure 6a
draws a subset of Figure 5's runs. Files of one runner whose ``meta`` records the same compute
seconds and the same ``data`` are one *run set*: its compute seconds and its runs (the most that any
of its files counts) enter a figure's sum, and the total, once. Likewise the files of one runner
with the same ``wall_time_s`` came from one call, whose wall seconds are counted once.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import results
from . import registry

__all__ = ["COMPUTE_KEYS", "WALL_KEY", "Costs", "FigureCost", "FileCost", "SeedSpread", "costs_markdown", "count_runs",
           "figure_costs", "file_cost", "longest_first_wall", "seed_seconds", "uneven_seeds"]

#: the meta keys of the compute seconds, in the order they are looked for
COMPUTE_KEYS = ("compute_seconds", "compute_s")
#: the meta key of the wall seconds of the call that wrote the file
WALL_KEY = "wall_time_s"


@dataclass(frozen=True)
class FileCost:
    """What one result file's ``meta`` says it cost.

    Attributes:
        path: the file, relative to the results folder (the registry's name).
        figure: the figure id it belongs to (``"2b"``).
        runner: the registry's ``"module:function"`` that wrote it.
        preset, device: from ``meta``.
        compute_seconds: the run times summed (see the module docstring).
        wall_seconds: the time of the call that wrote it.
        compute_from_wall: True when ``meta`` has no compute seconds and the wall time stands for them.
        runs: the trained models it was made from.
        run_set: what identifies its runs: equal for files made from the same runs.
        call: what identifies the call that wrote it: equal for files written by the same call.
    """

    path: str
    figure: str
    runner: str
    preset: str
    device: str
    compute_seconds: float
    wall_seconds: float
    compute_from_wall: bool
    runs: int
    run_set: tuple[str, float, str]
    call: tuple[str, float]


@dataclass(frozen=True)
class FigureCost:
    """One figure's cost: its files' run sets and calls, each counted once.

    Attributes:
        figure, paper: the registry's id and paper.
        preset, device: of its files (``", "``-joined when they differ).
        runs, compute_seconds, wall_seconds: summed over its distinct run sets and calls.
        shared_with: the other figures that have one of its run sets.
        compute_from_wall: True when some of its compute seconds are wall seconds.
        files: its files.
    """

    figure: str
    paper: str
    preset: str
    device: str
    runs: int
    compute_seconds: float
    wall_seconds: float
    shared_with: tuple[str, ...]
    compute_from_wall: bool
    files: tuple[FileCost, ...]


@dataclass(frozen=True)
class Costs:
    """Every figure's cost and the totals, each run set and each call counted once.

    Attributes:
        figures: one :class:`FigureCost` per figure, in the registry's order.
        runs, compute_seconds, wall_seconds: the totals.
        presets, devices: the distinct presets and devices of the files, in order of appearance.
    """

    figures: tuple[FigureCost, ...]
    runs: int
    compute_seconds: float
    wall_seconds: float
    presets: tuple[str, ...]
    devices: tuple[str, ...]

    @property
    def compute_minutes(self) -> float:
        return self.compute_seconds / 60.0

    def by_paper(self) -> dict[str, tuple[int, float]]:
        """``{paper: (runs, compute seconds)}``, each run set counted once, in the registry's order."""
        seen: dict[str, dict[tuple, tuple[int, float]]] = {}
        for fig in self.figures:
            sets = seen.setdefault(fig.paper, {})
            for f in fig.files:
                runs, seconds = sets.get(f.run_set, (0, f.compute_seconds))
                sets[f.run_set] = (max(runs, f.runs), seconds)
        return {paper: (sum(r for r, _ in sets.values()), sum(s for _, s in sets.values()))
                for paper, sets in seen.items()}


def _seconds(meta: Mapping[str, Any], key: str, name: str) -> float | None:
    if key not in meta or meta[key] is None:
        return None
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: meta[{key!r}] must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _text(meta: Mapping[str, Any], key: str, name: str) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: meta lacks {key!r} (a non-empty string), got {value!r}")
    return value


def count_runs(result: results.ResultFile, name: str = "<result>") -> int:
    """The trained models a result file was made from, by the rules of the module docstring."""
    meta = result.meta or {}
    seeds = meta.get("seeds")
    if not isinstance(seeds, list):
        raise ValueError(f"{name}: meta lacks 'seeds' (a list of the seeds its runs used), got {seeds!r}")
    if not seeds:
        return 0
    if isinstance(meta.get("runs"), Mapping):
        return sum(len(v) if isinstance(v, list) else 1 for v in meta["runs"].values())
    if isinstance(meta.get("train_seconds"), Mapping):
        return len(meta["train_seconds"])
    methods = meta.get("methods")
    n_methods = len(methods) if isinstance(methods, Mapping) else len(result.series)
    settings = meta.get("settings")
    rates = settings.get("bitrates") if isinstance(settings, Mapping) else None
    n_rates = len(rates) if isinstance(rates, list) and rates else len(result.x)
    return len(seeds) * n_methods * n_rates


def file_cost(results_dir: str | os.PathLike, figure_id: str, rel: str) -> FileCost:
    """The cost that ``<results_dir>/<rel>``, a result file of figure ``figure_id``, records."""
    path = Path(results_dir) / rel
    if not path.is_file():
        raise ValueError(f"{path}: no such result file (figure {figure_id})")
    result = results.load(path)
    meta = result.meta
    if not isinstance(meta, Mapping):
        raise ValueError(f"{path}: the file has no 'meta' object")
    name = str(path)
    preset, device = _text(meta, "preset", name), _text(meta, "device", name)
    compute = next((s for key in COMPUTE_KEYS if (s := _seconds(meta, key, name)) is not None), None)
    wall = _seconds(meta, WALL_KEY, name)
    if compute is None and wall is None:
        raise ValueError(f"{name}: meta records no time: none of {', '.join(map(repr, COMPUTE_KEYS))} "
                         f"or {WALL_KEY!r}")
    runner = registry.figure(figure_id).runner
    data = json.dumps(meta.get("data"), sort_keys=True, default=str)
    seconds = compute if compute is not None else wall
    return FileCost(path=rel, figure=registry.figure(figure_id).id, runner=runner, preset=preset, device=device,
                    compute_seconds=seconds, wall_seconds=wall if wall is not None else seconds,
                    compute_from_wall=compute is None, runs=count_runs(result, name),
                    run_set=(runner, seconds, data), call=(runner, wall if wall is not None else seconds))


def _joined(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(values))


def _figure(fig: registry.Figure, files: list[FileCost], owners: Mapping[tuple, list[str]]) -> FigureCost:
    sets: dict[tuple, tuple[int, float]] = {}
    calls: dict[tuple, float] = {}
    for f in files:
        runs, _ = sets.get(f.run_set, (0, 0.0))
        sets[f.run_set] = (max(runs, f.runs), f.compute_seconds)
        calls[f.call] = f.wall_seconds
    shared = sorted({o for f in files for o in owners[f.run_set] if o != fig.id}, key=registry.figure_ids().index)
    return FigureCost(figure=fig.id, paper=fig.paper, preset=_joined(f.preset for f in files),
                      device=_joined(f.device for f in files), runs=sum(r for r, _ in sets.values()),
                      compute_seconds=sum(s for _, s in sets.values()), wall_seconds=sum(calls.values()),
                      shared_with=tuple(shared), compute_from_wall=any(f.compute_from_wall for f in files),
                      files=tuple(files))


def figure_costs(results_dir: str | os.PathLike, figures: str | Iterable[str] | None = None) -> Costs:
    """The cost of every figure of ``figures`` (None: all the registry names) from its result files
    under ``results_dir``; shared run sets and calls counted once (see the module docstring)."""
    chosen = [registry.figure(fid) for fid in registry.parse(figures)]
    per_figure = {fig.id: [file_cost(results_dir, fig.id, rel) for rel in fig.files] for fig in chosen}
    owners: dict[tuple, list[str]] = {}
    for fid, files in per_figure.items():
        for f in files:
            if fid not in owners.setdefault(f.run_set, []):
                owners[f.run_set].append(fid)
    every = [f for files in per_figure.values() for f in files]
    sets: dict[tuple, tuple[int, float]] = {}
    for f in every:
        runs, _ = sets.get(f.run_set, (0, 0.0))
        sets[f.run_set] = (max(runs, f.runs), f.compute_seconds)
    calls = {f.call: f.wall_seconds for f in every}
    return Costs(figures=tuple(_figure(fig, per_figure[fig.id], owners) for fig in chosen),
                 runs=sum(r for r, _ in sets.values()), compute_seconds=sum(s for _, s in sets.values()),
                 wall_seconds=sum(calls.values()), presets=tuple(dict.fromkeys(f.preset for f in every)),
                 devices=tuple(dict.fromkeys(f.device for f in every)))


#: the end of a run's name in ``meta["runs"]`` that gives its seed (``"AVQ-12b-s0"``)
_SEED_SUFFIX = re.compile(r"-s(\d+)$")


def seed_seconds(meta: Mapping[str, Any], name: str = "<meta>") -> dict[int, float]:
    """``{seed: seconds}``: per seed, the ``train_seconds`` plus ``eval_seconds`` of every entry of
    ``meta["runs"]`` whose name ends in ``-s<seed>``, plus the ``train_seconds`` of
    ``meta["autoencoder_without_quantizer"][seed]`` (a model pretrained once per seed). ``{}`` when
    ``runs`` is not such a mapping. A ValueError names ``name`` and the run whose seconds are not a
    number of seconds >= 0."""
    runs = meta.get("runs")
    if not isinstance(runs, Mapping) or not runs or not all(_SEED_SUFFIX.search(str(k)) for k in runs):
        return {}
    out: dict[int, float] = {}

    def add(seed: int, record: Any, where: str, keys: tuple[str, ...]) -> None:
        if not isinstance(record, Mapping):
            raise ValueError(f"{name}: meta[{where!r}] must be an object, got {type(record).__name__}")
        for key in keys:
            seconds = _seconds(record, key, f"{name}: {where}")
            out[seed] = out.get(seed, 0.0) + (seconds or 0.0)

    for run, record in runs.items():
        add(int(_SEED_SUFFIX.search(str(run)).group(1)), record, f"runs.{run}", ("train_seconds", "eval_seconds"))
    pretrained = meta.get("autoencoder_without_quantizer")
    for seed, record in (pretrained.items() if isinstance(pretrained, Mapping) else ()):
        if str(seed).isdigit() and int(seed) in out:
            add(int(seed), record, f"autoencoder_without_quantizer.{seed}", ("train_seconds",))
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class SeedSpread:
    """A run set whose seeds cost unevenly (:func:`uneven_seeds`).

    Attributes:
        figures: the figures made from it.
        path: its first result file, relative to the results folder.
        compute_seconds: what its ``meta`` records for all seeds together.
        seconds: ``{seed: seconds}`` (:func:`seed_seconds`).
    """

    figures: tuple[str, ...]
    path: str
    compute_seconds: float
    seconds: Mapping[int, float]

    @property
    def median(self) -> float:
        """The median seed's seconds."""
        return float(statistics.median(self.seconds.values()))

    @property
    def slowest(self) -> int:
        """The seed that took longest."""
        return max(self.seconds, key=self.seconds.__getitem__)

    @property
    def ratio(self) -> float:
        """The slowest seed's seconds over the median seed's."""
        return self.seconds[self.slowest] / self.median if self.median > 0 else math.inf

    @property
    def at_median(self) -> float:
        """The run set's compute seconds had every seed cost the median seed's: its recorded seconds
        scaled by ``median x seeds / sum of the seeds``."""
        total = sum(self.seconds.values())
        return self.compute_seconds * self.median * len(self.seconds) / total if total > 0 else self.compute_seconds


def uneven_seeds(costs: Costs, results_dir: str | os.PathLike, ratio: float = 2.0) -> list[SeedSpread]:
    """The run sets of ``costs`` (read from ``results_dir``) with three or more seeds whose slowest
    seed took at least ``ratio`` times the median seed's seconds, each once, in the registry's order."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 1:
        raise ValueError(f"ratio must be a number > 1, got {ratio!r}")
    out: dict[tuple, SeedSpread] = {}
    seen: set[tuple] = set()
    for fig in costs.figures:
        for f in fig.files:
            if f.run_set in out and fig.figure not in out[f.run_set].figures:
                out[f.run_set] = dataclasses.replace(out[f.run_set], figures=(*out[f.run_set].figures, fig.figure))
            if f.run_set in seen:
                continue
            seen.add(f.run_set)
            path = Path(results_dir) / f.path
            seconds = seed_seconds(results.load(path).meta or {}, str(path))
            if len(seconds) < 3:
                continue
            spread = SeedSpread(figures=(fig.figure,), path=f.path, compute_seconds=f.compute_seconds,
                                seconds=seconds)
            if spread.ratio >= ratio:
                out[f.run_set] = spread
    return list(out.values())


def longest_first_wall(seconds: Iterable[float], jobs: int) -> float:
    """The wall seconds of independent tasks of ``seconds`` run by ``jobs`` workers, each task
    started, longest first, on the first worker to become free (``reproduce --jobs``' order).
    Never below the longest task nor below the sum divided by ``jobs``.

    >>> longest_first_wall([30, 10, 10, 10], 2)
    30.0
    >>> longest_first_wall([3, 3, 2, 2, 2], 2)
    7.0
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    free = [0.0] * jobs
    for s in sorted((float(s) for s in seconds), reverse=True):
        if not s >= 0:
            raise ValueError(f"seconds must be >= 0, got {s}")
        i = min(range(jobs), key=free.__getitem__)
        free[i] += s
    return max(free)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f}"


def costs_markdown(costs: Costs) -> str:
    """A Markdown table: one row per figure (minutes of compute and of wall time, runs, preset, device,
    the figures it shares runs with), then one total row per paper and the overall total."""
    rows = ["| figure | paper | preset | device | runs | compute (min) | wall of its call (min) | shares runs with |",
            "|---|---|---|---|---:|---:|---:|---|"]
    for fig in costs.figures:
        mark = " †" if fig.compute_from_wall else ""
        shared = ", ".join(fig.shared_with) or "–"
        rows.append(f"| {fig.figure} | {fig.paper} | {fig.preset} | {fig.device} | {fig.runs} | "
                    f"{_minutes(fig.compute_seconds)}{mark} | {_minutes(fig.wall_seconds)} | {shared} |")
    for paper, (runs, seconds) in costs.by_paper().items():
        rows.append(f"| all of {paper} |  |  |  | {runs} | {_minutes(seconds)} |  |  |")
    rows.append(f"| **total** |  | {', '.join(costs.presets)} | {', '.join(costs.devices)} | **{costs.runs}** | "
                f"**{_minutes(costs.compute_seconds)}** | {_minutes(costs.wall_seconds)} |  |")
    return "\n".join(rows)
