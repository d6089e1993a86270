"""The Gaussian toy experiment of the ICASSP 2023 paper: Figures 2a, 2b and 3.

AVQ, RVQ and PVQ (``M = 4`` codebooks, bits split evenly, NSVQ, Adam, codebook replacement)
are trained on seeded Gaussian data (:mod:`vqcore.data.gaussian`) at
12, 16, ..., 40 bits per vector, and their MSE is measured on a held-out test set.

- Figure 2a: correlated data, ``D = 64``.
- Figure 2b: uncorrelated data, ``D = 64``.
- Figure 3: uncorrelated data, ``D = 64, 128, 256`` (the authors' Figure 3 file at ``D = 64``
  holds the same numbers as their Figure 2b file, so Figure 3 uses the uncorrelated source; its
  ``D = 64`` runs are the Figure 2b runs, computed once).

**Initialisation.** With ``preset.init = "uniform"`` (all presets) every codebook entry starts
from ``U(-1/K, 1/K)``, as in the authors' published code; ``"data"`` uses the quantizers'
``init_from_data`` instead (see :class:`~vqcore.experiments.toy_presets.ToyPreset` for why it is
not the default). With ``preset.avq_init = "rvq"`` (the ``smoke`` and ``quick`` presets) AVQ
starts from the codebooks of the RVQ trained on the same data and seed (a greedy RVQ solution is
a valid set of AVQ codebooks) and is then trained with beam-search encoding for its own, smaller
budget: a beam-search step costs far more than an RVQ step on a CPU. With ``"scratch"``
(``paper``) it starts like the others.

**Data sources.** ``preset.uncorrelated_source`` and ``preset.correlated_source`` (default
``"gaussian"`` and ``"factor"``, the sources above, with the same numbers) may name any source of
:data:`vqcore.data.toy_sources.TOY_SOURCES`; with ``preset.fresh_data`` every training batch is a
fresh draw (:func:`toy_data`), and the test set stays a fixed seeded draw of ``num_test`` vectors.
A run whose ``data`` is a source's name (``"uniform"``) trains on that source
(:mod:`vqcore.experiments.toy_sources`, the study of which data the paper used).

**MSE** is the squared error summed over the ``D`` components of a vector and averaged over the
test vectors, ``mean_n ||x_n - Q(x_n)||^2`` (the scale of the authors' values, which grow with
``D`` and exceed 1 on unit-variance data, says they sum over components).

**Bands.** Each seed draws its own training and test sets, initialisation, batches and NSVQ
noise and gives one test MSE; a file's ``Mean (m)`` is the mean over seeds and its ``Quantile
Low/High (m)`` the ``preset.quantiles`` (0.05, 0.95) quantiles over seeds (numpy's linear
interpolation), as recorded in each file's ``meta``.

**Resumable.** Every finished run (data, dimension, method, bitrate, seed) is stored at once as
one small JSON file under ``<results_dir>/.runs/toy/<preset>/`` (temporary file, fsync,
``os.replace``), together with the settings that made it. A later call reuses a stored run whose
settings match and computes only the missing ones, so a killed run resumes where it stopped; the
figure files are assembled from the stored runs and written atomically by
:func:`vqcore.io.results.write`, under the names :mod:`vqcore.experiments.registry` gives them.
When AVQ starts from RVQ, the trained RVQ is stored beside its record (``<name>.safetensors``,
written first, also atomically; :class:`~vqcore.experiments.run_cache.RunCache`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..io import result_meta, results
from ..data.gaussian import KINDS, gaussian_dataset
from ..data.toy_sources import SourceSampler, parse_source, source_dataset
from ..quantizers.base import Quantizer
from ..quantizers.registry import build_quantizer
from ..training import fit_quantizer
from . import registry
from .common import get_preset, parse_figures, resolve_device, run_seeds, stable_seed
from .run_cache import RunCache
from .toy_presets import TOY_PRESETS, ToyPreset

logger = logging.getLogger(__name__)

__all__ = [
    "FIGURES",
    "METHODS",
    "RunKey",
    "ToyData",
    "compute_runs",
    "figure_files",
    "planned_runs",
    "run_settings",
    "run_toy",
    "source_name",
    "stored_runs",
    "toy_data",
    "train_and_evaluate",
]

#: the toy figures this module makes, as the registry lists them (``"2a", "2b", "3"``)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_toy")
#: the data kind of each figure; Figures 2a and 2b are at ``D = 64``, Figure 3 at ``preset.fig3_dims``
_DATA = {"2a": "correlated", "2b": "uncorrelated", "3": "uncorrelated"}
#: methods, in the order of the authors' files
METHODS = ("AVQ", "RVQ", "PVQ")
#: the fields of a run record that the result files read (a record without them is recomputed)
RECORD_FIELDS = {"mse": float, "train_seconds": float, "eval_seconds": float}
#: version of the stored run records; bump to invalidate old caches
RUN_FORMAT = "vqcore-toy-run/1"
MSE_DEFINITION = ("mean over test vectors of the squared error summed over the D components, "
                  "mean_n ||x_n - Q(x_n)||^2")


@dataclass(frozen=True, order=True)
class RunKey:
    """One training run: data kind, dimension, method, bits per vector, seed."""

    data: str
    dim: int
    method: str
    bits: int
    seed: int

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``correlated-d64-AVQ-12b-s0``."""
        return f"{self.data}-d{self.dim}-{self.method}-{self.bits}b-s{self.seed}"

    @property
    def run_seed(self) -> int:
        """Seed of the run's initialisation, batches and NSVQ noise (stable across machines)."""
        return stable_seed(self.name)


