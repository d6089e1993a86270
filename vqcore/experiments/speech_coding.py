"""The speech coding experiment of the ICASSP 2023 paper: Figure 1 (PESQ and pSNR vs bitrate).

For every method (AVQ, RVQ, PVQ), bitrate (8, 9.6, 13.2, 16.4, 24.4, 32 kbit/s) and seed, one
:class:`~vqcore.speech.codec.SpeechCodec` is trained on the training split of the eSpeak NG corpus
(:func:`vqcore.speech.corpus.build_corpus`, split by speaker and by sentence) and evaluated on
every held-out test utterance through the real bitstream: ``encode`` (packed bytes, whose length
is checked against the bitrate) then ``decode``. Wide-band PESQ (ITU-T P.862.2, ``pesq``) and
pSNR (:func:`vqcore.speech.metrics.psnr`) compare the decoded utterance with the original.

The modules of the experiment: :mod:`~vqcore.experiments.speech_presets` (the settings and the
runs they plan), :mod:`~vqcore.experiments.speech_runs` (training and scoring one codec, and its
place in the run cache), :mod:`~vqcore.experiments.speech_players` (the audio players) and this
one, the runner, which writes the result files that :mod:`vqcore.experiments.registry` names.

**Training.** Each quantizer of a codec (one per group of sub-vectors with the same bits per
stage, see :func:`~vqcore.speech.allocation.bit_allocation`) is trained with NSVQ and Adam by
:func:`vqcore.training.fit_quantizer` on the normalized spectra of all training frames: codebooks
initialised from the data (random training vectors for the first stage, residuals of a greedy
pass for the next), codebook replacement, and a final phase at a tenth of the learning rate
without replacement. With ``avq_init = "rvq"`` (``smoke`` and ``quick``), AVQ starts from the
codebooks of the RVQ codec trained at the same bitrate and seed (greedy RVQ codebooks are valid
AVQ codebooks; beam search can only lower their error) and is then trained with beam-search
encoding for its own, smaller budget, because a beam-search step costs far more on a CPU.

**Bands.** A file's ``Mean (m)`` is the mean over every (test utterance, seed) pair and its
``Quantile Low/High (m)`` the ``preset.quantiles`` of the same values (numpy's linear
interpolation), as recorded in ``meta``.

**Audio.** After the runs, one test utterance (the SFVQ paper's sentence, by the first test
speaker) is written to ``Results/icassp2023/Figure 1/audio/`` (:func:`~vqcore.experiments.speech_players.write_players`):
the original as a 16-bit WAV and, per method and bitrate, the packed bitstream (``.bin``) and the
trained codec (codebooks stored as float16), so that the notebook decodes them live;
``audio/players.jsonl`` lists them (:func:`read_players`).

**Resumable.** Every finished run is stored at once in a :class:`~vqcore.experiments.run_cache.RunCache`
under ``<results_dir>/.runs/speech/<preset>/`` (``<preset>-<codec name>/`` for another codec than the
preset's own, e.g. ``quick-plain``) (``<name>.json`` with its settings and per-utterance
scores, ``<name>.safetensors`` with the trained codec, both written atomically, the codec first); a
later call reuses the runs whose settings match.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import result_meta, results
from . import registry
from .common import parse_figures, resolve_device
from .run_cache import RunCache
from .speech_players import AUDIO_DIR, read_players, write_players
from .speech_presets import (
    METHODS,
    PRESETS,
    SpeechPreset,
    SpeechRunKey,
    bitrate_label,
    get_preset,
    planned_runs,
)
from .speech_runs import RUN_FORMAT, SpeechData, bitrate_bands, stored_or_run, stored_record

logger = logging.getLogger(__name__)

# the presets, the run keys and the players are defined beside this module; the runner's users
# (the figure notebook) find them here too
__all__ = ["FIGURES", "run_speech_coding"]

#: the figures this module makes (from :mod:`vqcore.experiments.registry`)
FIGURES: tuple[str, ...] = registry.figure_ids(f"{__name__}:run_speech_coding")
PSNR_DEFINITION = ("perceptually weighted segmental SNR: reference and error filtered with W(z) = A(z/0.92)/A(z/0.6) "
                   "(A: order-16 LPC of the reference, 20 ms frames), per-frame SNR limited to [-10, 35] dB, "
                   "averaged over frames within 40 dB of the utterance's loudest (vqcore.speech.metrics.psnr)")
PESQ_DEFINITION = "ITU-T P.862.2 wide-band PESQ (MOS-LQO) at 16 kHz, `pesq` package (vqcore.speech.metrics.pesq_wb)"
#: per metric (the stem of its result file): its definition and its field in a run's record
_METRICS = {"PESQ": (PESQ_DEFINITION, "pesq"), "pSNR": (PSNR_DEFINITION, "psnr")}
_CODEC = ("MDCT transform codec (vqcore.speech.codec.SpeechCodec): 20 ms frames, 48 envelope bits per frame, "
          "the normalized spectrum in 20 sub-vectors of 16 coefficients, each coded by a 4-stage quantizer "
          "with the bits per stage of vqcore.speech.allocation.bit_allocation; evaluated through the packed "
          "bitstream (encode -> bytes -> decode)")


def _codec_description(preset: SpeechPreset) -> str:
    """:data:`_CODEC`, with the companding and the postfilter when the preset's codec has them."""
    out = _CODEC
    if preset.compand != 1:
        out += (f"; companding: the quantizers see sign(y)|y|^{preset.compand:g} of every normalized coefficient y "
                f"and the decoder raises their output to the power 1/{preset.compand:g}")
    if preset.postfilter != 1:
        out += (f"; postfilter: the decoder makes every decoded sub-vector q peakier at the same energy, "
                f"sign(q)|q|^{preset.postfilter:g} rescaled to ||q||")
    return out


