"""The data-hypothesis study: on which source do our toy curves fall like the paper's?

The paper does not say how its toy data was made. Ours/paper differs by a scale per dimension,
so the comparison is scale-free: the *fall* ``MSE(high rate) / MSE(low rate)`` (12 and 40 bits
by default) of every method, ours on each source of :data:`vqcore.data.toy_sources.TOY_SOURCES`
against the paper's. Uncorrelated sources run at ``D = 64, 128, 256`` (the paper's Figures 2b
and 3), correlated ones at ``D = 64`` (Figure 2a); AVQ, RVQ and PVQ train with a toy preset's
recipe (:func:`vqcore.experiments.toy.train_and_evaluate`), one seed.

Every finished run is stored at once under ``<results_dir>/.runs/toy_sources/<preset>/`` (the
run cache of :mod:`vqcore.experiments.toy`; a killed study resumes), and every ``(source, D)``
gets a result file ``<results_dir>/icassp2023/toy_sources/<source>_d<D>.json`` (presets other
than ``quick`` in a ``<preset>/`` folder below it) in our results layout. A run of some methods
only adds their curves to that file and keeps the others where they were made with the same
settings (:func:`kept_methods`). :func:`summary` reads
those files and the paper's, and :func:`closest` names the source closest to each figure; the
Gaussian rate-distortion bound of each source's covariance (reverse water-filling,
:func:`gaussian_rd_mse`) gives the fall an ideal quantizer would have on Gaussian data.

    python -m vqcore.experiments.toy_sources --preset quick --results-dir Results
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.toy_sources import TOY_SOURCES, parse_source, source_dataset, source_spectrum
from ..io import result_meta, results
from . import registry
from .common import get_preset, resolve_device
from .run_cache import RunCache
from .toy import METHODS, MSE_DEFINITION, RunKey, compute_runs, stored_runs
from .toy_presets import AUTHORS_PRESET, TOY_PRESETS, ToyPreset

logger = logging.getLogger(__name__)

__all__ = ["CORRELATED_DIMS", "RATES", "STUDY_PRESETS", "UNCORRELATED_DIMS", "closest", "gaussian_rd_mse",
           "kept_methods", "load_study", "main", "paper_file", "planned_runs", "rd_fall", "result_path",
           "run_study", "source_kind", "split_sources", "study_preset", "summary"]

#: the rates of the study (bits per vector); the fall is between the lowest and the highest
RATES: tuple[int, ...] = (12, 24, 40)
UNCORRELATED_DIMS: tuple[int, ...] = (64, 128, 256)
CORRELATED_DIMS: tuple[int, ...] = (64,)
#: the toy presets the study accepts by name
STUDY_PRESETS: dict[str, ToyPreset] = {**TOY_PRESETS, "authors": AUTHORS_PRESET}
RUN_FORMAT = "vqcore-toy-sources-run/1"
#: the folder of the study's files below the results folder
FOLDER = "icassp2023/toy_sources"


def study_preset(preset: str | ToyPreset, rates: Sequence[int] = RATES, seed: int = 0) -> ToyPreset:
    """The toy ``preset`` (a name of :data:`STUDY_PRESETS` or a preset) at ``rates`` and one ``seed``."""
    p = get_preset(STUDY_PRESETS, preset)
    rates = tuple(int(r) for r in rates)
    if not rates or any(r < p.stages or r % p.stages for r in rates):
        raise ValueError(f"rates must be multiples of stages={p.stages}, got {rates}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return dataclasses.replace(p, bitrates=tuple(sorted(set(rates))), seeds=(int(seed),))


def source_kind(spec: str) -> str:
    """``"uncorrelated"`` or ``"correlated"``: the kind of the source a spec names (``"ar1@rho=0.99"``)."""
    return TOY_SOURCES[parse_source(spec)[0]].kind


def _dims(source: str, uncorrelated_dims: Sequence[int], correlated_dims: Sequence[int]) -> tuple[int, ...]:
    return tuple(correlated_dims if source_kind(source) == "correlated" else uncorrelated_dims)


def _check_sources(sources: Iterable[str] | None) -> tuple[str, ...]:
    chosen = tuple(TOY_SOURCES) if sources is None else tuple(sources)
    for name in chosen:
        parse_source(name)
    if not chosen:
        raise ValueError("sources must name at least one source")
    return chosen


def planned_runs(sources: Iterable[str] | None, preset: ToyPreset, *, methods: Sequence[str] = METHODS,
                 uncorrelated_dims: Sequence[int] = UNCORRELATED_DIMS,
                 correlated_dims: Sequence[int] = CORRELATED_DIMS) -> list[RunKey]:
    """The runs of the study (``RunKey.data`` is the source's name), RVQ before AVQ at each rate."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"methods must be some of {METHODS}, got {tuple(methods)}")
    order = {"RVQ": 0, "PVQ": 1, "AVQ": 2}
    return [RunKey(src, int(dim), m, bits, seed) for src in _check_sources(sources)
            for dim in _dims(src, uncorrelated_dims, correlated_dims) for seed in preset.seeds
            for bits in preset.bitrates for m in sorted(methods, key=order.__getitem__)]


def result_path(results_dir: str | Path, preset: ToyPreset, source: str, dim: int) -> Path:
    """``<results_dir>/icassp2023/toy_sources/[<preset>/]<source>_d<dim>.json`` (no folder for ``quick``)."""
    folder = Path(results_dir) / FOLDER
    return (folder if preset.name == "quick" else folder / preset.name) / f"{source}_d{int(dim)}.json"


def _data_description(source: str, dim: int, preset: ToyPreset) -> dict[str, Any]:
    """The ``meta.data`` of a result file: the source's description and how much data the preset draws."""
    name, params = parse_source(source)
    data = source_dataset(name, dim, 1, 1, seed=preset.seeds[0], **params).describe()
    for k in ("seed", "num_train", "num_test"):
        data.pop(k)
    data.update(num_train=None if preset.fresh_data else preset.num_train, num_test=preset.num_test,
                fresh_data=preset.fresh_data)
    return data


def _json(value: Any) -> Any:
    """``value`` as it reads back from a JSON file (tuples become lists)."""
    return json.loads(json.dumps(value))


def kept_methods(path: str | Path, dim: int, preset: ToyPreset, methods: Sequence[str]
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """The curves of the result file at ``path`` (dimension ``dim``) that this run does not make
    (methods not in ``methods``), where they were made with the settings ``preset`` gives them
    (the same data, seed, rates and training settings), and their compute seconds.

    A study of one method (``--methods AVQ``) thus adds its curve to a file that holds the others
    instead of replacing them. Returns ``({method: {"series", "budget", "seconds"}}, unattributed)``:
    ``seconds`` from the file's ``meta.compute_seconds_by_method``; a file from before that field
    holds one sum for all its curves, returned as ``unattributed`` (``{"methods", "seconds"}``,
    kept in the new file as ``meta.compute_seconds_unattributed``) while all those curves are kept
    (None, with a warning, once some are made again: their share is unknown).
    """
    path = Path(path)
    if not path.is_file():
        return {}, None
    old = results.load(path)
    budget = old.meta.get("budget") or {}
    same = (old.x == [f"{b} bits" for b in preset.bitrates] and list(old.meta.get("seeds", [])) == list(preset.seeds)
            and old.meta.get("data") == _json(_data_description(str(old.meta.get("source")), dim, preset)))
    by_method = old.meta.get("compute_seconds_by_method")
    kept = {}
    for m, series in old.series.items():
        if m in methods:
            continue
        if not same or budget.get(m) != _json(preset.training_settings(m)):
            logger.info("%s: its %s curve was made with other settings and is dropped", path, m)
            continue
        kept[m] = {"series": series, "budget": budget[m], "seconds": by_method.get(m) if by_method else None}
    # the compute of curves made before per-method accounting: one sum over the methods it covers
    legacy = old.meta.get("compute_seconds_unattributed") or (
        None if by_method else {"methods": sorted(old.series), "seconds": old.meta.get("compute_seconds") or 0.0})
    if legacy and set(legacy["methods"]) <= set(kept):
        return kept, legacy
    if legacy and set(legacy["methods"]) & set(kept):
        logger.warning("%s: the compute of %s was recorded as one sum and some are made again: the kept curves' "
                       "seconds are not counted", path, ", ".join(legacy["methods"]))
    return kept, None


def _assemble(source: str, dim: int, preset: ToyPreset, methods: Sequence[str],
              records: dict[RunKey, dict[str, Any]], device: torch.device,
              kept: dict[str, dict[str, Any]] | None = None, unattributed: dict[str, Any] | None = None
              ) -> results.ResultFile:
    (seed,) = preset.seeds
    kept = kept or {}
    series, seconds, budget = {}, {}, {}
    for method in [m for m in METHODS if m in methods or m in kept] + [m for m in kept if m not in METHODS]:
        if method in kept:
            series[method], budget[method] = kept[method]["series"], kept[method]["budget"]
            if kept[method]["seconds"] is not None:
                seconds[method] = kept[method]["seconds"]
            continue
        recs = [records[RunKey(source, dim, method, b, seed)] for b in preset.bitrates]
        seconds[method] = round(sum(r["train_seconds"] + r["eval_seconds"] for r in recs), 3)
        summary_ = result_meta.summarize([[r["mse"] for r in recs]], axis=0, quantiles=preset.quantiles)
        series[method] = results.Series(mean=summary_.mean, low=summary_.low, high=summary_.high)
        budget[method] = preset.training_settings(method)
    compute = sum(seconds.values()) + (unattributed["seconds"] if unattributed else 0.0)
    extra = {"compute_seconds_unattributed": unattributed} if unattributed else {}
    meta = result_meta.make_meta(
        preset.name, preset.seeds, device, quantiles=preset.quantiles,
        over="one seed (the band is the single run's value)", paper="icassp2023", study="toy data sources",
        source=source, data=_data_description(source, dim, preset), metric_definition=MSE_DEFINITION, budget=budget,
        settings=preset.as_dict(), compute_seconds=round(compute, 3), compute_seconds_by_method=seconds, **extra,
    )
    return results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=[f"{b} bits" for b in preset.bitrates],
                              series=series, context={"Data Source": source, "Data Dimension": str(dim)}, meta=meta)


def run_study(preset: str | ToyPreset = "quick", results_dir: str | Path = "Results", *,
              sources: Iterable[str] | None = None, rates: Sequence[int] = RATES, seed: int = 0,
              methods: Sequence[str] = METHODS, uncorrelated_dims: Sequence[int] = UNCORRELATED_DIMS,
              correlated_dims: Sequence[int] = CORRELATED_DIMS, device: str | torch.device | None = "cpu",
              progress: bool = True, cache_dir: str | Path | None = None) -> list[Path]:
    """Run (or resume) the study and write one result file per ``(source, D)``; returns them.

    Args:
        preset: a toy preset (``smoke``, ``quick``, ``paper``, ``authors``) or a ToyPreset.
        results_dir: the ``Results`` folder (files under ``icassp2023/toy_sources/``).
        sources: names of :data:`~vqcore.data.toy_sources.TOY_SOURCES` (None: all), or specs with
            parameters (:func:`~vqcore.data.toy_sources.parse_source`, ``"powerlaw@alpha=3"``).
        rates, seed, methods: the rates, the one seed and the methods of every ``(source, D)``.
        uncorrelated_dims, correlated_dims: the dimensions of each kind of source.
        device: where to train; cache_dir: the run store (default ``<results_dir>/.runs/toy_sources/<preset>``).
    """
    p = study_preset(preset, rates, seed)
    dev = resolve_device(device)
    cache = RunCache(cache_dir if cache_dir is not None else Path(results_dir) / ".runs" / "toy_sources" / p.name,
                     RUN_FORMAT)
    keys = planned_runs(sources, p, methods=methods, uncorrelated_dims=uncorrelated_dims,
                        correlated_dims=correlated_dims)
    records, todo = stored_runs(keys, p, cache)
    logger.info("toy sources study, preset %s: %d runs stored, %d to compute", p.name, len(records), len(todo))
    start = time.perf_counter()
    compute_runs(todo, p, cache, dev, records, progress, None)
    logger.info("toy sources study: %d runs in %.1f s", len(todo), time.perf_counter() - start)
    written = []
    for src, dim in dict.fromkeys((k.data, k.dim) for k in keys):
        path = result_path(results_dir, p, src, dim)
        kept, unattributed = kept_methods(path, dim, p, methods)
        result = _assemble(src, dim, p, [m for m in METHODS if m in methods], records, dev, kept, unattributed)
        written.append(results.write(result, path))
    return written


def gaussian_rd_mse(eigenvalues: Sequence[float] | torch.Tensor, bits: float) -> float:
    """The Gaussian rate-distortion bound: the least ``E ||x - x_hat||^2`` at ``bits`` per vector for
    ``N(0, C)`` with eigenvalues ``eigenvalues`` (reverse water-filling, bisection on the level)."""
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    if lam.ndim != 1 or lam.numel() == 0 or bool((lam < 0).any()):
        raise ValueError("eigenvalues must be a non-empty 1-D sequence of values >= 0")
    if bits < 0:
        raise ValueError(f"bits must be >= 0, got {bits}")
    lam = lam[lam > 0]

    def rate(theta: float) -> float:
        return float(0.5 * torch.log2(lam / theta).clamp(min=0).sum())

    lo, hi = float(lam.max()) * 2.0 ** (-2.0 * bits) * 1e-3, float(lam.max())
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if rate(mid) > bits else (lo, mid)
    return float(torch.minimum(lam, torch.tensor(hi, dtype=torch.float64)).sum())


def rd_fall(source: str, dim: int, low: int, high: int) -> float:
    """``D(high) / D(low)`` of the Gaussian bound with the covariance spectrum of ``source`` at ``dim``
    (``2 ** (-2 (high - low) / dim)`` for a white source at these rates)."""
    name, params = parse_source(source)
    spec = source_spectrum(name, dim, **params)
    return gaussian_rd_mse(spec, high) / gaussian_rd_mse(spec, low)


def paper_file(kind: str, dim: int, reference_dir: str | Path = "reference") -> Path | None:
    """The authors' file a ``kind`` source at ``dim`` is compared with (Figure 2a for correlated
    data at ``D = 64``, 2b for uncorrelated at 64, Figure 3 at 128 and 256), or None."""
    if kind == "correlated":
        rel = registry.figure("2a").files[0] if dim == 64 else None
    elif dim == 64:
        rel = registry.figure("2b").files[0]
    else:
        rel = next((f for f in registry.figure("3").files if f.removesuffix(".json").endswith(f"_{dim}")), None)
    return None if rel is None else Path(reference_dir) / rel


def _figure_of(kind: str, dim: int) -> str:
    return "2a" if kind == "correlated" else ("2b" if dim == 64 else "3")


def _fall(result: results.ResultFile, method: str, low: str, high: str) -> float | None:
    s = result.series.get(method)
    if s is None or low not in result.x or high not in result.x:
        return None
    a, b = s.central[result.x.index(low)], s.central[result.x.index(high)]
    return None if a in (None, 0) or b is None else float(b) / float(a)


def load_study(results_dir: str | Path = "Results", preset: str = "quick") -> dict[tuple[str, int], results.ResultFile]:
    """The study's result files at ``preset``, ``{(source, D): file}``, in source registry order, then D."""
    p = get_preset(STUDY_PRESETS, preset)
    folder = result_path(results_dir, p, "x", 1).parent
    found = {}
    for path in folder.glob("*_d*.json"):
        r = results.load(path)
        found[(r.meta["source"], int(r.context["Data Dimension"]))] = r
    order = list(TOY_SOURCES)
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0][0].partition("@")[0]), kv[0][0], kv[0][1])))