#: the source of each data kind in :mod:`vqcore.data.gaussian` (the numbers of ``gaussian_dataset``)
_DEFAULT_SOURCES = {"correlated": "factor", "uncorrelated": "gaussian"}


def source_name(data: str, preset: ToyPreset) -> str:
    """The :data:`~vqcore.data.toy_sources.TOY_SOURCES` name of a run's ``data``: a figure's kind
    (``"correlated"``, ``"uncorrelated"``) maps to the preset's source for it, a source name (or a
    :func:`~vqcore.data.toy_sources.parse_source` spec, ``"powerlaw@alpha=3"``) is itself."""
    if data in KINDS:
        return preset.source_of(data)
    parse_source(data)
    return data


@dataclass(frozen=True)
class ToyData:
    """What one run trains and tests on: ``train`` a fixed ``(num_train, D)`` set or a sampler of
    fresh batches, ``test`` the fixed seeded ``(num_test, D)`` test set."""

    train: torch.Tensor | SourceSampler
    test: torch.Tensor


def toy_data(data: str, dim: int, seed: int, preset: ToyPreset) -> ToyData:
    """The training data and test set of ``(data, dim, seed)`` at ``preset`` (:func:`source_name`).

    Today's sources on fixed sets come from :func:`vqcore.data.gaussian.gaussian_dataset`; any other
    source from :func:`vqcore.data.toy_sources.source_dataset` (the same seeding); with
    ``preset.fresh_data`` the training data is a :class:`~vqcore.data.toy_sources.SourceSampler`.
    """
    name, params = parse_source(source_name(data, preset))
    if data in KINDS and not preset.fresh_data and source_name(data, preset) == _DEFAULT_SOURCES[data]:
        split = gaussian_dataset(data, dim, preset.num_train, preset.num_test, seed=seed)
        return ToyData(split.train, split.test)
    if preset.fresh_data:
        test = source_dataset(name, dim, 1, preset.num_test, seed=seed, **params).test
        return ToyData(SourceSampler(name, dim, **params), test)
    split = source_dataset(name, dim, preset.num_train, preset.num_test, seed=seed, **params)
    return ToyData(split.train, split.test)


