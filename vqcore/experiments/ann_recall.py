"""ICASSP 2023 Figures 5 and 6a: approximate nearest-neighbour search with 64-bit codes on SIFT.

What runs (see :func:`run_ann`; the settings are :data:`~vqcore.experiments.ann_presets.PRESETS`):

1. Data: :func:`vqcore.data.sift.build_sift_sets` (128-d SIFT descriptors from the bundled
   photographs; base, query and learning sets; exact ground truth by brute force).
   Every quantizer sees the same affine normalisation ``(x - mean) / rms`` fitted on the
   learning set (:func:`prepare_data`); it maps distances to a constant multiple, so rankings
   (and recall) are those of the raw descriptors, while NSVQ's Adam steps act on unit-scale values.
2. Proposed (:mod:`vqcore.experiments.ann_proposed`): :class:`vqcore.AdditiveVQ` (beam search),
   :class:`vqcore.ResidualVQ` and :class:`vqcore.ProductVQ` with ``M`` codebooks of ``2 ** bits``
   entries (paper: 8 x 256, 64-bit codes), trained with NSVQ on the learning set, one run per
   seed, with :func:`vqcore.training.fit_quantizer`:

   - codebooks start from data (``init_from_data``: random learning vectors, or, for RVQ, the
     residuals of a greedy pass), then Adam on NSVQ's output error with codebook replacement
     every ``replace_every`` steps; the last ``finetune_fraction`` of the steps run at
     ``lr * finetune_lr_factor`` without replacement (a step learning-rate decay). Without the
     decay, and with a few hundred steps, NSVQ's RVQ stays far from a classical RVQ and its
     recall falls below PVQ's (the book's page says more);
   - the learning set must be large enough for RVQ's and AVQ's 2048 full-dimensional codewords:
     with 10 000 learning vectors NSVQ's RVQ overfits (its training error ends far below its
     error on the base) and falls to PVQ's recall; the ``quick`` preset uses 30 000;
   - AVQ (``avq_init = "rvq"``) starts from the codebooks of the RVQ trained with the same seed
     (a greedy RVQ solution is a valid set of AVQ codebooks, and beam search over them already
     codes better than RVQ's greedy search) and then trains ``avq_steps`` NSVQ steps with
     beam-search encoding: a beam-search step costs far more than an RVQ step on a CPU, so the
     expensive steps start from a good point. ``"scratch"`` starts AVQ from data like the others.
3. Baselines with classical training (faiss-cpu, :mod:`vqcore.experiments.ann_baselines`):
   ``LocalSearchQuantizer`` (AVQ baseline), ``ResidualQuantizer`` with beam ``faiss_beam`` (RVQ
   baseline), ``ProductQuantizer`` (PVQ baseline), trained on the same normalised learning set,
   once (first seed).
4. Search: every base vector is encoded and decoded; queries are compared with the decoded base
   by asymmetric distance (:mod:`vqcore.eval.ann`); 1-recall@T for T = 1, 2, ..., 512 (Figure 5) and
   T = 1, 10, ..., 10000 (Figure 6a). A depth beyond the base size counts as the base size.

Each run (proposed or baseline, method, seed) is kept in a :class:`~vqcore.experiments.run_cache.RunCache`
under ``<results_dir>/.runs/ann/<preset>/``: a JSON record with what it measured and a
safetensors file with its ranks (and, for RVQ, its codebooks, which AVQ starts from). A run is
reused only when it was made with the same settings and data, so an interrupted run resumes
where it stopped and a changed setting recomputes.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.sift import SiftSets, build_sift_sets
from ..eval.ann import POWERS_OF_TEN, POWERS_OF_TWO, asymmetric_ranks, recall_at
from ..io import result_meta, results
from .ann_baselines import BASELINES, describe_baselines, faiss_version, run_baseline
from .ann_presets import PRESETS, AnnPreset
from .ann_proposed import PROPOSED, describe_proposed, run_proposed
from .common import get_preset, parse_figures, resolve_device, run_seeds
from .run_cache import RunCache
from .registry import figure_ids, result_path

logger = logging.getLogger(__name__)

__all__ = [
    "FIGURES", "RUN_FORMAT", "AnnData", "AnnOutcome", "AnnRun", "AnnRunKey", "AnnRuns", "compute_runs",
    "figure_methods", "prepare_data", "run_ann", "write_figure",
]

#: the figures this module makes (from :mod:`vqcore.experiments.registry`)
FIGURES: tuple[str, ...] = figure_ids(f"{__name__}:run_ann")
METRIC = "Recall @ T"
#: the run cache's format; bump when what a run stores changes
RUN_FORMAT = "vqcore-ann-run-3"
_QUANTILES = (0.05, 0.95)
_DATA_KEYS = ("n_base", "n_query", "n_learn", "seed", "scales", "c_dog", "query_fraction", "images")
_META_SETTINGS = ("stages", "bits_per_stage", "beam_width", "steps", "batch_size", "lr", "finetune_fraction",
                  "finetune_lr_factor", "replace_every", "replace_until", "avq_init", "avq_steps",
                  "avq_batch_size", "avq_lr", "faiss_beam", "rq_niter", "lsq_train_iters",
                  "lsq_encode_ils_iters", "pq_niter")


def figure_methods(figure: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(proposed, baselines)`` drawn in ``figure`` (``"5"`` or ``"6a"``), in the authors' order."""
    if figure == "5":
        return PROPOSED, ("AVQ", "PVQ")
    if figure == "6a":
        return ("RVQ",), ("RVQ",)
    raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")