def summary(results_dir: str | Path = "Results", reference_dir: str | Path = "reference",
            preset: str = "quick") -> list[dict[str, Any]]:
    """Per source, D and method of the study's files at ``preset``: our fall ``MSE(high)/MSE(low)``
    (the lowest and highest rate of our file), the paper's at the same rates, ``rel_diff`` (ours /
    paper - 1), the Gaussian bound's fall (:func:`rd_fall`), ``figure`` and whether
    ``|rel_diff| <= 0.02`` (``within_2pct``). Sorted by figure, D, source, method."""
    rows = []
    for (source, dim), ours in load_study(results_dir, preset).items():
        kind = source_kind(source)
        ref = paper_file(kind, dim, reference_dir)
        if ref is None or not ref.is_file():
            continue
        paper = results.load(ref)
        low, high = ours.x[0], ours.x[-1]
        bits = [int(x.split()[0]) for x in (low, high)]
        for method in METHODS:
            o, q = _fall(ours, method, low, high), _fall(paper, method, low, high)
            if o is None or q is None:
                continue
            rows.append({"figure": _figure_of(kind, dim), "source": source, "kind": kind, "dim": dim,
                         "method": method, "low": bits[0], "high": bits[1], "ours": o, "paper": q,
                         "rel_diff": o / q - 1.0, "within_2pct": abs(o / q - 1.0) <= 0.02,
                         "rd_fall": rd_fall(source, dim, *bits)})
    return sorted(rows, key=lambda r: (r["figure"], r["dim"], r["source"], METHODS.index(r["method"])))


