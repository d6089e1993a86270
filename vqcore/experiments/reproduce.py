"""Re-run the experiments at a preset, then execute the figure notebooks on their results.

``python -m vqcore reproduce --preset quick`` (``make reproduce PRESET=quick``) calls
:func:`reproduce`: it groups the chosen figures by the runner that makes them
(:mod:`vqcore.experiments.registry`), calls each runner once, writing the result files under
``results_dir``, then executes the figures' notebooks with papermill (``run_experiment=False``,
so a notebook only plots what was just written), saving the executed copies under
``executed_dir`` (default ``_build/executed``).

With ``jobs=N`` (``--jobs N``) the runners run in ``N`` worker processes at once, each with
``threads`` torch threads (default: the CPU's cores divided among the workers). The runners are
independent (each writes its own files; runs that two runners could share are claimed through the
run caches' locks), so the files are those of one process, in the same order. The runners whose
files of this preset are already under ``results_dir`` (else in the repository's ``Results/``, for a
re-run into a new folder) start in the order of their recorded compute seconds, longest first
(runners with no such record before them), so that the longest does not start last
(:func:`runner_order`). The workers show no progress bars (they would overwrite each other); each runner's
start and end are logged instead.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import torch

from . import registry, timing
from .common import PRESET_NAMES, resolve_device

logger = logging.getLogger(__name__)

__all__ = ["expected_seconds", "repository_root", "reproduce", "run_notebooks", "run_experiments", "runner_order"]


def repository_root() -> Path:
    """The repository holding this package (the folder with ``notebooks/`` and ``Results/``)."""
    return Path(__file__).resolve().parents[2]


def run_notebooks(names: Sequence[str], results_dir: str | Path, executed_dir: str | Path, *,
                  preset: str = "quick", device: str = "auto", notebooks_dir: str | Path | None = None,
                  reference_dir: str | Path | None = None, kernel_name: str | None = None,
                  progress: bool = True) -> list[Path]:
    """Execute the notebooks ``names`` (``notebooks/<name>.ipynb``) with papermill, from their own
    folder, with ``run_experiment=False`` and ``results_dir`` (made absolute); returns the
    executed copies under ``executed_dir``. ``reference_dir`` replaces the notebooks' own default
    (the repository's ``reference/`` folder of published results) when given."""
    import papermill as pm

    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else repository_root() / "notebooks"
    out_dir = Path(executed_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"results_dir": str(Path(results_dir).resolve()), "preset": preset, "device": device,
              "run_experiment": False}
    if reference_dir is not None:
        params["reference_dir"] = str(Path(reference_dir).resolve())
    written = []
    for name in dict.fromkeys(names):  # unique, in order
        source = nb_dir / f"{name}.ipynb"
        target = out_dir / f"{name}.ipynb"
        logger.info("executing %s -> %s", source, target)
        pm.execute_notebook(str(source), str(target), parameters=params, cwd=str(nb_dir),
                            kernel_name=kernel_name, progress_bar=progress)
        written.append(target)
    return written


def run_experiments(figures: Sequence[str], preset: str, results_dir: str | Path, device: str | torch.device, *,
                    progress: bool = True, jobs: int = 1, threads: int | None = None) -> list[Path]:
    """Call the runner of each group of ``figures`` (:func:`~vqcore.experiments.registry.runner_groups`:
    the runners in the papers' order) with the one runner signature; returns every file written, in
    that order. ``jobs`` > 1: that many worker processes with ``threads`` torch threads each (see
    the module's docstring); a runner that fails lets the others finish, then a
    :class:`RuntimeError` names every runner that failed."""
    groups = registry.runner_groups(figures)
    if jobs == 1 or len(groups) == 1:
        written: list[Path] = []
        for runner, chosen in groups:
            logger.info("figures %s: %s", ",".join(chosen), runner)
            run = registry.load_runner(runner)
            written += run(chosen, preset, results_dir, str(device), progress=progress)
        return written
    order = runner_order(groups, preset, results_dir)
    per_worker = threads if threads is not None else max(1, (os.cpu_count() or 1) // jobs)
    logger.info("%d runners in %d processes of %d torch thread(s) each, in the order %s", len(groups), jobs,
                per_worker, ", ".join(groups[i][0].split(":")[1] for i in order))
    futures: dict[int, Future] = {}
    levels = _log_levels()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i in order:
            runner, chosen = groups[i]
            futures[i] = pool.submit(_run_group, runner, chosen, preset, str(results_dir), str(device), per_worker,
                                     levels)
    errors = [futures[i].exception() for i in range(len(groups))]
    failed = [(groups[i][0], err) for i, err in enumerate(errors) if err is not None]
    if failed:
        raise RuntimeError("runners failed (the others finished and wrote their files): "
                           + "; ".join(f"{runner}: {type(err).__name__}: {err}" for runner, err in failed))
    return [path for i in range(len(groups)) for path in futures[i].result()]


def _log_levels() -> dict[str, int]:
    """The levels set in this process: the root logger's and every named logger's that has one."""
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger) and lg.level != logging.NOTSET}
    return {"": logging.getLogger().getEffectiveLevel(), **levels}


