"""Re-run the experiments at a preset, then execute the figure notebooks on their results.

``python -m vqcore reproduce --preset quick`` (``make reproduce PRESET=quick``) calls
:func:`reproduce`: it runs the experiments of the chosen figures, writing their result files
under ``results_dir``, then executes each figure notebook with papermill
(``run_experiment=False``, so the notebook only plots what was just written), saving the executed
copies under ``executed_dir`` (default ``_build/executed``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

from .ann_recall import FIGURES as ANN_FIGURES
from .complexity_figures import FIGURES as COMPLEXITY_FIGURES
from .complexity_figures import run_complexity
from .images import FIGURES as IMAGE_FIGURES
from .interspeech import FIGURES as INTERSPEECH_FIGURES
from .presets import get_preset
from .speech_coding import FIGURES as SPEECH_FIGURES
from .toy import FIGURES as TOY_FIGURES
from .common import resolve_device
from .toy import run_toy

logger = logging.getLogger(__name__)

__all__ = ["ALL_FIGURES", "NOTEBOOKS", "RUNNERS", "parse_figures", "repository_root", "reproduce", "run_notebooks"]

#: every figure ``reproduce`` knows, in order (ICASSP 2023, then Interspeech 2023)
_ICASSP = SPEECH_FIGURES + TOY_FIGURES + IMAGE_FIGURES + COMPLEXITY_FIGURES + ANN_FIGURES
ALL_FIGURES: tuple[str, ...] = tuple(sorted(_ICASSP, key=lambda f: (int(f[0]), f))) + INTERSPEECH_FIGURES
#: the notebook (under ``notebooks/``, without suffix) that draws each figure
NOTEBOOKS: dict[str, str] = {
    "1": "fig1_speech",
    "2a": "fig2_toy_mse",
    "2b": "fig2_toy_mse",
    "3": "fig3_dimension",
    "4a": "fig4ab_images",
    "4b": "fig4ab_images",
    "4c": "fig4c_6b_complexity",
    "5": "fig5_6a_ann",
    "6a": "fig5_6a_ann",
    "6b": "fig4c_6b_complexity",
    "sfvq2d": "sfvq_2d",
    **{f: "sfvq_phones" for f in INTERSPEECH_FIGURES if f != "sfvq2d"},
}


def _run_speech_coding(figures: list[str], preset: str, results_dir: str | Path, device: str,
                       progress: bool) -> list[Path]:
    from .speech_coding import run_speech_coding
    return run_speech_coding(figures, preset, results_dir, device, progress=progress)


def _run_images(figures: list[str], preset: str, results_dir: str | Path, device: str,
                progress: bool) -> list[Path]:
    from .images import run_images
    return run_images(figures, preset, results_dir, device, progress=progress)


def _run_ann(figures: list[str], preset: str, results_dir: str | Path, device: str, progress: bool) -> list[Path]:
    from .ann_recall import run_ann
    return run_ann(figures, preset, results_dir, device, progress=progress)


def _run_interspeech(figures: list[str], preset: str, results_dir: str | Path, device: str,
                     progress: bool) -> list[Path]:
    from .interspeech import run_interspeech
    return run_interspeech(figures, preset, results_dir, device, progress=progress)


#: the runner of each group of figures (other than the toy and complexity figures):
#: ``(figures, run(figures, preset, results_dir, device, progress) -> written files)``
RUNNERS: list[tuple[tuple[str, ...], Callable[..., list[Path]]]] = [
    (SPEECH_FIGURES, _run_speech_coding),
    (IMAGE_FIGURES, _run_images),
    (ANN_FIGURES, _run_ann),
    (INTERSPEECH_FIGURES, _run_interspeech),
]


def repository_root() -> Path:
    """The repository holding this package (the folder with ``notebooks/`` and ``Results/``)."""
    return Path(__file__).resolve().parents[2]


def parse_figures(figures: str | Iterable[str] | None) -> list[str]:
    """``"2a,2b,3"`` or ``["2a", "3"]`` -> a checked list in canonical order; None -> all."""
    if figures is None:
        return list(ALL_FIGURES)
    items = figures.split(",") if isinstance(figures, str) else list(figures)
    wanted = []
    for item in items:
        key = str(item).strip().lower()
        for prefix in ("figure", "fig"):
            key = key.removeprefix(prefix)
        key = key.strip().replace("-", "")
        if not key:
            continue
        if key not in ALL_FIGURES:
            raise ValueError(f"unknown figure {item!r}; choose from {', '.join(ALL_FIGURES)}")
        wanted.append(key)
    if not wanted:
        raise ValueError("no figure given")
    return [f for f in ALL_FIGURES if f in wanted]


def run_notebooks(names: Sequence[str], results_dir: str | Path, executed_dir: str | Path, *,
                  preset: str = "quick", device: str = "auto", notebooks_dir: str | Path | None = None,
                  reference_dir: str | Path | None = None, kernel_name: str | None = None,
                  progress: bool = True) -> list[Path]:
    """Execute the notebooks ``names`` (``notebooks/<name>.ipynb``) with papermill, from their own
    folder, with ``run_experiment=False`` and ``results_dir`` (made absolute); returns the
    executed copies under ``executed_dir``."""
    import papermill as pm

    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else repository_root() / "notebooks"
    out_dir = Path(executed_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"results_dir": str(Path(results_dir).resolve()), "preset": preset, "device": device,
              "run_experiment": False,
              "reference_dir": None if reference_dir is None else str(Path(reference_dir).resolve())}
    written = []
    for name in dict.fromkeys(names):  # unique, in order
        source = nb_dir / f"{name}.ipynb"
        target = out_dir / f"{name}.ipynb"
        logger.info("executing %s -> %s", source, target)
        pm.execute_notebook(str(source), str(target), parameters=params, cwd=str(nb_dir),
                            kernel_name=kernel_name, progress_bar=progress)
        written.append(target)
    return written


def reproduce(preset: str = "quick", figures: str | Iterable[str] | None = None,
              results_dir: str | Path = "Results", device: str = "auto", notebooks: bool = True,
              executed_dir: str | Path = "_build/executed", threads: int | None = None,
              progress: bool = True) -> dict[str, list[Path]]:
    """Run the experiments of ``figures`` at ``preset``, then (``notebooks``) execute their notebooks.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"paper"``.
        figures: subset of :data:`ALL_FIGURES` (``"2a,2b,3,4c,6b"``, ``"sfvqgroups"``); default all.
        results_dir: the ``Results`` folder the files go to.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        notebooks: execute the figure notebooks afterwards.
        executed_dir: where the executed notebooks go.
        threads: ``torch.set_num_threads`` for this process (None: torch's default). On a shared,
            busy CPU one thread is often much faster than two.
    Returns:
        ``{"results": [...], "notebooks": [...]}``, the files written.
    """
    p = get_preset(preset)
    figs = parse_figures(figures)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    start = time.perf_counter()
    written: dict[str, list[Path]] = {"results": [], "notebooks": []}
    toy = [f for f in figs if f in TOY_FIGURES]
    if toy:
        written["results"] += run_toy(toy, p, results_dir=results_dir, device=dev, progress=progress)
    comp = [f for f in figs if f in COMPLEXITY_FIGURES]
    if comp:
        written["results"] += run_complexity(comp, results_dir=results_dir, preset=p.name)
    for group, run in RUNNERS:
        chosen = [f for f in figs if f in group]
        if chosen:
            written["results"] += run(chosen, p.name, results_dir, str(dev), progress)
    logger.info("experiments done in %.1f s: %d result files", time.perf_counter() - start, len(written["results"]))
    if notebooks:
        written["notebooks"] = run_notebooks([NOTEBOOKS[f] for f in figs], results_dir, executed_dir,
                                             preset=p.name, device=str(device), progress=progress)
    logger.info("reproduce (%s, figures %s) finished in %.1f s", p.name, ",".join(figs), time.perf_counter() - start)
    return written
