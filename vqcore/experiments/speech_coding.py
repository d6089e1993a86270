"""The speech coding experiment of the ICASSP 2023 paper: Figure 1 (PESQ and pSNR vs bitrate).

For every method (AVQ, RVQ, PVQ), bitrate (8, 9.6, 13.2, 16.4, 24.4, 32 kbit/s) and seed, one
:class:`~vqcore.speech.codec.SpeechCodec` is trained on the training split of the eSpeak NG corpus
(:func:`vqcore.speech.corpus.build_corpus`, split by speaker and by sentence) and evaluated on
every held-out test utterance through the real bitstream: ``encode`` (packed bytes, whose length
is checked against the bitrate) then ``decode``. Wide-band PESQ (ITU-T P.862.2, ``pesq``) and
pSNR (:func:`vqcore.speech.metrics.psnr`) compare the decoded utterance with the original.

**Training.** Each quantizer of a codec (one per group of sub-vectors with the same bits per
stage, see :func:`~vqcore.speech.codec.bit_allocation`) is trained with NSVQ and Adam by
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
speaker) is written to ``Results/icassp2023/Figure 1/audio/``: the original as a 16-bit WAV and,
per method and bitrate, the packed bitstream (``.bin``) and the trained codec
(:func:`~vqcore.speech.codec.save_codec`, codebooks stored as float16 to keep the files small),
so that the notebook decodes them live; ``audio/players.jsonl`` lists them (:func:`read_players`).

**Resumable.** Every finished run is stored at once under
``<results_dir>/.runs/speech/<preset>/`` (``<name>.json`` with its settings and per-utterance
scores, ``<name>.safetensors`` with the trained codec, both written atomically); a later call
reuses the runs whose settings match.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import results
from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..training import fit_quantizer
from .common import RunRecords
from .common import resolve_device

logger = logging.getLogger(__name__)

__all__ = [
    "AUDIO_DIR",
    "FIGURES",
    "METHODS",
    "PRESETS",
    "SpeechPreset",
    "SpeechRunKey",
    "bitrate_label",
    "figure_files",
    "get_preset",
    "planned_runs",
    "read_players",
    "run_speech_coding",
]

#: the figure this module makes
FIGURES = ("1",)
#: methods, in the order of the authors' files
METHODS = ("AVQ", "RVQ", "PVQ")
#: the result files (authors' names) and their metrics
FILES = {"PESQ": "icassp2023/Figure 1/PESQ.json", "pSNR": "icassp2023/Figure 1/pSNR.json"}
#: where the audio of the players goes, relative to the results folder
AUDIO_DIR = "icassp2023/Figure 1/audio"
#: the list of the player files in :data:`AUDIO_DIR` (JSON Lines, see :func:`read_players`)
PLAYERS_FILE = "players.jsonl"
RUN_FORMAT = "vqcore-speech-run/1"
PSNR_DEFINITION = ("perceptually weighted segmental SNR: reference and error filtered with W(z) = A(z/0.92)/A(z/0.6) "
                   "(A: order-16 LPC of the reference, 20 ms frames), per-frame SNR limited to [-10, 35] dB, "
                   "averaged over frames within 40 dB of the utterance's loudest (vqcore.speech.metrics.psnr)")
PESQ_DEFINITION = "ITU-T P.862.2 wide-band PESQ (MOS-LQO) at 16 kHz, `pesq` package (vqcore.speech.metrics.pesq_wb)"


@dataclass(frozen=True)
class SpeechPreset:
    """Settings of the speech coding experiment (everything that determines a result but the run's key).

    ``steps`` Adam steps of ``batch_size`` vectors per quantizer at ``lr``; the last
    ``finetune_fraction`` of them at ``lr * finetune_lr_factor`` without codebook replacement.
    AVQ: ``avq_init`` ``"rvq"`` (warm start from the RVQ codec of the same bitrate and seed, then
    ``avq_steps`` beam-search steps of ``avq_batch_size`` at ``avq_lr``, the same final phase) or
    ``"scratch"`` (the same budget as the others). ``max_test_items`` limits the test utterances
    (None: all). ``audio_sentence``: index in :data:`vqcore.speech.corpus.SENTENCES` of the
    utterance written for the audio players (0: the SFVQ sentence, always a test sentence).
    """

    name: str
    corpus: str
    bitrates: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    batch_size: int
    lr: float
    finetune_fraction: float
    finetune_lr_factor: float
    replace_every: int
    replace_until: float
    beam_width: int
    avq_init: str = "rvq"
    avq_steps: int | None = None
    avq_batch_size: int | None = None
    avq_lr: float | None = None
    corpus_seed: int = 0
    max_test_items: int | None = None
    noise_fill: float = 0.0
    quantiles: tuple[float, float] = (0.05, 0.95)
    audio_sentence: int = 0
    notes: str = ""

    def __post_init__(self) -> None:
        if self.avq_init not in ("scratch", "rvq"):
            raise ValueError(f"avq_init must be 'scratch' or 'rvq', got {self.avq_init!r}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")

    def budget(self, method: str) -> tuple[int, int, float]:
        """``(steps, batch_size, lr)`` of ``method``."""
        if method == "AVQ":
            return (self.steps if self.avq_steps is None else self.avq_steps,
                    self.batch_size if self.avq_batch_size is None else self.avq_batch_size,
                    self.lr if self.avq_lr is None else self.avq_lr)
        return self.steps, self.batch_size, self.lr

    def training_settings(self, method: str) -> dict[str, Any]:
        """What determines one run besides its key (JSON-ready; validates the run cache)."""
        steps, batch_size, lr = self.budget(method)
        out: dict[str, Any] = {
            "corpus": self.corpus, "corpus_seed": self.corpus_seed, "steps": steps, "batch_size": batch_size,
            "lr": lr, "finetune_fraction": self.finetune_fraction, "finetune_lr_factor": self.finetune_lr_factor,
            "replace_every": self.replace_every, "replace_until": self.replace_until,
            "max_test_items": self.max_test_items, "noise_fill": self.noise_fill,
        }
        if method == "AVQ":
            out["beam_width"] = self.beam_width
            out["avq_init"] = self.avq_init
            if self.avq_init == "rvq":
                out["warm_start"] = self.training_settings("RVQ")
        return out

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["bitrates"], out["seeds"], out["quantiles"] = list(self.bitrates), list(self.seeds), list(self.quantiles)
        return out


_RATES = (8.0, 9.6, 13.2, 16.4, 24.4, 32.0)

PRESETS: dict[str, SpeechPreset] = {
    "smoke": SpeechPreset(
        name="smoke", corpus="smoke", bitrates=_RATES, seeds=(0,), steps=6, batch_size=64, lr=1e-2,
        finetune_fraction=0.5, finetune_lr_factor=0.1, replace_every=2, replace_until=0.9, beam_width=2,
        avq_steps=2, avq_batch_size=64, avq_lr=3e-3, max_test_items=2,
        notes="pipeline check only: a few steps on the smoke corpus; the numbers mean nothing"),
    "quick": SpeechPreset(
        name="quick", corpus="quick", bitrates=_RATES, seeds=(0,), steps=1000, batch_size=256, lr=1e-2,
        finetune_fraction=0.2, finetune_lr_factor=0.1, replace_every=50, replace_until=0.9, beam_width=8,
        avq_steps=120, avq_batch_size=512, avq_lr=3e-3,
        notes="minutes on a 2-core CPU: one seed, 1000 Adam steps per quantizer; AVQ starts from the trained "
              "RVQ codebooks and trains 120 beam-search steps of 512 vectors with beam width 8"),
    "paper": SpeechPreset(
        name="paper", corpus="paper", bitrates=_RATES, seeds=(0, 1, 2), steps=20000, batch_size=256, lr=1e-3,
        finetune_fraction=0.1, finetune_lr_factor=0.1, replace_every=1000, replace_until=0.9, beam_width=16,
        avq_init="scratch",
        notes="the paper's scale of training (tens of thousands of steps, beam width 16, every method from "
              "scratch) on the larger corpus; a GPU is recommended"),
}


def get_preset(preset: str | SpeechPreset) -> SpeechPreset:
    """The :class:`SpeechPreset` named ``preset`` (``smoke``, ``quick`` or ``paper``), or ``preset`` itself."""
    if isinstance(preset, SpeechPreset):
        return preset
    try:
        return PRESETS[str(preset).strip().lower()]
    except KeyError:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}") from None


def bitrate_label(bitrate: float) -> str:
    """The authors' x label of a bitrate: ``8.0 -> "8 kbits/sec"``, ``9.6 -> "9.6 kbits/sec"``."""
    return f"{float(bitrate):g} kbits/sec"


def figure_files(figure: str = "1") -> list[str]:
    """The result files (relative to the results folder) that ``figure`` writes."""
    _check_figures([figure])
    return list(FILES.values())


def _check_figures(figures: Iterable[str]) -> list[str]:
    if isinstance(figures, str):
        figures = [figures]
    out = []
    for f in figures:
        f = str(f).strip()
        if f not in FIGURES:
            raise ValueError(f"figures must be among {FIGURES}, got {f!r}")
        if f not in out:
            out.append(f)
    return out


@dataclass(frozen=True, order=True)
class SpeechRunKey:
    """One codec: method, bitrate (kbit/s), seed."""

    method: str
    bitrate: float
    seed: int

    @property
    def name(self) -> str:
        """File-name-safe identifier, e.g. ``AVQ-9.6kbps-s0``."""
        return f"{self.method}-{self.bitrate:g}kbps-s{self.seed}"

    @property
    def run_seed(self) -> int:
        return zlib.crc32(self.name.encode()) & 0x7FFFFFFF


def planned_runs(preset: str | SpeechPreset = "quick", seeds: Sequence[int] | None = None) -> list[SpeechRunKey]:
    """Every run of the figure, RVQ before AVQ at each (bitrate, seed) for the warm start."""
    p = get_preset(preset)
    seeds = tuple(p.seeds if seeds is None else seeds)
    return [SpeechRunKey(m, float(r), int(s)) for s in seeds for r in p.bitrates for m in ("RVQ", "PVQ", "AVQ")]


class _RunCache:
    """Finished runs: ``<root>/<name>.json`` (record) and ``<root>/<name>.safetensors`` (codec)."""

    def __init__(self, root: Path) -> None:
        self.records = RunRecords(root, RUN_FORMAT)

    def codec_path(self, key: SpeechRunKey) -> Path:
        return self.records.path(key, ".safetensors")

    def get(self, key: SpeechRunKey, settings: dict[str, Any]) -> dict[str, Any] | None:
        return self.records.get(key, settings, companions=(".safetensors",))

    def put(self, key: SpeechRunKey, settings: dict[str, Any], record: dict[str, Any], codec: Any) -> None:
        from ..speech.codec import save_codec

        save_codec(codec, self.codec_path(key))  # the codec first: a record always has its codec
        self.records.put(key, settings, record)

    def codec(self, key: SpeechRunKey, device: torch.device) -> Any:
        from ..speech.codec import load_codec

        return load_codec(self.codec_path(key), device=device)


class _Data:
    """The corpus of a preset: training sub-vectors (normalized spectra) and the test utterances."""

    def __init__(self, preset: SpeechPreset, cache_dir: str | Path | None, progress: bool) -> None:
        from ..speech.codec import SpeechCodec
        from ..speech.corpus import build_corpus

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

    def vectors(self, codec: Any) -> dict[str, torch.Tensor]:
        """``{"b<bits>": (N, 16)}``: the training vectors of every quantizer of ``codec``."""
        return {f"b{b}": self.train_sub[:, ps].reshape(-1, self.train_sub.shape[-1]).contiguous()
                for b, ps in codec.allocation.groups.items()}

    def describe(self) -> dict[str, Any]:
        m = self.corpus.manifest
        secs = sum(it.num_samples for it in self.corpus.items("train")) / 16000
        return {"name": "eSpeak NG synthetic English speech (vqcore.speech.corpus)", "preset": m["config"]["name"],
                "corpus_seed": m["seed"], "espeak_version": m["espeak"]["version"], "sample_rate": m["sample_rate"],
                "split": m["split"], "train_utterances": len(self.corpus.items("train")),
                "train_seconds": round(secs, 1), "train_frames": self.train_frames,
                "test_utterances": len(self.test_items), "test_items": [it.id for it in self.test_items]}


def _fit_phases(q: Any, data: torch.Tensor, steps: int, batch_size: int, lr: float, preset: SpeechPreset,
                init: bool, seed: int) -> dict[str, Any]:
    log = fit_quantizer(q, data, steps, batch_size=batch_size, lr=lr, replace_every=preset.replace_every,
                        replace_until=preset.replace_until, finetune_fraction=preset.finetune_fraction,
                        finetune_lr_factor=preset.finetune_lr_factor, init=init, seed=seed, progress=False,
                        log_every=1)
    return {"replaced": sum(log.replaced), "final_train_loss": log.loss[-1] if log.loss else None}


def _train_codec(key: SpeechRunKey, preset: SpeechPreset, data: _Data, device: torch.device,
                 warm: Any = None) -> tuple[Any, dict[str, Any]]:
    from ..speech.codec import SpeechCodec

    torch.manual_seed(key.run_seed)
    codec = SpeechCodec(key.bitrate, key.method.lower(), beam_width=preset.beam_width,
                        noise_fill=preset.noise_fill).to(device)
    steps, batch_size, lr = preset.budget(key.method)
    vectors = data.vectors(codec)
    logs = {}
    for i, (name, q) in enumerate(codec.quantizers.items()):
        init = True
        if warm is not None:
            q.codebooks.data.copy_(warm.quantizers[name].codebooks.detach().to(q.codebooks))
            init = False
        logs[name] = _fit_phases(q, vectors[name].to(device), steps, batch_size, lr, preset, init,
                                 key.run_seed + 10 * i)
    codec.eval()
    return codec, logs


def _evaluate(codec: Any, data: _Data) -> dict[str, Any]:
    """Per test utterance: PESQ and pSNR through the packed bitstream, and the bits sent."""
    from ..speech.codec import FRAMES_PER_SECOND
    from ..speech.metrics import pesq_wb, psnr

    pesq_values, psnr_values, total_bits, total_frames = [], [], 0, 0
    for audio in data.test_audio:
        payload = codec.encode(audio)
        expected = codec.packed_bytes(len(audio))
        if len(payload) != expected:
            raise RuntimeError(f"bitstream of {len(payload)} bytes, expected {expected}")
        decoded = codec.decode(payload, length=len(audio))
        pesq_values.append(pesq_wb(audio, decoded))
        psnr_values.append(psnr(audio, decoded))
        total_bits += len(payload) * 8
        total_frames += codec.num_frames(len(audio))
    return {"pesq": pesq_values, "psnr": psnr_values, "bytes_total": total_bits // 8, "frames_total": total_frames,
            "measured_kbps": total_bits / total_frames * FRAMES_PER_SECOND / 1000}


def _run_one(key: SpeechRunKey, preset: SpeechPreset, data: _Data, device: torch.device,
             warm: Any = None) -> tuple[dict[str, Any], Any]:
    start = time.perf_counter()
    codec, logs = _train_codec(key, preset, data, device, warm)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = _evaluate(codec, data)
    eval_s = time.perf_counter() - start
    record = {**scores, "test_items": [it.id for it in data.test_items], "train_seconds": round(train_s, 3),
              "eval_seconds": round(eval_s, 3), "quantizers": logs, "bits_per_frame": codec.bits_per_frame,
              "allocation": codec.allocation.describe(),
              "warm_start": None if warm is None else f"RVQ-{key.bitrate:g}kbps-s{key.seed}",
              "device": str(device), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return record, codec


def _assemble(metric: str, preset: SpeechPreset, seeds: Sequence[int], records: dict[SpeechRunKey, dict[str, Any]],
              device: torch.device, data: _Data, wall: float) -> results.ResultFile:
    field = "pesq" if metric == "PESQ" else "psnr"
    series = {}
    compute = 0.0
    for m in METHODS:
        per_rate = []
        for r in preset.bitrates:
            values = [v for s in seeds for v in records[SpeechRunKey(m, float(r), int(s))][field]]
            per_rate.append(values)
            compute += sum(records[SpeechRunKey(m, float(r), int(s))]["train_seconds"]
                           + records[SpeechRunKey(m, float(r), int(s))]["eval_seconds"] for s in seeds)
        summary = results.summarize(np.array(per_rate).T, axis=0, quantiles=preset.quantiles)
        series[m] = results.Series(mean=summary.mean, low=summary.low, high=summary.high)
    measured = {f"{m} {r:g}": round(records[SpeechRunKey(m, float(r), int(seeds[0]))]["measured_kbps"], 6)
                for m in METHODS for r in preset.bitrates}
    meta = results.make_meta(
        preset.name, seeds, device, quantiles=preset.quantiles,
        over=f"(test utterance, seed) pairs: {len(data.test_items)} held-out utterances x {len(seeds)} seed(s)",
        figure="1", paper="icassp2023", data=data.describe(),
        metric_definition=PESQ_DEFINITION if metric == "PESQ" else PSNR_DEFINITION,
        codec=("MDCT transform codec (vqcore.speech.codec.SpeechCodec): 20 ms frames, 48 envelope bits per frame, "
               "the normalized spectrum in 20 sub-vectors of 16 coefficients, each coded by a 4-stage quantizer "
               "with the bits per stage of vqcore.speech.codec.bit_allocation; evaluated through the packed "
               "bitstream (encode -> bytes -> decode)"),
        measured_kbps=measured,
        methods={"AVQ": f"AdditiveVQ, 4 codebooks of 16 dims, beam width {preset.beam_width}",
                 "RVQ": "ResidualVQ, 4 stages of 16 dims", "PVQ": "ProductVQ, 4 parts of 4 dims"},
        training=("NSVQ, Adam, codebook replacement (vqcore.training.fit_quantizer), codebooks initialised from the "
                  "training data; " + ("AVQ starts from the trained RVQ codebooks of the same bitrate and seed, "
                                       "then trains with beam-search encoding" if preset.avq_init == "rvq"
                                       else "AVQ starts like the others")),
        settings=preset.as_dict(), compute_seconds=round(compute, 3), wall_time_s=round(wall, 3),
    )
    return results.ResultFile(metric=metric, x_key="Sampling Rate", x=[bitrate_label(r) for r in preset.bitrates],
                              series=series, meta=meta)


def _write_audio(preset: SpeechPreset, seed: int, data: _Data, cache: _RunCache, results_dir: Path,
                 records: dict[SpeechRunKey, dict[str, Any]], device: torch.device) -> list[Path]:
    """The player material: the original utterance, and per method and bitrate its bitstream and codec."""
    from ..speech.codec import save_codec
    from ..speech.corpus import wav_bytes

    folder = results_dir / AUDIO_DIR
    candidates = [i for i, it in enumerate(data.test_items) if it.sentence_id == preset.audio_sentence]
    index = candidates[0] if candidates else 0
    item, audio = data.test_items[index], data.test_audio[index]
    written = [atomic_write_bytes(folder / "original.wav",
                                  wav_bytes(audio, 16000))]
    entries = []
    for m in METHODS:
        for r in preset.bitrates:
            key = SpeechRunKey(m, float(r), int(seed))
            codec = cache.codec(key, device)
            stem = f"{m}_{r:g}kbps"
            codec_file = save_codec(codec, folder / f"{stem}.safetensors", dtype=torch.float16)
            from ..speech.codec import load_codec

            stored = load_codec(codec_file)  # what the notebook will decode with (float16 codebooks)
            payload = stored.encode(audio)
            written += [codec_file, atomic_write_bytes(folder / f"{stem}.bin", payload)]
            rec = records[key]
            pos = rec["test_items"].index(item.id)
            entries.append({"method": m, "bitrate": r, "label": bitrate_label(r), "bitstream": f"{stem}.bin",
                            "codec": f"{stem}.safetensors", "bytes": len(payload),
                            "pesq_in_run": rec["pesq"][pos], "psnr_in_run": rec["psnr"][pos]})
    info = {"item": item.id, "text": item.text, "speaker": item.speaker, "num_samples": len(audio),
            "sample_rate": 16000, "original": "original.wav", "seed": int(seed), "preset": preset.name,
            "note": ("codecs stored with float16 codebooks (the runs used float32) and the bitstream encoded with "
                     "them; pesq_in_run/psnr_in_run are the scores of this utterance in the evaluated run"),
            }
    lines = [json.dumps({"utterance": info})] + [json.dumps(e) for e in entries]
    written.append(atomic_write_text(folder / PLAYERS_FILE, "\n".join(lines) + "\n"))
    return written


def read_players(audio_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(utterance info, entries)`` from the ``players.jsonl`` that :func:`run_speech_coding` writes.

    JSON Lines (not ``.json``, so that a results tree holds only result files): the first line is
    ``{"utterance": {...}}`` (item id, text, speaker, ``num_samples``, ``original`` WAV name, ...),
    each further line one method and bitrate (``method``, ``bitrate``, ``label``, ``bitstream``,
    ``codec``, ``bytes``, and the utterance's scores in the evaluated run).
    """
    path = Path(audio_dir) / PLAYERS_FILE
    if not path.is_file():
        raise ValueError(f"audio_dir {str(audio_dir)!r} has no {PLAYERS_FILE}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows or "utterance" not in rows[0]:
        raise ValueError(f"{path}: the first line must be {{\"utterance\": ...}}")
    return rows[0]["utterance"], rows[1:]


def run_speech_coding(figures: Iterable[str] = FIGURES, preset: str | SpeechPreset = "quick",
                      results_dir: str | Path = "Results", device: str | torch.device | None = "auto",
                      progress: bool = True, *, seeds: Sequence[int] | None = None,
                      corpus_cache_dir: str | Path | None = None, run_cache_dir: str | Path | None = None,
                      audio: bool = True) -> list[Path]:
    """Run (or resume) the speech coding experiment and write ``PESQ.json`` and ``pSNR.json``.

    Args:
        figures: ``("1",)``.
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` or a :class:`SpeechPreset`.
        results_dir: the ``Results`` folder; files go to ``<results_dir>/icassp2023/Figure 1/``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
        progress: tqdm bar over the runs.
        seeds: override the preset's seeds.
        corpus_cache_dir: where the corpus is cached (default: :func:`vqcore.speech.corpus.default_cache_dir`).
        run_cache_dir: where finished runs are stored (default ``<results_dir>/.runs/speech/<preset>``).
        audio: also write the audio player material (:data:`AUDIO_DIR`).

    Returns:
        The files written (the two result files, then the audio files).
    """
    _check_figures(figures)
    p = get_preset(preset)
    seeds = tuple(int(s) for s in (p.seeds if seeds is None else seeds))
    if not seeds:
        raise ValueError("seeds must not be empty")
    dev = resolve_device(device)
    results_dir = Path(results_dir)
    cache = _RunCache(Path(run_cache_dir) if run_cache_dir is not None else results_dir / ".runs" / "speech" / p.name)
    start = time.perf_counter()
    data = _Data(p, corpus_cache_dir, progress)
    keys = planned_runs(p, seeds)
    records: dict[SpeechRunKey, dict[str, Any]] = {}
    todo = []
    for key in keys:
        rec = cache.get(key, p.training_settings(key.method))
        if rec is None:
            todo.append(key)
        else:
            records[key] = rec
    logger.info("speech coding, preset %s on %s: %d runs stored, %d to compute", p.name, dev, len(records), len(todo))
    bar = tqdm(todo, desc=f"speech ({p.name})", disable=not progress, unit="codec")
    for key in bar:
        bar.set_postfix_str(key.name)
        warm = None
        if key.method == "AVQ" and p.avq_init == "rvq":
            warm = cache.codec(SpeechRunKey("RVQ", key.bitrate, key.seed), dev)
        record, codec = _run_one(key, p, data, dev, warm)
        cache.put(key, p.training_settings(key.method), record, codec)
        records[key] = record
        logger.info("%s: PESQ %.3f, pSNR %.2f dB (train %.1f s, test %.1f s)", key.name, np.mean(record["pesq"]),
                    np.mean(record["psnr"]), record["train_seconds"], record["eval_seconds"])
    bar.close()
    wall = time.perf_counter() - start
    written = []
    for metric, rel in FILES.items():
        written.append(results.write(_assemble(metric, p, seeds, records, dev, data, wall), results_dir / rel))
    if audio:
        written += _write_audio(p, seeds[0], data, cache, results_dir, records, dev)
    return written