def _dimension_file(files: Sequence[str], dim: int) -> str:
    """The one of Figure 3's ``files`` (``.../Data_Dimension_<dim>.json``) that holds ``dim``."""
    for rel in files:
        if rel.removesuffix(".json").endswith(f"_{int(dim)}"):
            return rel
    raise ValueError(f"preset.fig3_dims: Figure 3 has no result file for dimension {dim} (it has {', '.join(files)})")


def _figure_panels(figure: str, preset: ToyPreset) -> list[tuple[str, int, str]]:
    """``(data kind, dimension, result file)`` of each result file of ``figure``; the file
    relative to the results folder, as the registry names it."""
    files = registry.figure(figure).files
    if figure == "3":
        return [(_DATA[figure], int(dim), _dimension_file(files, dim)) for dim in preset.fig3_dims]
    return [(_DATA[figure], 64, files[0])]


def figure_files(figure: str, preset: str | ToyPreset = "quick") -> list[str]:
    """The result files (relative paths) that ``figure`` writes at ``preset``."""
    (fig,) = parse_figures([figure], FIGURES)
    return [rel for _, _, rel in _figure_panels(fig, get_preset(TOY_PRESETS, preset))]


def planned_runs(figures: str | Iterable[str] | None = None, preset: str | ToyPreset = "quick",
                 seeds: Sequence[int] | None = None) -> list[RunKey]:
    """Every run the ``figures`` (None: all) need at ``preset``, without duplicates, grouped by
    data set (data kind, dimension, seed) and, within one, by bitrate with RVQ before AVQ."""
    p = get_preset(TOY_PRESETS, preset)
    seeds = tuple(p.seeds if seeds is None else seeds)
    panels: list[tuple[str, int]] = []
    for fig in parse_figures(figures, FIGURES):
        for kind, dim, _ in _figure_panels(fig, p):
            if (kind, dim) not in panels:
                panels.append((kind, dim))
    order = {"RVQ": 0, "PVQ": 1, "AVQ": 2}
    return [RunKey(kind, dim, method, bits, seed)
            for kind, dim in panels for seed in seeds for bits in p.bitrates
            for method in sorted(METHODS, key=order.__getitem__)]


def _run_cache(root: str | Path) -> RunCache:
    """The store of finished runs: ``<key.name>.json`` records and, for the RVQ runs that AVQ
    starts from, ``<key.name>.safetensors`` models."""
    return RunCache(root, RUN_FORMAT)


def run_settings(key: RunKey, preset: ToyPreset) -> dict[str, Any]:
    """Everything that determines the result of ``key`` at ``preset`` (validates the cache): the
    key, the training settings and, for a figure's data kind whose preset source is not the
    default, that source (a run keyed by a source name carries it in its key)."""
    out = {"key": key.__dict__.copy(), **preset.training_settings(key.method)}
    if key.data in KINDS and source_name(key.data, preset) != _DEFAULT_SOURCES[key.data]:
        out["source"] = source_name(key.data, preset)
    return out


def uniform_codebooks(quantizer: Quantizer, seed: int) -> torch.Tensor:
    """Codebooks of ``quantizer``'s shape drawn from ``U(-1/K, 1/K)`` (the authors' published
    initialisation), from a CPU generator seeded with ``seed``."""
    k = quantizer.codebook_size
    gen = torch.Generator().manual_seed(int(seed))
    books = torch.rand(tuple(quantizer.codebooks.shape), generator=gen) * (2.0 / k) - 1.0 / k
    return books.to(quantizer.codebooks)


@torch.no_grad()
def evaluate_mse(quantizer: Quantizer, x: torch.Tensor, batch_size: int = 4096) -> float:
    """``mean_n ||x_n - Q(x_n)||^2`` over the rows of ``x`` (hard quantization, inference mode)."""
    quantizer.eval()
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        total += float(((quantizer.quantize(xb) - xb) ** 2).sum(dtype=torch.float64))
    return total / x.shape[0]


