"""The NSVQ paper's Figure 1 (Vali & Bäckström, IEEE Access 2022) with our speech VQ-VAE: PESQ, STOI
and pSNR against bitrate for every gradient estimator.

Every codec is a :class:`~vqcore.models.speech_vqvae.SpeechVQVAE`: the envelope layer of the
ICASSP codec (48 bits per frame), then a learned encoder, **one VQ codebook** of
``2 ** codebook_bits`` entries for the ``L`` latent vectors of a frame (``L`` from the bitrate), and
a learned decoder, trained end to end on the perceptually weighted spectral error
(:func:`~vqcore.experiments.autoencoder_training.train_model`) and scored through its bitstream
(:func:`~vqcore.experiments.speech_runs.evaluate`, STOI included). Only the quantizer's estimator
changes between the curves: the paper's STE and NSVQ, then DiVeQ, DiVeQ-detach and the rotation
trick (:data:`~vqcore.experiments.nsvq2022_presets.SPEECH_METHODS`); STE and the rotation trick
add their codebook and commitment loss. All estimators of one (bitrate, seed) start from the same
seed, hence the same weights, initial codebook (from the encoder's latents of random training
frames) and batches.

(The ICASSP codec, :class:`~vqcore.speech.codec.SpeechCodec`, fits its quantizers alone to the
spectra; there every estimator gives the codebooks the same gradient, so it cannot compare them.)

A file's ``Mean (m)`` and ``Quantile Low/High (m)`` are the mean and the ``preset.quantiles`` over
every (test utterance, seed) pair, as in the ICASSP speech figure. Codebook usage over training
(:class:`~vqcore.experiments.nsvq2022_usage.UsageMonitor`) goes to
``Results/nsvq2022/Figure 1/usage.json``.

**Resumable**: every finished codec (record and weights) is stored in a
:class:`~vqcore.experiments.run_cache.RunCache` under
``<results_dir>/.runs/nsvq2022_speech/<preset>/`` and reused while its settings match.
"""
from __future__ import annotations

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
from ..models.speech_vqvae import SpeechVQVAE
from . import registry
from .autoencoder_training import train_model
from .common import parse_figures, resolve_device, run_seeds, stable_seed
from .nsvq2022_presets import METHODS, NSVQSpeechPreset, get_speech_preset
from .nsvq2022_usage import USAGE_FILE, UsageMonitor, usage_result
from .run_cache import RunCache
from .speech_coding import PESQ_DEFINITION, PSNR_DEFINITION
from .speech_presets import bitrate_label
from .speech_runs import RECORD_FIELDS, SpeechData, bitrate_bands, evaluate

logger = logging.getLogger(__name__)

__all__ = ["FIGURES", "RUN_FORMAT", "NSVQSpeechKey", "planned_runs", "run_nsvq2022_speech"]

#: the figures this module makes (from :mod:`vqcore.experiments.registry`)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_nsvq2022_speech")
RUN_FORMAT = "vqcore-nsvq2022-speech-run/2"
STOI_DEFINITION = "STOI (Taal et al. 2011) at 16 kHz, `pystoi` package (vqcore.speech.metrics.stoi)"
#: per result file (its stem): the metric's definition and its field in a run's record
_METRICS = {"PESQ": (PESQ_DEFINITION, "pesq"), "STOI": (STOI_DEFINITION, "stoi"), "pSNR": (PSNR_DEFINITION, "psnr")}
_FIELDS = {**RECORD_FIELDS, "stoi": [float], "usage": dict}


@dataclass(frozen=True, order=True)
class NSVQSpeechKey:
    """One codec: method (a label of :data:`~vqcore.experiments.nsvq2022_presets.METHODS`), bitrate, seed."""

    label: str
    bitrate: float
    seed: int

    @property
    def method(self) -> str:
        """The quantizer: one VQ codebook."""
        return "VQ"

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
    return [NSVQSpeechKey(m, float(r), int(s)) for s in run_seeds(p, seeds) for r in p.bitrates
            for m in p.methods]


def build_codec(key: NSVQSpeechKey, preset: NSVQSpeechPreset) -> SpeechVQVAE:
    """The untrained codec of ``key`` (its weights drawn from the global random state)."""
    return SpeechVQVAE(key.bitrate, estimator=METHODS[key.label].estimator, diveq_noise_std=preset.diveq_noise_std,
                       **preset.model_settings())


def _expected(key: NSVQSpeechKey, preset: NSVQSpeechPreset) -> dict[str, torch.Tensor]:
    """Meta tensors of a stored codec of ``key`` (names, shapes, dtypes), built without touching the RNG."""
    with torch.random.fork_rng(devices=[]):
        state = build_codec(key, preset).state_dict()
    return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}