# -- data ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnnData:
    """The SIFT sets, normalised: ``(x - mean(learn)) / scale`` with ``scale`` the rms of
    ``learn - mean``, one scalar (rankings unchanged).

    Attributes:
        sets: the raw sets (:class:`vqcore.data.sift.SiftSets`), with the ground truth.
        learn, base, query: ``(L, 128)``, ``(N, 128)``, ``(Q, 128)`` float32, normalised.
        scale: the rms; squared errors times ``scale ** 2`` are those of the raw descriptors.
    """

    sets: SiftSets
    learn: np.ndarray
    base: np.ndarray
    query: np.ndarray
    scale: float

    @property
    def key(self) -> dict[str, Any]:
        """The parameters that made the sets (part of every run's settings)."""
        return {k: self.sets.info.get(k) for k in _DATA_KEYS}


def prepare_data(p: AnnPreset, seed: int, cache_dir: str | os.PathLike | None, device: torch.device) -> AnnData:
    """Build (or load) the SIFT sets of preset ``p`` with ``seed`` and normalise them."""
    sets = build_sift_sets(p.n_base, p.n_query, p.n_learn, seed, scales=p.scales, c_dog=p.c_dog,
                           query_fraction=p.query_fraction, images=p.images, cache_dir=cache_dir, device=device)
    mean = sets.learn.mean(0, keepdims=True)
    scale = float(np.sqrt(((sets.learn - mean) ** 2).mean()))
    learn, base, query = (((x - mean) / scale).astype(np.float32) for x in (sets.learn, sets.base, sets.query))
    return AnnData(sets=sets, learn=learn, base=base, query=query, scale=scale)


# -- runs ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnnRunKey:
    """One run: ``kind`` ``"proposed"`` or ``"baseline"``, its method and seed."""

    kind: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.method}-seed{self.seed}"


@dataclass(frozen=True)
class AnnRun:
    """What one run keeps: ``ranks`` ``(Q,)`` int64 (rank of each query's true neighbour),
    ``info`` (timings, base MSE, recall@1, ...), and for RVQ proposed its ``codebooks``."""

    ranks: np.ndarray
    info: dict[str, Any]
    codebooks: torch.Tensor | None = None


#: the fields of a run record that the result files read (a record without them is recomputed)
RECORD_FIELDS = {"info": {"train_s": float, "encode_s": float, "recall_1": float, "base_mse": float}}