def _compute_runs(preset: SpeechPreset, seeds: Sequence[int], data: SpeechData, cache: RunCache,
                  device: torch.device, progress: bool) -> dict[SpeechRunKey, dict[str, Any]]:
    """The record of every planned run: stored ones from ``cache``, the others trained now and stored."""
    records: dict[SpeechRunKey, dict[str, Any]] = {}
    todo = []
    for key in planned_runs(preset, seeds):
        rec = stored_record(cache, key, preset.training_settings(key.method))
        if rec is None:
            todo.append(key)
        else:
            records[key] = rec
    logger.info("speech coding, preset %s on %s: %d runs stored, %d to compute", preset.name, device,
                len(records), len(todo))
    bar = tqdm(todo, desc=f"speech ({preset.name})", disable=not progress, unit="codec")
    for key in bar:
        bar.set_postfix_str(key.name)
        record, computed = stored_or_run(cache, key, preset, data, device)
        records[key] = record
        if computed:
            logger.info("%s: PESQ %.3f, pSNR %.2f dB (train %.1f s, test %.1f s)", key.name, np.mean(record["pesq"]),
                        np.mean(record["psnr"]), record["train_seconds"], record["eval_seconds"])
    bar.close()
    return records


def _meta(metric: str, preset: SpeechPreset, seeds: Sequence[int], records: Mapping[SpeechRunKey, Mapping[str, Any]],
          device: torch.device, data: SpeechData, wall: float) -> dict[str, Any]:
    """The ``meta`` of the result file of ``metric``."""
    runs = [records[SpeechRunKey(m, float(r), int(s))] for m in METHODS for r in preset.bitrates for s in seeds]
    compute = sum(rec["train_seconds"] + rec["eval_seconds"] for rec in runs)
    measured = {f"{m} {r:g}": round(records[SpeechRunKey(m, float(r), int(seeds[0]))]["measured_kbps"], 6)
                for m in METHODS for r in preset.bitrates}
    avq = ("AVQ starts from the trained RVQ codebooks of the same bitrate and seed, then trains with beam-search "
           "encoding" if preset.avq_init == "rvq" else "AVQ starts like the others")
    return result_meta.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over=f"(test utterance, seed) pairs: {len(data.test_items)} held-out utterances x {len(seeds)} seed(s)",
        figure="1", paper="icassp2023", data=data.describe(), metric_definition=_METRICS[metric][0],
        codec=_codec_description(preset), measured_kbps=measured,
        methods={"AVQ": f"AdditiveVQ, 4 codebooks of 16 dims, beam width {preset.beam_width}",
                 "RVQ": "ResidualVQ, 4 stages of 16 dims", "PVQ": "ProductVQ, 4 parts of 4 dims"},
        training=("NSVQ, Adam, codebook replacement (vqcore.training.fit_quantizer), codebooks initialised from the "
                  "training data; " + avq),
        settings=preset.as_dict(), compute_seconds=round(compute, 3), wall_time_s=round(wall, 3),
        seed_means={m: {str(s): [float(np.mean(records[SpeechRunKey(m, float(r), int(s))][_METRICS[metric][1]]))
                                 for r in preset.bitrates] for s in seeds} for m in METHODS},
    )