def _train_and_score(key: NSVQSpeechKey, preset: NSVQSpeechPreset, data: SpeechData,
                     device: torch.device) -> tuple[dict[str, Any], SpeechVQVAE]:
    """Train the codec of ``key`` end to end with its estimator (usage logged) and score it."""
    method = METHODS[key.label]
    torch.manual_seed(key.run_seed)
    gen = torch.Generator().manual_seed(key.run_seed + 1)
    codec = build_codec(key, preset).to(device)
    frames = codec.training_frames(data.train_sub.reshape(data.train_frames, -1))
    pick = torch.randperm(frames.shape[0], generator=gen)[:preset.init_frames]
    with torch.no_grad():
        codec.quantizer.init_from_data(codec.encode_latents(frames[pick].to(device)).reshape(-1, preset.latent_dim),
                                       generator=gen)
    monitor = UsageMonitor(1, 2 ** preset.codebook_bits, preset.usage_every, preset.dead_window)
    start = time.perf_counter()
    log = train_model(codec, frames, preset.steps, preset.batch_size, preset.lr, key.run_seed + 2, preset,
                      replace=method.replace, aux_loss=True, monitor=monitor)
    train_s = time.perf_counter() - start
    codec.eval()
    start = time.perf_counter()
    scores = evaluate(codec, data, with_stoi=True)
    record = {**scores, "test_items": [it.id for it in data.test_items], "train_seconds": round(train_s, 3),
              "eval_seconds": round(time.perf_counter() - start, 3), "final_train_loss": log["final_train_loss"],
              "replaced": log["replaced"], "loss_every_10": log["loss_every_10"],
              "latents_per_frame": codec.latents, "bits_per_frame": codec.bits_per_frame,
              "usage": {"VQ": monitor.as_dict()}, "estimator": method.estimator, "replace": method.replace,
              "device": str(device), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return record, codec


def _records(preset: NSVQSpeechPreset, keys: Sequence[NSVQSpeechKey], data: SpeechData, cache: RunCache,
             device: torch.device, progress: bool) -> dict[NSVQSpeechKey, dict[str, Any]]:
    """The record of every run in ``keys``: stored, or trained, scored and stored now."""
    records: dict[NSVQSpeechKey, dict[str, Any]] = {}
    bar = tqdm(keys, desc=f"nsvq2022 speech ({preset.name})", disable=not progress, unit="codec")
    for key in bar:
        bar.set_postfix_str(key.name)
        records[key] = _record(key, preset, data, cache, device)
    bar.close()
    return records


def _record(key: NSVQSpeechKey, preset: NSVQSpeechPreset, data: SpeechData, cache: RunCache,
            device: torch.device) -> dict[str, Any]:
    """The record of ``key``: stored, or trained, scored and stored now (weights with the record)."""
    settings = {"key": {"label": key.label, "bitrate": key.bitrate, "seed": key.seed}, **preset.run_settings(key.label)}
    with cache.claim(key):
        stored = cache.get_stored(key, settings, fields=_FIELDS, like=_expected(key, preset), only=True)
        if stored is not None and len(stored[0]["pesq"]) == len(stored[0]["stoi"]) == len(data.test_items):
            return stored[0]
        record, codec = _train_and_score(key, preset, data, device)
        cache.put_tensors(key, settings, record, {k: v.detach().cpu() for k, v in codec.state_dict().items()})
    logger.info("%s: PESQ %.3f, STOI %.3f, pSNR %.2f dB (train %.1f s, test %.1f s)", key.name,
                np.mean(record["pesq"]), np.mean(record["stoi"]), np.mean(record["psnr"]),
                record["train_seconds"], record["eval_seconds"])
    return record


def _meta(metric: str, preset: NSVQSpeechPreset, seeds: Sequence[int], records: Mapping[NSVQSpeechKey, Any],
          device: torch.device, data: SpeechData, wall: float) -> dict[str, Any]:
    """The ``meta`` of the result file of ``metric``."""
    compute = sum(r["train_seconds"] + r["eval_seconds"] for r in records.values())
    methods = {m: METHODS[m].settings() for m in preset.methods}
    return result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over=f"(test utterance, seed) pairs: {len(data.test_items)} held-out utterances x {len(seeds)} seed(s)",
        figure="1", paper="nsvq2022", data=data.describe(), metric_definition=_METRICS[metric][0],
        codec=("the speech VQ-VAE (vqcore.models.speech_vqvae.SpeechVQVAE): the ICASSP codec's 48 envelope bits "
               f"per frame, an MLP encoder ({preset.hidden} hidden units), one VQ codebook of 2^{preset.codebook_bits} "
               f"entries for the {preset.latent_dim}-d latent vectors of a frame (14 to 74 per frame from 8 to 32 "
               f"kbit/s), an MLP decoder; perceptual weighting knee at {preset.knee_hz} Hz; evaluated through the "
               "packed bitstream"),
        methods=methods, diveq_noise_std=preset.diveq_noise_std,
        training=(f"every estimator with the same recipe: {preset.steps} end-to-end Adam steps of {preset.batch_size} "
                  f"frames at lr {preset.lr} (last {preset.finetune_fraction:.0%} at x{preset.finetune_lr_factor}) "
                  "on the weighted spectral MSE plus the quantizer's loss (STE, rotation), codebook from the "
                  f"encoder's latents of {preset.init_frames} frames, replacement every {preset.replace_every} "
                  "steps; the same seed, hence weights, codebook and batches, for every estimator at one bitrate "
                  "and seed"),
        usage_file=USAGE_FILE, settings=preset.as_dict(), compute_seconds=round(compute, 3),
        wall_time_s=round(wall, 3))


def _assemble(metric: str, preset: NSVQSpeechPreset, seeds: Sequence[int], records: Mapping[NSVQSpeechKey, Any],
              device: torch.device, data: SpeechData, wall: float) -> results.ResultFile:
    """The result file of ``metric``: per method, the band over (test utterance, seed) at every bitrate."""
    field = _METRICS[metric][1]
    series = bitrate_bands(preset.methods, preset.bitrates, seeds,
                           lambda m, r, s: records[NSVQSpeechKey(m, r, s)][field], preset.quantiles)
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