class AnnRuns:
    """The runs of one preset on one data set: each computed once, stored in a :class:`RunCache`
    under ``root`` and reused from there when its settings (preset and data) match."""

    def __init__(self, p: AnnPreset, data: AnnData, root: str | os.PathLike, device: torch.device,
                 progress: bool) -> None:
        self.preset = p
        self.data = data
        self.device = device
        self.progress = progress
        self.cache = RunCache(root, RUN_FORMAT)
        run_settings = {k: v for k, v in p.as_dict().items() if k not in ("name", "seeds", "notes")}
        self.settings = json.loads(json.dumps({"preset": run_settings, "data": data.key}))
        self._done: dict[AnnRunKey, AnnRun] = {}

    def proposed(self, method: str, seed: int) -> AnnRun:
        """The proposed ``method`` trained with ``seed`` (AVQ from the RVQ run of ``seed`` when
        ``avq_init`` is ``"rvq"``)."""
        key = AnnRunKey("proposed", method, seed)
        if key in self._done:
            return self._done[key]
        with self.cache.claim(key):
            run = self._stored(key, need_codebooks=method == "RVQ")
            if run is not None:
                return run
            warm = self.proposed("RVQ", seed).codebooks if method == "AVQ" and self.preset.avq_init == "rvq" else None
            d = self.data
            decoded, info, q = run_proposed(method, seed, self.preset, d.learn, d.base, self.device, self.progress,
                                            warm)
            codebooks = q.codebooks.detach().cpu().clone() if method == "RVQ" else None
            return self._finish(key, decoded, info, codebooks)

    def baseline(self, method: str, seed: int) -> AnnRun:
        """The faiss baseline of ``method`` trained with ``seed``."""
        key = AnnRunKey("baseline", method, seed)
        if key in self._done:
            return self._done[key]
        with self.cache.claim(key):
            run = self._stored(key)
            if run is not None:
                return run
            decoded, timing = run_baseline(method, seed, self.preset, self.data.learn, self.data.base)
            return self._finish(key, decoded, timing)

    def _stored(self, key: AnnRunKey, need_codebooks: bool = False) -> AnnRun | None:
        """The run ``key`` from the cache when it is there whole (ranks of every query, in range; the RVQ
        codebooks when ``need_codebooks``; the record's fields), else None."""
        p, (n_base, dim) = self.preset, self.data.base.shape
        like = {"ranks": torch.empty((self.data.query.shape[0],), dtype=torch.int64, device="meta")}
        if need_codebooks:
            like["codebooks"] = torch.empty((p.stages, 2 ** p.bits_per_stage, dim), device="meta")
        stored = self.cache.get_stored(key, self.settings, fields=RECORD_FIELDS, like=like)
        if stored is None:
            return None
        record, tensors = stored
        ranks = tensors["ranks"]
        if ranks.numel() and not (int(ranks.min()) >= 0 and int(ranks.max()) < n_base):
            logger.warning("ignoring damaged %s (ranks outside [0, %d)); the run will be recomputed",
                           self.cache.tensors_path(key), n_base)
            return None
        logger.info("ANN: resumed %s %s seed %d from %s", key.kind, key.method, key.seed, self.cache.root)
        run = AnnRun(ranks=ranks.numpy(), info=record["info"], codebooks=tensors.get("codebooks"))
        self._done[key] = run
        return run

    def _finish(self, key: AnnRunKey, decoded: np.ndarray, info: Mapping[str, Any],
                codebooks: torch.Tensor | None = None) -> AnnRun:
        d = self.data
        ranks = asymmetric_ranks(d.query, decoded, d.sets.ground_truth, device=self.device)
        mse = float(((decoded - d.base) ** 2).sum(1).mean() * d.scale ** 2)
        full = dict(info, base_mse=mse, recall_1=float((ranks < 1).mean()))
        logger.info("ANN %s %s seed %d: %s", key.kind, key.method, key.seed, full)
        tensors = {"ranks": torch.from_numpy(ranks)}
        if codebooks is not None:
            tensors["codebooks"] = codebooks
        self.cache.put_tensors(key, self.settings, {"info": full}, tensors)
        run = AnnRun(ranks=ranks, info=full, codebooks=codebooks)
        self._done[key] = run
        return run


