"""Every figure of both papers: its runner, its result files, its notebook and its paper.

:data:`FIGURES` is the one place that names them. ``vqcore reproduce``, the CLI, the figure
notebooks (through :func:`result_path`) and the book's figure table read it, so no result-file
name is written twice. A runner is named ``"module:function"`` and imported only when it runs
(the speech runner needs the ``speech`` extra).
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .common import Runner, parse_figures

__all__ = ["FIGURES", "Figure", "figure", "figure_ids", "file_key", "load_runner", "parse", "result_path",
           "runner_groups"]


@dataclass(frozen=True)
class Figure:
    """One figure of a paper.

    Attributes:
        id: the short name ``reproduce --figures`` takes (``"2a"``, ``"sfvqgroups"``).
        paper: ``"icassp2023"``, ``"interspeech2023"`` or ``"nsvq2022"``.
        title: what the figure shows, in a few words.
        files: its result files, relative to the results folder (the authors' names and folders).
        notebook: the notebook under ``notebooks/`` (without ``.ipynb``) that draws it.
        runner: ``"module:function"`` of the runner that writes ``files``
            (:class:`~vqcore.experiments.common.Runner`).
        artefacts: other files or folders the runner writes beside ``files`` (audio, examples, models).
    """

    id: str
    paper: str
    title: str
    files: tuple[str, ...]
    notebook: str
    runner: str
    artefacts: tuple[str, ...] = ()

    def load_runner(self) -> Runner:
        """The runner function (imported now)."""
        return load_runner(self.runner)


def load_runner(runner: str) -> Runner:
    """The runner function named ``"module:function"`` (its module imported now)."""
    module, _, name = runner.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise ValueError(f"runner: {module} has no function {name!r}") from None


_TOY = "vqcore.experiments.toy:run_toy"
_SPEECH = "vqcore.experiments.speech_coding:run_speech_coding"
_IMAGES = "vqcore.experiments.images:run_images"
_COMPLEXITY = "vqcore.experiments.complexity_figures:run_complexity"
_ANN = "vqcore.experiments.ann_recall:run_ann"
_INTERSPEECH = "vqcore.experiments.interspeech:run_interspeech"
_NSVQ_SPEECH = "vqcore.experiments.nsvq2022_speech:run_nsvq2022_speech"
_NSVQ_IMAGES = "vqcore.experiments.nsvq2022_images:run_nsvq2022_images"
_I = "icassp2023"
_S = "interspeech2023"
_N = "nsvq2022"
_PHONES = "sfvq_phones"

#: every figure, in the papers' order (ICASSP 2023, Interspeech 2023, then the NSVQ paper's, IEEE Access 2022,
#: with the newer estimators beside its own)
FIGURES: tuple[Figure, ...] = (
    Figure("1", _I, "speech coding: PESQ and pSNR against bitrate",
           (f"{_I}/Figure 1/PESQ.json", f"{_I}/Figure 1/pSNR.json"), "fig1_speech", _SPEECH,
           (f"{_I}/Figure 1/audio",)),
    Figure("2a", _I, "MSE against bitrate, correlated Gaussian data",
           (f"{_I}/Figure 2/correlated_dataset_Fig2-a.json",), "fig2_toy_mse", _TOY),
    Figure("2b", _I, "MSE against bitrate, uncorrelated Gaussian data",
           (f"{_I}/Figure 2/uncorrelated_dataset_Fig2-b.json",), "fig2_toy_mse", _TOY),
    Figure("3", _I, "MSE against bitrate at dimensions 64, 128 and 256",
           tuple(f"{_I}/Figure 3/Data_Dimension_{d}.json" for d in (64, 128, 256)), "fig3_dimension", _TOY),
    Figure("4a", _I, "image VQ-VAE: SSIM against bitrate",
           (f"{_I}/Figure 4/SSIM_Fig4-a.json",), "fig4ab_images", _IMAGES,
           (f"{_I}/Figure 4/decoded_examples_Fig4-ab.npz",)),
    Figure("4b", _I, "image VQ-VAE: peak SNR against bitrate",
           (f"{_I}/Figure 4/PeakSNR_Fig4-b.json",), "fig4ab_images", _IMAGES,
           (f"{_I}/Figure 4/decoded_examples_Fig4-ab.npz",)),
    Figure("4c", _I, "complexity (log10 WMOPS) against bitrate, D = 64",
           (f"{_I}/Figure 4/Complexity_Fig4-c.json",), "fig4c_6b_complexity", _COMPLEXITY),
    Figure("5", _I, "nearest-neighbour search: 1-recall@T, AVQ, RVQ, PVQ and baselines",
           (f"{_I}/Figure 5/Recall.json",), "fig5_6a_ann", _ANN),
    Figure("6a", _I, "nearest-neighbour search: 1-recall@T, RVQ and its baseline",
           (f"{_I}/Figure 6/Recall_RVQ_Fig6-a.json",), "fig5_6a_ann", _ANN),
    Figure("6b", _I, "complexity (log10 WMOPS) against bitrate, D = 128",
           (f"{_I}/Figure 6/Complexity_Fig6-b.json",), "fig4c_6b_complexity", _COMPLEXITY),
    Figure("sfvq2d", _S, "SFVQ and VQ on 2-D data: MSE, the curve and the Voronoi cells",
           (f"{_S}/sfvq_2d_mse.json",), "sfvq_2d", _INTERSPEECH, (f"{_S}/sfvq_2d",)),
    Figure("sfvqtime", _S, "SFVQ index over time for one sentence, with its phones",
           (f"{_S}/index_vs_time.json",), _PHONES, _INTERSPEECH, (f"{_S}/audio", f"{_S}/models")),
    Figure("sfvqgroups", _S, "SFVQ index histograms of the seven phone groups",
           (f"{_S}/phone_group_histograms.json",), _PHONES, _INTERSPEECH),
    Figure("sfvqfricatives", _S, "SFVQ index histograms of the fricatives",
           (f"{_S}/fricative_histograms.json",), _PHONES, _INTERSPEECH),
    Figure("sfvqcontrol", _S, "the same histograms for a plain VQ (the control)",
           (f"{_S}/vq_phone_group_histograms.json",), _PHONES, _INTERSPEECH),
    Figure("sfvqdivergence", _S, "phone divergence of adjacent indices, SFVQ against VQ",
           (f"{_S}/adjacent_index_divergence.json",), _PHONES, _INTERSPEECH),
    Figure("nsvq1", _N, "speech coding: PESQ, STOI and pSNR per estimator against bitrate",
           tuple(f"{_N}/Figure 1/{m}.json" for m in ("PESQ", "STOI", "pSNR")), "nsvq2022_fig1_speech",
           _NSVQ_SPEECH, (f"{_N}/Figure 1/usage.json",)),
    Figure("nsvq3", _N, "image VQ-VAE, one VQ codebook: peak SNR and SSIM per estimator against bits",
           (f"{_N}/Figure 3/PeakSNR.json", f"{_N}/Figure 3/SSIM.json"), "nsvq2022_fig3_images", _NSVQ_IMAGES,
           (f"{_N}/Figure 3/usage.json",)),
)
_BY_ID = {f.id: f for f in FIGURES}


def figure_ids(runner: str | None = None) -> tuple[str, ...]:
    """The ids of every figure, or of those that ``runner`` (``"module:function"``) makes, in order."""
    return tuple(f.id for f in FIGURES if runner is None or f.runner == runner)


def figure(figure_id: str) -> Figure:
    """The :class:`Figure` with ``figure_id`` (``"2a"``, ``"Figure 2a"``, ...)."""
    (key,) = parse_figures([figure_id], figure_ids())
    return _BY_ID[key]


def parse(figures: str | Iterable[str] | None) -> list[str]:
    """``"2a,2b,3"`` or ``["2a", "3"]`` -> a checked list in the papers' order; None -> all."""
    return parse_figures(figures, figure_ids())


def result_path(results_dir: str | os.PathLike, figure_id: str, index: int = 0) -> Path:
    """``<results_dir>/<file>``: the ``index``-th result file of a figure."""
    return Path(results_dir) / figure(figure_id).files[index]


def file_key(figure_id: str, index: int = 0) -> tuple[str, str]:
    """``(folder, file name)`` of the ``index``-th result file of a figure, e.g. ``("Figure 2",
    "correlated_dataset_Fig2-a.json")``: the ``figure`` and ``name`` that
    :func:`vqcore.io.results.find` and :func:`vqcore.plotting.figures.load_reference` take, so the
    authors' file of the figure is found under their folder (or any folder above it)."""
    path = Path(figure(figure_id).files[index])
    return path.parent.name, path.name


def runner_groups(figures: str | Iterable[str] | None) -> list[tuple[str, list[str]]]:
    """``[(runner, [figure ids])]``: the chosen figures (checked, as :func:`parse` does) grouped by
    runner; the figures and the runners in the papers' order (a runner where its first figure is)."""
    groups: dict[str, list[str]] = {}
    for fid in parse(figures):
        groups.setdefault(_BY_ID[fid].runner, []).append(fid)
    return list(groups.items())