def closest(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per figure (``"2a"``, ``"2b"``, ``"3"``), the source whose falls are nearest the paper's: the
    least mean ``|rel_diff|`` over the (method, dimension) points that every source of the figure
    has (so a source with fewer runs is not favoured); with that score for every source and the
    points (``"points"``) it is taken over."""
    points: dict[str, dict[str, dict[tuple[str, int], float]]] = {}
    for r in rows:
        points.setdefault(r["figure"], {}).setdefault(r["source"], {})[(r["method"], r["dim"])] = abs(r["rel_diff"])
    out = {}
    for fig, per_source in points.items():
        shared = set.intersection(*(set(v) for v in per_source.values()))
        if not shared:
            continue
        mean = {s: sum(v[k] for k in shared) / len(shared) for s, v in per_source.items()}
        best = min(mean, key=mean.__getitem__)
        out[fig] = {"source": best, "mean_abs_rel_diff": mean[best], "scores": mean, "points": sorted(shared)}
    return out


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m vqcore.experiments.toy_sources", description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="quick", choices=tuple(STUDY_PRESETS))
    ap.add_argument("--results-dir", default="Results")
    ap.add_argument("--reference-dir", default="reference")
    ap.add_argument("--sources", default=None, help="comma-separated sources, e.g. uniform,factor@rank=8,noise_var=0.001 "
                                                    "(default: all)")
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--uncorrelated-dims", default=",".join(map(str, UNCORRELATED_DIMS)))
    ap.add_argument("--correlated-dims", default=",".join(map(str, CORRELATED_DIMS)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def split_sources(text: str) -> list[str]:
    """``"uniform,factor@rank=8,noise_var=0.001"`` -> ``["uniform", "factor@rank=8,noise_var=0.001"]``:
    a comma-separated item with ``=`` but no ``@`` is one more parameter of the source before it."""
    out: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if "=" in item and "@" not in item and out:
            out[-1] += "," + item
        else:
            out.append(item)
    return out


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(t) for t in text.split(",") if t.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the study, write its files and log the summary; 0 on success."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sources = None if args.sources is None else split_sources(args.sources)
    written = run_study(args.preset, args.results_dir, sources=sources, rates=_ints(args.rates), seed=args.seed,
              methods=[m.strip().upper() for m in args.methods.split(",")],
              uncorrelated_dims=_ints(args.uncorrelated_dims), correlated_dims=_ints(args.correlated_dims),
              device=args.device, progress=not args.no_progress)
    rows = summary(args.results_dir, args.reference_dir, args.preset)
    for r in rows:
        logger.info("Fig %s D=%d %-18s %s fall ours %.4f paper %.4f (%+.1f%%) Gaussian bound %.4f", r["figure"],
                    r["dim"], r["source"], r["method"], r["ours"], r["paper"], 100 * r["rel_diff"], r["rd_fall"])
    for fig, best in closest(rows).items():
        logger.info("Fig %s: closest source %s (mean |rel diff| %.3f)", fig, best["source"], best["mean_abs_rel_diff"])
    print("\n".join(str(p) for p in written))  # the command's output: the files written
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