def train_and_evaluate(key: RunKey, preset: ToyPreset, train: torch.Tensor | SourceSampler, test: torch.Tensor,
                       device: torch.device, init_from: Quantizer | None = None
                       ) -> tuple[dict[str, Any], Quantizer]:
    """Train the quantizer of ``key`` on ``train`` (a fixed set, or a sampler of fresh batches);
    return its record (test MSE, times, logs) and it.

    Phase 1: :func:`~vqcore.training.fit_quantizer` from the preset's initialisation
    (:func:`uniform_codebooks` or ``init_from_data``), or from the codebooks of ``init_from`` (a
    trained quantizer of the same shape), with codebook replacement; phase 2
    (the last ``preset.finetune_fraction`` of the steps): the same at ``lr *
    finetune_lr_factor`` without replacement. The global RNG (NSVQ noise) and the run's generator
    (initialisation, batches, replacement) are seeded from ``key.run_seed``.
    """
    torch.manual_seed(key.run_seed)
    q = build_quantizer(key.method, key.dim, key.bits, stages=preset.stages, beam_width=preset.beam_width,
                        ordered_track=False).to(device)  # AVQ: the paper's free-order search
    if init_from is not None:
        if init_from.codebooks.shape != q.codebooks.shape:
            raise ValueError(f"init_from has codebooks {tuple(init_from.codebooks.shape)}, "
                             f"{key.name} needs {tuple(q.codebooks.shape)}")
        q.codebooks.data.copy_(init_from.codebooks.detach().to(q.codebooks))
    elif preset.init == "uniform":
        q.codebooks.data.copy_(uniform_codebooks(q, key.run_seed + 2))
    fresh_from_data = init_from is None and preset.init == "data"
    train = train.to(device) if isinstance(train, torch.Tensor) else train
    test = test.to(device)
    steps, batch_size, lr = preset.budget(key.method)
    start = time.perf_counter()
    log = fit_quantizer(q, train, steps, batch_size=batch_size, lr=lr, replace_every=preset.replace_every,
                        replace_until=preset.replace_until, finetune_fraction=preset.finetune_fraction,
                        finetune_lr_factor=preset.finetune_lr_factor, init=fresh_from_data, seed=key.run_seed,
                        progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    mse = evaluate_mse(q, test, preset.eval_batch_size)
    eval_s = time.perf_counter() - start
    record = {
        "mse": mse,
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "replaced": sum(log.replaced),
        "final_train_loss": log.loss[-1] if log.loss else None,
        "warm_start": None if init_from is None else type(init_from).__name__,
        "device": str(device),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return record, q


def _assemble(figure: str, kind: str, dim: int, preset: ToyPreset, seeds: Sequence[int],
              records: dict[RunKey, dict[str, Any]], device: torch.device, wall_time: float,
              energy: float) -> results.ResultFile:
    labels = [f"{b} bits" for b in preset.bitrates]
    series: dict[str, results.Series] = {}
    compute = 0.0
    for method in METHODS:
        per_seed = [[records[RunKey(kind, dim, method, b, s)]["mse"] for b in preset.bitrates] for s in seeds]
        compute += sum(records[RunKey(kind, dim, method, b, s)]["train_seconds"]
                       + records[RunKey(kind, dim, method, b, s)]["eval_seconds"]
                       for b in preset.bitrates for s in seeds)
        summary = result_meta.summarize(per_seed, axis=0, quantiles=preset.quantiles)
        series[method] = results.Series(mean=summary.mean, low=summary.low, high=summary.high)
    if preset.fresh_data or source_name(kind, preset) != _DEFAULT_SOURCES[kind]:
        name, params = parse_source(source_name(kind, preset))
        data = source_dataset(name, dim, 1, 1, seed=seeds[0], **params).describe()
    else:
        data = gaussian_dataset(kind, dim, 1, 1, seed=seeds[0]).describe()
    for k in ("seed", "num_train", "num_test"):
        data.pop(k)
    data.update(num_train=None if preset.fresh_data else preset.num_train, num_test=preset.num_test,
                test_energy=energy, test_energy_definition="mean over seeds and test vectors of ||x||^2")
    if preset.fresh_data:
        data["training_data"] = "a fresh draw from the source for every batch"
    meta = result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over="seeds (one test-set MSE per seed; each seed draws its own training and test sets, "
             "initialisation, batches and NSVQ noise)",
        figure=figure, paper="icassp2023", data=data, metric_definition=MSE_DEFINITION,
        methods={"AVQ": f"AdditiveVQ, {preset.stages} codebooks, beam width {preset.beam_width}",
                 "RVQ": f"ResidualVQ, {preset.stages} stages",
                 "PVQ": f"ProductVQ, {preset.stages} parts of D/{preset.stages}"},
        training=("NSVQ, Adam, codebook replacement (vqcore.training.fit_quantizer); codebooks start "
                  + ("from U(-1/K, 1/K) (the authors' published initialisation)" if preset.init == "uniform"
                     else "from init_from_data")
                  + "; " + ("AVQ starts from the trained RVQ codebooks of the same data and seed, then trains "
                            "with beam-search encoding" if preset.avq_init == "rvq"
                            else "AVQ starts like the others")),
        settings=preset.as_dict(), compute_seconds=round(compute, 3), wall_time_s=round(wall_time, 3),
    )
    context: dict[str, Any] = {"Data": kind.capitalize()} if figure in ("2a", "2b") else {"Data Dimension": dim}
    return results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=labels, series=series, context=context, meta=meta)


