"""The NSVQ paper's Figure 1 (Vali & Bäckström, IEEE Access 2022) with our speech codec: PESQ,
STOI and pSNR against bitrate for every gradient estimator.

Every codec is the ICASSP 2023 speech codec (:class:`~vqcore.speech.codec.SpeechCodec`: MDCT
frames, 48 envelope bits, 20 sub-vectors coded by 4-stage RVQ quantizers), trained by the same
recipe (:func:`~vqcore.experiments.speech_runs.train_codec`: :func:`vqcore.training.fit_quantizer`,
codebooks from the data, codebook replacement, a final phase at a tenth of the learning rate)
and scored through its bitstream (:func:`~vqcore.experiments.speech_runs.evaluate`, STOI
included). Only the quantizers' estimator changes between the curves: the paper's STE and NSVQ,
then DiVeQ, DiVeQ-detach and the rotation trick (:data:`~vqcore.experiments.nsvq2022_presets.SPEECH_METHODS`).
All estimators of one (bitrate, seed) start from the same seed, hence the same initial codebooks
and batches; the codebooks' initialisation from the data is computed once for them all
(:func:`vqcore.training.shared_initialisation`: the same values as computing it for each).

A file's ``Mean (m)`` and ``Quantile Low/High (m)`` are the mean and the ``preset.quantiles`` over
every (test utterance, seed) pair, as in the ICASSP speech figure. Codebook usage over training
(:class:`~vqcore.experiments.nsvq2022_usage.UsageMonitor`, per quantizer of every codec) goes to
``Results/nsvq2022/Figure 1/usage.json``.

**Resumable**: every finished codec is stored in a :class:`~vqcore.experiments.run_cache.RunCache`
under ``<results_dir>/.runs/nsvq2022_speech/<preset>/`` and reused while its settings match.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import result_meta, results
from ..speech.allocation import STAGES, bit_allocation
from ..training import shared_initialisation
from . import registry
from .common import parse_figures, resolve_device, run_seeds, stable_seed
from .nsvq2022_presets import METHODS, NSVQSpeechPreset, get_speech_preset
from .nsvq2022_usage import USAGE_FILE, UsageMonitor, usage_result
from .run_cache import RunCache
from .speech_coding import PESQ_DEFINITION, PSNR_DEFINITION
from .speech_presets import bitrate_label
from .speech_runs import SpeechData, bitrate_bands, evaluate, store_run, stored_record, train_codec

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "RUN_FORMAT", "NSVQSpeechKey", "planned_runs", "run_nsvq2022_speech"]

#: the figures this module makes (from :mod:`vqcore.experiments.registry`)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_nsvq2022_speech")
RUN_FORMAT = "vqcore-nsvq2022-speech-run/1"
STOI_DEFINITION = "STOI (Taal et al. 2011) at 16 kHz, `pystoi` package (vqcore.speech.metrics.stoi)"
#: per result file (its stem): the metric's definition and its field in a run's record
_METRICS = {"PESQ": (PESQ_DEFINITION, "pesq"), "STOI": (STOI_DEFINITION, "stoi"), "pSNR": (PSNR_DEFINITION, "psnr")}
_FIELDS = {"stoi": [float], "usage": dict}


@dataclass(frozen=True, order=True)
class NSVQSpeechKey:
    """One codec: method (a label of :data:`~vqcore.experiments.nsvq2022_presets.METHODS`), bitrate, seed."""

    label: str
    bitrate: float
    seed: int
    method: str = "RVQ"

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``DiVeQ-detach-9.6kbps-s0``."""
        return f"{self.label.replace(' ', '_').replace('/', '')}-{self.bitrate:g}kbps-s{self.seed}"

    @property
    def run_seed(self) -> int:
        """The training seed, the same for every estimator at this bitrate and seed."""
        return stable_seed(f"nsvq2022-speech-{self.bitrate:g}kbps-s{self.seed}")