@dataclass(frozen=True)
class AnnOutcome:
    """The runs the chosen figures draw: proposed runs per method (one per seed, in ``seeds``
    order) and one baseline run per method."""

    seeds: list[int]
    proposed: dict[str, list[AnnRun]]
    baseline: dict[str, AnnRun]

    def infos(self) -> dict[str, Any]:
        """``{"<method> proposed": [info per seed], "<method> baseline": info}``."""
        out: dict[str, Any] = {f"{m} proposed": [r.info for r in runs] for m, runs in self.proposed.items()}
        out.update({f"{m} baseline": r.info for m, r in self.baseline.items()})
        return out

    def compute_s(self) -> float:
        """Training and encoding seconds of every run, also of runs resumed from the cache."""
        runs = [r for rs in self.proposed.values() for r in rs] + list(self.baseline.values())
        return sum(r.info["train_s"] + r.info["encode_s"] for r in runs)


def compute_runs(runs: AnnRuns, figures: Sequence[str], seeds: Sequence[int]) -> AnnOutcome:
    """Compute (or resume) every run ``figures`` draw: proposed with each of ``seeds``, RVQ first
    (AVQ starts from it), then the baselines with the first seed."""
    need_p = [m for m in PROPOSED if any(m in figure_methods(f)[0] for f in figures)]
    need_b = [m for m in BASELINES if any(m in figure_methods(f)[1] for f in figures)]
    proposed: dict[str, list[AnnRun]] = {m: [] for m in need_p}
    for m in sorted(need_p, key=("RVQ", "PVQ", "AVQ").index):
        proposed[m] = [runs.proposed(m, s) for s in seeds]
    baseline = {m: runs.baseline(m, seeds[0]) for m in need_b}
    return AnnOutcome(seeds=list(seeds), proposed=proposed, baseline=baseline)


# -- result files ----------------------------------------------------------------------------------

def _series(figure: str, outcome: AnnOutcome, n_base: int) -> dict[str, Any]:
    depths = POWERS_OF_TWO if figure == "5" else POWERS_OF_TEN
    methods_p, methods_b = figure_methods(figure)
    out: dict[str, Any] = {"Metric": METRIC, "T": [str(t) for t in depths]}
    capped = [min(int(t), n_base) for t in depths]
    for m in methods_p:
        per_seed = np.array([recall_at(r.ranks, capped) for r in outcome.proposed[m]])
        s = result_meta.summarize(per_seed, axis=0, quantiles=_QUANTILES)
        out[f"Mean ({m} proposed)"] = s.mean
        out[f"Quantile Low ({m} proposed)"] = s.low
        out[f"Quantile High ({m} proposed)"] = s.high
    for m in methods_b:
        out[f"{m} baseline"] = recall_at(outcome.baseline[m].ranks, capped)
    return out


def _data_meta(p: AnnPreset, data: AnnData) -> dict[str, Any]:
    sets = data.sets
    return {
        "name": "SIFT descriptors (skimage.feature.SIFT) of the photographs in skimage.data and "
                "sklearn load_sample_images; queries from held-out images",
        "n_base": len(data.base), "n_query": len(data.query), "n_learn": len(data.learn),
        "dim": int(data.base.shape[1]), "scales": list(p.scales), "c_dog": p.c_dog,
        "base_images": sets.base_images, "query_images": sets.query_images,
        "n_base_pool": sets.info.get("n_base_pool"), "n_query_pool": sets.info.get("n_query_pool"),
    }


