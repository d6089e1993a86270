"""Re-run the experiments at a preset, then execute the figure notebooks on their results.

``python -m vqcore reproduce --preset quick`` (``make reproduce PRESET=quick``) calls
:func:`reproduce`: it groups the chosen figures by the runner that makes them
(:mod:`vqcore.experiments.registry`), calls each runner once, writing the result files under
``results_dir``, then executes the figures' notebooks with papermill (``run_experiment=False``,
so a notebook only plots what was just written), saving the executed copies under
``executed_dir`` (default ``_build/executed``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from . import registry
from .common import PRESET_NAMES, resolve_device

logger = logging.getLogger(__name__)

__all__ = ["repository_root", "reproduce", "run_notebooks", "run_experiments"]


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
                    progress: bool = True) -> list[Path]:
    """Call the runner of each group of ``figures`` (:func:`~vqcore.experiments.registry.runner_groups`:
    the runners in the papers' order) with the one runner signature; returns every file written."""
    written: list[Path] = []
    for runner, chosen in registry.runner_groups(figures):
        logger.info("figures %s: %s", ",".join(chosen), runner)
        run = registry.load_runner(runner)
        written += run(chosen, preset, results_dir, str(device), progress=progress)
    return written


def reproduce(preset: str = "quick", figures: str | Iterable[str] | None = None,
              results_dir: str | Path = "Results", device: str = "auto", notebooks: bool = True,
              executed_dir: str | Path = "_build/executed", threads: int | None = None,
              progress: bool = True) -> dict[str, list[Path]]:
    """Run the experiments of ``figures`` at ``preset``, then (``notebooks``) execute their notebooks.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
        figures: ids of :data:`vqcore.experiments.registry.FIGURES` (``"2a,2b,3,4c,6b"``,
            ``["Figure 1", "sfvqgroups"]``); default all.
        results_dir: the ``Results`` folder the files go to.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        notebooks: execute the figure notebooks afterwards.
        executed_dir: where the executed notebooks go.
        threads: ``torch.set_num_threads`` for this process (None: torch's default). On a shared,
            busy CPU one thread is often much faster than two.
        progress: show progress bars.
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
    dev = resolve_device(device)
    start = time.perf_counter()
    written: dict[str, list[Path]] = {"results": run_experiments(figs, name, results_dir, dev, progress=progress),
                                      "notebooks": []}
    logger.info("experiments done in %.1f s: %d result files", time.perf_counter() - start, len(written["results"]))
    if notebooks:
        written["notebooks"] = run_notebooks([registry.figure(f).notebook for f in figs], results_dir, executed_dir,
                                             preset=name, device=str(device), progress=progress)
    logger.info("reproduce (%s, figures %s) finished in %.1f s", name, ",".join(figs), time.perf_counter() - start)
    return written
