"""One run of the speech coding experiment: train a codec, score it through its bitstream, store it.

:class:`SpeechData` holds a preset's corpus: the training sub-vectors and the test utterances.
:func:`run_one` trains one :class:`~vqcore.speech.codec.SpeechCodec` (:func:`train_codec`, every
quantizer by :func:`vqcore.training.fit_quantizer`) and scores it (:func:`evaluate`, PESQ and
pSNR of every test utterance through ``encode -> bytes -> decode``). A finished run lives in a
:class:`~vqcore.experiments.run_cache.RunCache`: its record ``<name>.json`` and its codec in
:func:`~vqcore.speech.codec_io.save_codec`'s format at ``RunCache.tensors_path(key)``, written
before the record (:func:`store_run`, :func:`stored_record`, :func:`stored_codec`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import result_meta, results
from ..quantizers.registry import build_quantizer
from ..speech.allocation import FRAMES_PER_SECOND, STAGES, SUBVECTOR_DIM, bit_allocation
from ..speech.codec import SpeechCodec
from ..speech.codec_io import load_codec, save_codec
from ..speech.corpus import build_corpus
from ..speech.metrics import pesq_wb, psnr, stoi
from ..training import fit_quantizer
from .run_cache import DAMAGE_ERRORS, RunCache
from .speech_presets import SpeechPreset, SpeechRunKey

__all__ = ["RUN_FORMAT", "SpeechData", "evaluate", "run_one", "store_run", "stored_codec", "stored_or_run",
           "stored_record", "train_codec"]

logger = logging.getLogger(__name__)

RUN_FORMAT = "vqcore-speech-run/1"


class SpeechData:
    """The corpus of a preset: training sub-vectors (normalized spectra) and the test utterances.

    Attributes:
        corpus: the :class:`~vqcore.speech.corpus.Corpus`.
        train_sub: ``(T, 20, 16)`` float32, the normalized spectrum of every training frame.
        train_frames: ``T``.
        test_items, test_audio: the test utterances (at most ``preset.max_test_items``) and their audio.
    """

    def __init__(self, preset: SpeechPreset, cache_dir: str | Path | None, progress: bool) -> None:
        self.corpus = build_corpus(preset.corpus, seed=preset.corpus_seed, cache_dir=cache_dir, progress=progress)
        analyser = SpeechCodec(preset.bitrates[0], "rvq")  # the normalization does not depend on rate or method
        spectra = [analyser.normalized_spectrum(a) for _, a in self.corpus.iter_audio("train")]
        self.train_frames = sum(s.shape[0] for s in spectra)
        self.train_sub = SpeechCodec.subvectors(torch.cat(spectra))  # (T, 20, 16)
        items = self.corpus.items("test")
        if preset.max_test_items is not None:
            items = items[: preset.max_test_items]
        self.test_items = items
        self.test_audio = [self.corpus.load_audio(it) for it in items]

    def vectors(self, codec: SpeechCodec) -> dict[str, torch.Tensor]:
        """``{"b<bits>": (N, 16)}``: the training vectors of every quantizer of ``codec`` (companded as
        ``codec`` compands them)."""
        return codec.group_vectors(codec.compress(self.train_sub))

    def describe(self) -> dict[str, Any]:
        """The corpus, for the result files' ``meta["data"]``."""
        m = self.corpus.manifest
        secs = sum(it.num_samples for it in self.corpus.items("train")) / 16000
        return {"name": "eSpeak NG synthetic English speech (vqcore.speech.corpus)", "preset": m["config"]["name"],
                "corpus_seed": m["seed"], "espeak_version": m["espeak"]["version"], "sample_rate": m["sample_rate"],
                "split": m["split"], "train_utterances": len(self.corpus.items("train")),
                "train_seconds": round(secs, 1), "train_frames": self.train_frames,
                "test_utterances": len(self.test_items), "test_items": [it.id for it in self.test_items]}