def _run_group(runner: str, figures: list[str], preset: str, results_dir: str, device: str, threads: int,
               log_levels: dict[str, int]) -> list[Path]:
    """One runner in a worker process of :func:`run_experiments` (no progress bars), logging at the
    caller's levels ``log_levels`` (:func:`_log_levels`)."""
    logging.basicConfig(level=log_levels.get("", logging.WARNING),
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    for name, level in log_levels.items():
        if name:
            logging.getLogger(name).setLevel(level)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    logger.info("figures %s: %s started", ",".join(figures), runner)
    written = registry.load_runner(runner)(figures, preset, results_dir, device, progress=False)
    logger.info("figures %s: %s finished in %.1f s", ",".join(figures), runner, time.perf_counter() - start)
    return written


def expected_seconds(results_dir: str | Path, preset: str,
                     groups: Sequence[tuple[str, Sequence[str]]]) -> list[float | None]:
    """Per runner group ``(runner, figures)``: the compute seconds its result files under
    ``results_dir`` record (:func:`~vqcore.experiments.timing.figure_costs`, shared runs counted
    once), or None when a file is missing, unreadable or of another preset."""
    out: list[float | None] = []
    for _, figs in groups:
        try:
            costs = timing.figure_costs(results_dir, figs)
        except (ValueError, OSError):
            out.append(None)
            continue
        out.append(costs.compute_seconds if costs.presets == (preset,) else None)
    return out


def runner_order(groups: Sequence[tuple[str, Sequence[str]]], preset: str, results_dir: str | Path,
                 record_dir: str | Path | None = None) -> list[int]:
    """The indices of ``groups`` in the order the workers start them: by the compute seconds their files
    of ``preset`` record (:func:`expected_seconds`), longest first, and the runners with no such record
    first of all, in the papers' order. A runner without files under ``results_dir`` (a re-run into a
    new folder) is timed by its files under ``record_dir`` (None: the repository's ``Results/``, the
    results of record, when it is another folder)."""
    expected = expected_seconds(results_dir, preset, groups)
    record = Path(record_dir) if record_dir is not None else repository_root() / "Results"
    if any(e is None for e in expected) and record.is_dir() and record.resolve() != Path(results_dir).resolve():
        expected = [e if e is not None else r for e, r in zip(expected, expected_seconds(record, preset, groups))]
    return sorted(range(len(groups)), key=lambda i: (expected[i] is not None, -(expected[i] or 0.0), i))


def reproduce(preset: str = "quick", figures: str | Iterable[str] | None = None,
              results_dir: str | Path = "Results", device: str = "auto", notebooks: bool = True,
              executed_dir: str | Path = "_build/executed", threads: int | None = None,
              progress: bool = True, jobs: int = 1) -> dict[str, list[Path]]:
    """Run the experiments of ``figures`` at ``preset``, then (``notebooks``) execute their notebooks.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
        figures: ids of :data:`vqcore.experiments.registry.FIGURES` (``"2a,2b,3,4c,6b"``,
            ``["Figure 1", "sfvqgroups"]``); default all.
        results_dir: the ``Results`` folder the files go to.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        notebooks: execute the figure notebooks afterwards.
        executed_dir: where the executed notebooks go.
        threads: ``torch.set_num_threads`` for this process, or for each worker with ``jobs`` > 1
            (None: torch's default; with workers, the cores divided among them). On a shared, busy
            CPU one thread is often much faster than two.
        progress: show progress bars (not in the workers).
        jobs: the runners run in this many processes at once (see the module's docstring).
    Returns:
        ``{"results": [...], "notebooks": [...]}``, the files written.
    """
    name = str(preset).strip().lower()
    if name not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}, got {preset!r}")
    figs = registry.parse(figures)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    dev = resolve_device(device)
    start = time.perf_counter()
    results = run_experiments(figs, name, results_dir, dev, progress=progress, jobs=jobs, threads=threads)
    written: dict[str, list[Path]] = {"results": results, "notebooks": []}
    logger.info("experiments done in %.1f s: %d result files", time.perf_counter() - start, len(written["results"]))
    if notebooks:
        written["notebooks"] = run_notebooks([registry.figure(f).notebook for f in figs], results_dir, executed_dir,
                                             preset=name, device=str(device), progress=progress)
    logger.info("reproduce (%s, figures %s) finished in %.1f s", name, ",".join(figs), time.perf_counter() - start)
    return written