def planned_runs(preset: str | NSVQSpeechPreset, seeds: Sequence[int] | None = None) -> list[NSVQSpeechKey]:
    """Every codec of the figure: per seed and bitrate, each method."""
    p = get_speech_preset(preset)
    return [NSVQSpeechKey(m, float(r), int(s), p.quantizer) for s in run_seeds(p, seeds) for r in p.bitrates
            for m in p.methods]


def _train_and_score(key: NSVQSpeechKey, preset: NSVQSpeechPreset, data: SpeechData,
                     device: torch.device) -> tuple[dict[str, Any], Any]:
    """Train the codec of ``key`` with its estimator (usage logged per quantizer) and score it."""
    method = METHODS[key.label]
    recipe = preset if method.replace else dataclasses.replace(preset, replace_every=0)
    monitors = {f"b{b}": UsageMonitor(STAGES, 2 ** b, preset.usage_every, preset.dead_window)
                for b in bit_allocation(key.bitrate).groups}
    start = time.perf_counter()
    codec, logs = train_codec(key, recipe, data, device, options={"estimator": method.estimator,
                                                                  "diveq_noise_std": preset.diveq_noise_std},
                              monitors=monitors)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = evaluate(codec, data, with_stoi=True)
    record = {**scores, "test_items": [it.id for it in data.test_items], "train_seconds": round(train_s, 3),
              "eval_seconds": round(time.perf_counter() - start, 3), "quantizers": logs,
              "usage": {name: mon.as_dict() for name, mon in monitors.items()},
              "estimator": method.estimator, "replace": method.replace, "device": str(device),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return record, codec


def _stored(cache: RunCache, key: NSVQSpeechKey, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored record of ``key`` (codec loading, with STOI and usage), or None."""
    record = stored_record(cache, key, settings)
    if record is None or cache.get(key, settings, fields=_FIELDS) is None or len(record["stoi"]) != len(record["pesq"]):
        return None
    return record


def _records(preset: NSVQSpeechPreset, keys: Sequence[NSVQSpeechKey], data: SpeechData, cache: RunCache,
             device: torch.device, progress: bool) -> dict[NSVQSpeechKey, dict[str, Any]]:
    """The record of every run in ``keys``: stored, or trained, scored and stored now."""
    records: dict[NSVQSpeechKey, dict[str, Any]] = {}
    bar = tqdm(keys, desc=f"nsvq2022 speech ({preset.name})", disable=not progress, unit="codec")
    with shared_initialisation():  # the estimators of one (bitrate, seed) share their initialisation
        for key in bar:
            bar.set_postfix_str(key.name)
            records[key] = _record(key, preset, data, cache, device)
    bar.close()
    return records


def _record(key: NSVQSpeechKey, preset: NSVQSpeechPreset, data: SpeechData, cache: RunCache,
            device: torch.device) -> dict[str, Any]:
    """The record of ``key``: stored, or trained, scored and stored now."""
    settings = preset.run_settings(key.label)
    with cache.claim(key):
        record = _stored(cache, key, settings)
        if record is None:
            record, codec = _train_and_score(key, preset, data, device)
            store_run(cache, key, settings, record, codec)
            logger.info("%s: PESQ %.3f, STOI %.3f, pSNR %.2f dB (train %.1f s, test %.1f s)", key.name,
                        np.mean(record["pesq"]), np.mean(record["stoi"]), np.mean(record["psnr"]),
                        record["train_seconds"], record["eval_seconds"])
    return record


def _meta(metric: str, preset: NSVQSpeechPreset, seeds: Sequence[int], records: Mapping[NSVQSpeechKey, Any],
          device: torch.device, data: SpeechData, wall: float) -> dict[str, Any]:
    """The ``meta`` of the result file of ``metric``."""
    compute = sum(r["train_seconds"] + r["eval_seconds"] for r in records.values())
    methods = {m: {**METHODS[m].settings(), "quantizer": f"{preset.quantizer}, {STAGES} stages per sub-vector group"}
               for m in preset.methods}
    return result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over=f"(test utterance, seed) pairs: {len(data.test_items)} held-out utterances x {len(seeds)} seed(s)",
        figure="1", paper="nsvq2022", data=data.describe(), metric_definition=_METRICS[metric][0],
        codec=("the ICASSP 2023 speech codec (vqcore.speech.codec.SpeechCodec) with its 4-stage RVQ quantizers, "
               "evaluated through the packed bitstream"),
        methods=methods, diveq_noise_std=preset.diveq_noise_std,
        training=("every estimator with the same recipe (vqcore.experiments.speech_runs.train_codec: Adam, "
                  "codebooks from the data, codebook replacement, final phase at lr x "
                  f"{preset.finetune_lr_factor}); the same seed, hence initial codebooks and batches, for every "
                  "estimator at one bitrate and seed"),
        usage_file=USAGE_FILE, settings=preset.as_dict(), compute_seconds=round(compute, 3),
        wall_time_s=round(wall, 3))


def _assemble(metric: str, preset: NSVQSpeechPreset, seeds: Sequence[int], records: Mapping[NSVQSpeechKey, Any],
              device: torch.device, data: SpeechData, wall: float) -> results.ResultFile:
    """The result file of ``metric``: per method, the band over (test utterance, seed) at every bitrate."""
    field = _METRICS[metric][1]
    series = bitrate_bands(preset.methods, preset.bitrates, seeds,
                           lambda m, r, s: records[NSVQSpeechKey(m, r, s, preset.quantizer)][field], preset.quantiles)
    return results.ResultFile(metric=metric, x_key="Sampling Rate", x=[bitrate_label(r) for r in preset.bitrates],
                              series=series, meta=_meta(metric, preset, seeds, records, device, data, wall))


def run_nsvq2022_speech(figures: str | Iterable[str] | None, preset: str | NSVQSpeechPreset,
                        results_dir: str | os.PathLike, device: str | torch.device | None, *, progress: bool = True,
                        seeds: Sequence[int] | None = None, corpus_cache_dir: str | os.PathLike | None = None,
                        run_cache_dir: str | os.PathLike | None = None) -> list[Path]:
    """Run (or resume) Figure 1 and write ``PESQ.json``, ``STOI.json``, ``pSNR.json`` and ``usage.json``.

    Args:
        figures: ``["nsvq1"]`` (or ``None``: every figure of :data:`FIGURES`).
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or an :class:`NSVQSpeechPreset`.
        results_dir: the ``Results`` folder (files under ``nsvq2022/Figure 1/``, as the registry says).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        progress: tqdm bar over the codecs.
        seeds: override the preset's seeds.
        corpus_cache_dir: where the corpus is cached (default: :func:`vqcore.speech.corpus.default_cache_dir`).
        run_cache_dir: where finished runs are stored (default ``<results_dir>/.runs/nsvq2022_speech/<preset>``).

    Returns:
        The files written: the result files in the registry's order, then the usage file.
    """
    wanted = parse_figures(figures, FIGURES)
    p = get_speech_preset(preset)
    seeds = run_seeds(p, seeds)
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = RunCache(Path(run_cache_dir) if run_cache_dir is not None
                     else results_dir / ".runs" / "nsvq2022_speech" / p.name, RUN_FORMAT)
    start = time.perf_counter()
    data = SpeechData(p, corpus_cache_dir, progress)
    records = _records(p, planned_runs(p, seeds), data, cache, dev, progress)
    wall = time.perf_counter() - start
    written = []
    for fid in wanted:
        fig = registry.figure(fid)
        for rel in fig.files:
            metric = PurePosixPath(rel).stem
            written.append(results.write(_assemble(metric, p, seeds, records, dev, data, wall), results_dir / rel))
        usage = {f"{k.label}|{bitrate_label(k.bitrate)}|s{k.seed}": {
            "method": k.label, "x": bitrate_label(k.bitrate), "seed": k.seed, "quantizers": r["usage"]}
            for k, r in sorted(records.items())}
        meta = result_meta.make_meta(p.name, seeds, dev, over="seeds and the codec's quantizers and stages",
                                     figure="1", paper="nsvq2022", settings=p.as_dict())
        written.append(results.write(usage_result("Sampling Rate", [bitrate_label(r) for r in p.bitrates], p.methods,
                                                  usage, meta), results_dir / fig.artefacts[0]))
    return written