def train_codec(key: SpeechRunKey, preset: SpeechPreset, data: SpeechData, device: torch.device,
                warm: SpeechCodec | None = None, *, options: Mapping[str, Any] | None = None
                ) -> tuple[SpeechCodec, dict[str, Any]]:
    """The codec of ``key``, every quantizer trained with the preset's two-phase recipe (from ``warm``'s
    codebooks when given, else initialised from the data); and per quantizer the codebook entries
    replaced and the last training loss.

    ``options``: constructor arguments of every quantizer (``estimator``, ``diveq_noise_std``, ...;
    None: the defaults, NSVQ)."""
    torch.manual_seed(key.run_seed)
    given = None
    if options:
        given = {f"b{b}": build_quantizer(key.method, SUBVECTOR_DIM, b * STAGES, stages=STAGES,
                                          beam_width=preset.beam_width, ordered_track=False, **options)
                 for b in bit_allocation(key.bitrate).groups}
    codec = SpeechCodec(key.bitrate, key.method.lower(), quantizers=given, beam_width=preset.beam_width,
                        noise_fill=preset.noise_fill, compand=preset.compand,
                        postfilter=preset.postfilter).to(device)
    steps, batch_size, lr = preset.budget(key.method)
    vectors = data.vectors(codec)
    logs = {}
    for i, (name, q) in enumerate(codec.quantizers.items()):
        if warm is not None:
            q.codebooks.data.copy_(warm.quantizers[name].codebooks.detach().to(q.codebooks))
        log = fit_quantizer(q, vectors[name].to(device), steps, batch_size=batch_size, lr=lr,
                            replace_every=preset.replace_every, replace_until=preset.replace_until,
                            finetune_fraction=preset.finetune_fraction, finetune_lr_factor=preset.finetune_lr_factor,
                            init=warm is None, seed=key.run_seed + 10 * i, progress=False, log_every=1)
        logs[name] = {"replaced": sum(log.replaced), "final_train_loss": log.loss[-1] if log.loss else None}
    codec.eval()
    return codec, logs


def evaluate(codec: SpeechCodec, data: SpeechData, *, with_stoi: bool = False) -> dict[str, Any]:
    """Per test utterance: PESQ and pSNR (and with ``with_stoi`` STOI, key ``"stoi"``) through the
    packed bitstream; the bytes, frames and bitrate sent."""
    pesq_values, psnr_values, stoi_values, total_bits, total_frames = [], [], [], 0, 0
    for audio in data.test_audio:
        payload = codec.encode(audio)
        expected = codec.packed_bytes(len(audio))
        if len(payload) != expected:
            raise RuntimeError(f"bitstream of {len(payload)} bytes, expected {expected}")
        decoded = codec.decode(payload, length=len(audio))
        pesq_values.append(pesq_wb(audio, decoded))
        psnr_values.append(psnr(audio, decoded))
        if with_stoi:
            stoi_values.append(stoi(audio, decoded))
        total_bits += len(payload) * 8
        total_frames += codec.num_frames(len(audio))
    out = {"pesq": pesq_values, "psnr": psnr_values, "bytes_total": total_bits // 8, "frames_total": total_frames,
           "measured_kbps": total_bits / total_frames * FRAMES_PER_SECOND / 1000}
    if with_stoi:
        out["stoi"] = stoi_values
    return out