def _assemble(metric: str, preset: SpeechPreset, seeds: Sequence[int],
              records: Mapping[SpeechRunKey, Mapping[str, Any]], device: torch.device, data: SpeechData,
              wall: float) -> results.ResultFile:
    """The result file of ``metric``: per method, the band over (test utterance, seed) at every bitrate."""
    field = _METRICS[metric][1]
    series = bitrate_bands(METHODS, preset.bitrates, seeds, lambda m, r, s: records[SpeechRunKey(m, r, s)][field],
                           preset.quantiles)
    return results.ResultFile(metric=metric, x_key="Sampling Rate", x=[bitrate_label(r) for r in preset.bitrates],
                              series=series, meta=_meta(metric, preset, seeds, records, device, data, wall))


def run_speech_coding(figures: str | Iterable[str] | None, preset: str | SpeechPreset,
                      results_dir: str | os.PathLike, device: str | torch.device | None, *, progress: bool = True,
                      seeds: Sequence[int] | None = None, corpus_cache_dir: str | os.PathLike | None = None,
                      run_cache_dir: str | os.PathLike | None = None, audio: bool = True) -> list[Path]:
    """Run (or resume) the speech coding experiment and write ``PESQ.json`` and ``pSNR.json``.

    Args:
        figures: ``["1"]`` (or ``"1"``, ``None``: every figure of :data:`FIGURES`).
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or a :class:`SpeechPreset`.
        results_dir: the ``Results`` folder; the files go where :mod:`vqcore.experiments.registry`
            says (``<results_dir>/icassp2023/Figure 1/``).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        progress: tqdm bar over the runs.
        seeds: override the preset's seeds.
        corpus_cache_dir: where the corpus is cached (default: :func:`vqcore.speech.corpus.default_cache_dir`).
        run_cache_dir: where finished runs are stored (default ``<results_dir>/.runs/speech/<preset>``, or
            ``<preset>-<codec name>`` for another codec than that preset's own, :attr:`SpeechPreset.codec_name`).
        audio: also write the audio player material (:data:`AUDIO_DIR`).

    Returns:
        The files written (the result files, then the audio files).
    """
    wanted = parse_figures(figures, FIGURES)
    p = get_preset(preset)
    seeds = tuple(int(s) for s in (p.seeds if seeds is None else seeds))
    if not seeds:
        raise ValueError("seeds must not be empty")
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    own = PRESETS.get(p.name)  # another codec than the named preset's has a cache folder of its own
    cache_name = p.name if own is None or own.codec_name == p.codec_name else f"{p.name}-{p.codec_name}"
    cache_root = Path(run_cache_dir) if run_cache_dir is not None else results_dir / ".runs" / "speech" / cache_name
    cache = RunCache(cache_root, RUN_FORMAT)
    start = time.perf_counter()
    data = SpeechData(p, corpus_cache_dir, progress)
    records = _compute_runs(p, seeds, data, cache, dev, progress)
    wall = time.perf_counter() - start
    written = []
    for fid in wanted:
        for rel in registry.figure(fid).files:
            metric = PurePosixPath(rel).stem
            written.append(results.write(_assemble(metric, p, seeds, records, dev, data, wall), results_dir / rel))
    if audio:
        written += write_players(p, seeds[0], data, cache, results_dir, records, dev)
    return written