def _settings_meta(p: AnnPreset) -> dict[str, Any]:
    settings = {k: getattr(p, k) for k in _META_SETTINGS}
    settings.update({
        "scales": list(p.scales),
        "code_bits": p.code_bits,
        "estimator": "nsvq",
        "init": "init_from_data (random learning vectors; greedy residuals for RVQ)",
        "normalisation": "(x - mean(learn)) / rms(learn - mean), one scalar: rankings unchanged",
        "depth_beyond_base": "recall at T > n_base is recall at n_base (= 1)",
    })
    return settings


def _drawn_in(entries: Mapping[str, Any], figure: str) -> dict[str, Any]:
    """The ``"<method> proposed|baseline"`` entries of ``entries`` that ``figure`` draws."""
    proposed, baselines = figure_methods(figure)
    return {k: v for k, v in entries.items() if k.split()[0] in (proposed if "proposed" in k else baselines)}


def write_figure(figure: str, results_dir: str | os.PathLike, p: AnnPreset, device: torch.device, data: AnnData,
                 outcome: AnnOutcome, wall_s: float) -> Path:
    """Write the result file of ``figure`` (its series and meta) under ``results_dir``; returns its path."""
    methods = {**describe_proposed(p), **describe_baselines(p)}
    meta = result_meta.make_meta(p.name, outcome.seeds, device, quantiles=_QUANTILES, over="training seeds",
                             figure=figure, paper="icassp2023", notes=p.notes, data=_data_meta(p, data),
                             settings=_settings_meta(p), methods=_drawn_in(methods, figure),
                             runs=_drawn_in(outcome.infos(), figure), wall_time_s=round(wall_s, 2),
                             compute_s=round(outcome.compute_s(), 2), baseline_seed=outcome.seeds[0],
                             faiss_version=faiss_version())
    obj = _series(figure, outcome, len(data.base))
    obj["meta"] = meta
    return results.write(obj, result_path(results_dir, figure))


def run_ann(figures: str | Iterable[str] | None, preset: str | AnnPreset, results_dir: str | os.PathLike,
            device: str | torch.device | None, *, progress: bool = True, seeds: Sequence[int] | None = None,
            checkpoint_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
            overrides: Mapping[str, Any] | None = None) -> list[Path]:
    """Run Figures 5 and/or 6a and write their result files.

    Args:
        figures: any of ``"5"`` and ``"6a"`` (:data:`FIGURES`; None: both); only the methods they draw are run.
        preset: ``"smoke"``, ``"quick"`` or ``"paper"`` (see :data:`PRESETS`), or an :class:`AnnPreset`.
        results_dir: the ``Results`` root; writes the figures' files named in
            :mod:`vqcore.experiments.registry` (``icassp2023/Figure 5/Recall.json``,
            ``icassp2023/Figure 6/Recall_RVQ_Fig6-a.json``) under it.
        device: torch device for training, encoding, ground truth and search (``"auto"``: CUDA
            when present, else CPU). faiss baselines always run on the CPU.
        progress: show training progress bars.
        seeds: training seeds of the proposed methods (default: the preset's); the data split
            and the baselines use the first.
        checkpoint_dir: the run cache's root (default: ``<results_dir>/.runs/ann``); the runs of a
            preset are kept in ``<checkpoint_dir>/<preset>``.
        cache_dir: SIFT cache (default :func:`vqcore.data.sift.default_cache_dir`).
        overrides: preset settings to replace (for experiments and tests).
    Returns:
        The result files written, in the order of :data:`FIGURES`.
    """
    p = get_preset(PRESETS, preset, overrides)
    figs = parse_figures(figures, FIGURES)
    seeds = list(run_seeds(p, seeds))
    dev = resolve_device(device)
    t_start = time.perf_counter()
    data = prepare_data(p, seeds[0], cache_dir, dev)
    root = Path(checkpoint_dir) if checkpoint_dir is not None else Path(results_dir) / ".runs" / "ann"
    outcome = compute_runs(AnnRuns(p, data, root / p.name, dev, progress), figs, seeds)
    wall = time.perf_counter() - t_start
    return [write_figure(fig, results_dir, p, dev, data, outcome, wall) for fig in figs]