def run_one(key: SpeechRunKey, preset: SpeechPreset, data: SpeechData, device: torch.device,
            warm: SpeechCodec | None = None) -> tuple[dict[str, Any], SpeechCodec]:
    """Train and score the codec of ``key``: ``(its record, the codec)``."""
    start = time.perf_counter()
    codec, logs = train_codec(key, preset, data, device, warm)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = evaluate(codec, data)
    eval_s = time.perf_counter() - start
    record = {**scores, "test_items": [it.id for it in data.test_items], "train_seconds": round(train_s, 3),
              "eval_seconds": round(eval_s, 3), "quantizers": logs, "bits_per_frame": codec.bits_per_frame,
              "allocation": codec.allocation.describe(),
              "warm_start": None if warm is None else key.warm_start.name,
              "device": str(device), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return record, codec


def store_run(cache: RunCache, key: SpeechRunKey, settings: Mapping[str, Any], record: Mapping[str, Any],
              codec: SpeechCodec) -> Path:
    """Store a finished run: the codec first, so that a record always has its codec; returns the record's path."""
    save_codec(codec, cache.tensors_path(key))
    return cache.put(key, settings, record)


#: the fields of a run record that the result files and players read (a record without them is recomputed)
RECORD_FIELDS = {"pesq": [float], "psnr": [float], "test_items": [str], "measured_kbps": float,
                 "train_seconds": float, "eval_seconds": float}


def stored_record(cache: RunCache, key: SpeechRunKey, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record of ``key`` if it was made with ``settings``, has the fields the figures read and its
    codec is stored and loads as ``key``'s codec, else None (a damaged record or codec is logged with
    its path, and the run is then recomputed)."""
    record = cache.get(key, settings, companions=(cache.SUFFIX,), fields=RECORD_FIELDS)
    if record is None:
        return None
    path = cache.tensors_path(key)
    try:
        codec = load_codec(path)
    except DAMAGE_ERRORS as exc:
        logger.warning("ignoring damaged %s (codec does not load: %s); the run will be recomputed", path,
                       str(exc)[:200])
        return None
    if codec.bitrate != key.bitrate or codec.method != key.method.lower() or (codec.compand, codec.postfilter) != (
            float(settings.get("compand", 1.0)), float(settings.get("postfilter", 1.0))) or not (
            len(record["pesq"]) == len(record["psnr"]) == len(record["test_items"])):
        logger.warning("ignoring damaged %s (a %g kbps %s codec, companding %g, postfilter %g, with %d/%d/%d "
                       "scores, expected %s); the run will be recomputed", path, codec.bitrate, codec.method,
                       codec.compand, codec.postfilter,
                       len(record["pesq"]),
                       len(record["psnr"]), len(record["test_items"]), key.name)
        return None
    return record


def stored_codec(cache: RunCache, key: SpeechRunKey, device: torch.device | str = "cpu") -> SpeechCodec:
    """The trained codec of a stored run, on ``device``."""
    return load_codec(cache.tensors_path(key), device=device)


def stored_or_run(cache: RunCache, key: SpeechRunKey, preset: SpeechPreset, data: SpeechData,
                  device: torch.device) -> tuple[dict[str, Any], bool]:
    """``(record, computed)`` of run ``key``: stored, or trained, scored and stored now (AVQ from the
    stored RVQ codec of the same bitrate and seed when ``preset.avq_init`` is ``"rvq"``). The run's lock
    is held meanwhile, so a runner on the same cache waits for it and then reads it."""
    settings = preset.training_settings(key.method)
    with cache.claim(key):
        record = stored_record(cache, key, settings)
        if record is not None:
            return record, False
        warm = None
        if key.method == "AVQ" and preset.avq_init == "rvq":
            with cache.claim(key.warm_start):
                warm = stored_codec(cache, key.warm_start, device)
        record, codec = run_one(key, preset, data, device, warm)
        store_run(cache, key, settings, record, codec)
    return record, True


def bitrate_bands(methods: Sequence[str], bitrates: Sequence[float], seeds: Sequence[int],
                  values: Callable[[str, float, int], Sequence[float]],
                  quantiles: tuple[float, float]) -> dict[str, results.Series]:
    """Per method, the band over (test utterance, seed) at every bitrate.

    ``values(method, bitrate, seed)`` lists one number per test utterance.
    """
    series = {}
    for m in methods:
        per_rate = [[v for s in seeds for v in values(m, float(r), int(s))] for r in bitrates]
        summary = result_meta.summarize(np.array(per_rate).T, axis=0, quantiles=quantiles)
        series[m] = results.Series(mean=summary.mean, low=summary.low, high=summary.high)
    return series