def _trained_rvq(key: RunKey, preset: ToyPreset, cache: RunCache, split: Any, device: torch.device,
                 records: dict[RunKey, dict[str, Any]]) -> Quantizer:
    """The RVQ trained on the same data and seed as the AVQ run ``key`` (stored, or trained now)."""
    rvq_key = RunKey(key.data, key.dim, "RVQ", key.bits, key.seed)
    settings = run_settings(rvq_key, preset)
    expect = {"class": "ResidualVQ", "dim": key.dim, "stages": preset.stages,
              "bits_per_stage": key.bits // preset.stages}
    with cache.claim(rvq_key):
        model = cache.get_quantizer(rvq_key, settings, device, expect=expect)
        if model is None:
            logger.info("%s: no stored RVQ to start from; training %s again", key.name, rvq_key.name)
            record, model = train_and_evaluate(rvq_key, preset, split.train, split.test, device)
            cache.put_quantizer(rvq_key, model)
            cache.put(rvq_key, settings, record)
            records[rvq_key] = record
    return model


def _run_one(key: RunKey, preset: ToyPreset, cache: RunCache, device: torch.device,
             records: dict[RunKey, dict[str, Any]], split: Any,
             on_run: Callable[[RunKey, dict[str, Any]], None] | None) -> None:
    """Run ``key`` (its lock held): read it when another runner stored it meanwhile, else train,
    test and store it; add its record to ``records``."""
    stored = cache.get(key, run_settings(key, preset), fields=RECORD_FIELDS)
    if stored is not None:
        records[key] = stored
        return
    warm = None
    if key.method == "AVQ" and preset.avq_init == "rvq":
        warm = _trained_rvq(key, preset, cache, split, device, records)
    record, model = train_and_evaluate(key, preset, split.train, split.test, device, init_from=warm)
    if key.method == "RVQ" and preset.avq_init == "rvq":
        cache.put_quantizer(key, model)
    cache.put(key, run_settings(key, preset), record)
    records[key] = record
    logger.info("%s: MSE %.4f (train %.1f s, test %.1f s)", key.name, record["mse"],
                record["train_seconds"], record["eval_seconds"])
    if on_run is not None:
        on_run(key, record)


def stored_runs(keys: Iterable[RunKey], preset: ToyPreset, cache: RunCache
                ) -> tuple[dict[RunKey, dict[str, Any]], list[RunKey]]:
    """The records of ``keys`` that ``cache`` holds with ``preset``'s settings, and the keys still to compute."""
    records: dict[RunKey, dict[str, Any]] = {}
    todo = []
    for key in keys:
        record = cache.get(key, run_settings(key, preset), fields=RECORD_FIELDS)
        if record is None:
            todo.append(key)
        else:
            records[key] = record
    return records, todo


def compute_runs(todo: Sequence[RunKey], preset: ToyPreset, cache: RunCache, device: torch.device,
             records: dict[RunKey, dict[str, Any]], progress: bool,
             on_run: Callable[[RunKey, dict[str, Any]], None] | None) -> None:
    """Train and test the runs ``todo`` in order, storing each (and adding it to ``records``) at once.
    A run another runner holds is left for later, then waited for and read."""
    data: dict[tuple[str, int, int], Any] = {}

    def split_of(key: RunKey) -> Any:
        ident = (key.data, key.dim, key.seed)
        if ident not in data:
            data.clear()  # one data set at a time
            data[ident] = toy_data(key.data, key.dim, key.seed, preset)
        return data[ident]

    later = []
    bar = tqdm(todo, desc=f"toy ({preset.name})", disable=not progress, unit="run")
    for key in bar:
        bar.set_postfix_str(key.name)
        with cache.claim(key, wait=False) as held:
            if held:
                _run_one(key, preset, cache, device, records, split_of(key), on_run)
            else:
                later.append(key)
    for key in later:
        with cache.claim(key):
            _run_one(key, preset, cache, device, records, split_of(key), on_run)
    bar.close()


def _test_energy(kind: str, dim: int, preset: ToyPreset, seeds: Sequence[int]) -> float:
    """Mean over ``seeds`` and test vectors of ``||x||^2``."""
    name, params = parse_source(source_name(kind, preset))
    per_seed = [float((source_dataset(name, dim, 1, preset.num_test, seed=s, **params).test ** 2).sum(-1).mean())
                for s in seeds]
    return sum(per_seed) / len(seeds)


def run_toy(figures: str | Iterable[str] | None = None, preset: str | ToyPreset = "quick",
            results_dir: str | Path = "Results", device: str | torch.device | None = "auto", *,
            progress: bool = True, seeds: Sequence[int] | None = None, cache_dir: str | Path | None = None,
            on_run: Callable[[RunKey, dict[str, Any]], None] | None = None) -> list[Path]:
    """Run (or resume) the toy experiment for ``figures`` and write their result files (the
    :class:`~vqcore.experiments.common.Runner` signature).

    Args:
        figures: any of ``"2a"``, ``"2b"``, ``"3"`` (``"Figure 2a"`` and ``"2a,3"`` too); None: all.
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or a :class:`~vqcore.experiments.toy_presets.ToyPreset`.
        results_dir: the ``Results`` folder; files go to ``<results_dir>/icassp2023/Figure N/``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        progress: show a tqdm bar over the runs.
        seeds: override the preset's seeds.
        cache_dir: where finished runs are stored (default ``<results_dir>/.runs/toy/<preset>``).
        on_run: called with ``(key, record)`` after each run is computed and stored.
    Returns:
        The result files written.
    """
    p = get_preset(TOY_PRESETS, preset)
    figs = parse_figures(figures, FIGURES)
    seeds = run_seeds(p, seeds)
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = _run_cache(cache_dir if cache_dir is not None else results_dir / ".runs" / "toy" / p.name)
    start = time.perf_counter()
    records, todo = stored_runs(planned_runs(figs, p, seeds), p, cache)
    logger.info("toy experiment, preset %s, figures %s on %s: %d runs stored, %d to compute",
                p.name, ",".join(figs), dev, len(records), len(todo))
    compute_runs(todo, p, cache, dev, records, progress, on_run)
    wall = time.perf_counter() - start
    energies: dict[tuple[str, int], float] = {}
    written = []
    for fig in figs:
        for kind, dim, rel in _figure_panels(fig, p):
            if (kind, dim) not in energies:
                energies[(kind, dim)] = _test_energy(kind, dim, p, seeds)
            result = _assemble(fig, kind, dim, p, seeds, records, dev, wall, energies[(kind, dim)])
            written.append(results.write(result, results_dir / rel))
    return written
