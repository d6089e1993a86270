"""Why PESQ prefers PVQ in our speech codec: an analysis of the stored codecs of ICASSP 2023 Figure 1.

The squared error ranks our quantizers AVQ < RVQ < PVQ, PESQ ranks PVQ first. This module measures
why, with the codecs stored beside the results of record (``Results/icassp2023/Figure 1/audio/``,
float16 codebooks) on every held-out utterance of the corpus those results were made on (its
preset, seed and item ids are read from ``PESQ.json``'s ``meta``). Per bitrate and method (means
over the utterances):

- ``PESQ``: of the signal decoded from the quantized sub-vectors;
- ``PESQ peakier``: each decoded sub-vector made peakier at the same energy,
  ``sign(q) |q|^1.25`` rescaled (:func:`sharpen`), PESQ again (a causal check: deeper valleys,
  a slightly higher squared error);
- ``valley power (dB)``: in a 512-point FFT of every speech frame (within 30 dB of the loudest),
  below 1.7 kHz, the decoded power in the bins more than 20 dB below the frame's peak relative to
  the original's power there; ``louder bins``: the fraction of bins more than 3 times louder than
  the original (both plus a floor 30 dB below the frame's peak) (:func:`valley_stats`);
- ``error (dB)`` and ``error sub-vector 2 (dB)``: ``10 log10(||x - Q(x)||^2 / ||x||^2)`` over the
  coded sub-vectors, and over sub-vector 2 (400-800 Hz) alone (``x`` the envelope-normalized
  sub-vectors, ``Q(x)`` the decoder's, after the expansion when the codec compands);
- ``near-zero share``: the share of coded coefficients whose decoded magnitude is below a tenth
  of the original's; ``small-coefficient excess (dB)``: on the coefficients below a quarter of
  their sub-vector's RMS, the decoded energy relative to the original's.

And per bitrate the hybrids (mean PESQ): AVQ's output with PVQ's in sub-vector 2 only, PVQ's with
AVQ's there, AVQ's with PVQ's in the loud frames only (frame gain at least the median) or the quiet
frames only.

The result is a result file (:mod:`vqcore.io.results`, x axis ``"Sampling Rate"`` as in
``PESQ.json``, one plain series per method and quantity) written atomically to
:data:`ANALYSIS_FILE` under the results folder. Each bitrate's values are kept in a cache folder
while the run goes on, so an interrupted run resumes. Command line::

    .venv/bin/python -m vqcore.experiments.speech_analysis --results-dir Results
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import results
from ..io.atomic import atomic_write_text
from ..io.result_meta import make_meta
from ..speech.codec import SpeechCodec
from ..speech.codec import sharpen as codec_sharpen
from ..speech.codec_io import load_codec
from ..speech.corpus import build_corpus, default_cache_dir
from ..speech.metrics import pesq_wb
from .registry import figure, result_path
from .speech_players import read_players

logger = logging.getLogger(__name__)

__all__ = ["ANALYSIS_FILE", "DEFINITIONS", "HYBRIDS", "METHODS", "QUANTITIES", "analyse_rate", "run_speech_analysis",
           "series_name", "sharpen", "valley_stats"]

#: where the analysis is written, relative to the results folder
ANALYSIS_FILE = "icassp2023/Figure 1/analysis.json"
METHODS = ("AVQ", "RVQ", "PVQ")
QUANTITIES = ("PESQ", "PESQ peakier", "valley power (dB)", "louder bins", "error (dB)",
              "error sub-vector 2 (dB)", "near-zero share", "small-coefficient excess (dB)")
HYBRIDS = ("AVQ with PVQ in sub-vector 2", "PVQ with AVQ in sub-vector 2", "AVQ with PVQ in the loud frames",
           "AVQ with PVQ in the quiet frames")
#: what each quantity is, recorded in the file's meta
DEFINITIONS: dict[str, str] = {
    "PESQ": "wide-band PESQ of the signal decoded from the quantized sub-vectors (stored codecs)",
    "PESQ peakier": "PESQ after each decoded sub-vector is made peakier at the same energy: sign(q)|q|^1.25, rescaled",
    "valley power (dB)": "512-point FFT of the speech frames (within 30 dB of the loudest), bins below 1700 Hz more "
                         "than 20 dB below the frame's peak: decoded power there relative to the original's",
    "louder bins": "share of those frames' bins below 1700 Hz where the decoded power exceeds 3 times the original's "
                   "(both plus a floor 30 dB below the frame's peak)",
    "error (dB)": "10 log10(||x - Q(x)||^2 / ||x||^2) over the coded sub-vectors",
    "error sub-vector 2 (dB)": "the same over sub-vector 2 (400-800 Hz) alone",
    "near-zero share": "share of coded coefficients whose decoded magnitude is below a tenth of the original's",
    "small-coefficient excess (dB)": "on coefficients below a quarter of their sub-vector's RMS: decoded energy "
                                     "relative to the original's",
    "hybrids": "mean PESQ of AVQ's output with PVQ's in sub-vector 2 only (and back), or in the loud (frame gain at "
               "least the median) or quiet frames only",
}
_SUBVECTOR_2 = 1  # the second sub-vector, 400-800 Hz
_FORMAT = 1  # bump when a definition changes, so cached partial results are not reused


def series_name(method: str, quantity: str) -> str:
    """The file's series key: ``"AVQ PESQ"``; a hybrid's key is its name."""
    return f"{method} {quantity}"


def quantize_all(codec: SpeechCodec, x: torch.Tensor) -> torch.Tensor:
    """``(T, 20, 16)`` normalized sub-vectors -> their quantized values, as the decoder makes them
    (companded, quantized, expanded and postfiltered as ``codec`` does; uncoded sub-vectors stay 0)."""
    z = codec.compress(x)
    q = torch.zeros_like(x)
    with torch.no_grad():
        for b, ps in codec.allocation.groups.items():
            v = z[:, ps].reshape(-1, x.shape[-1])
            q[:, ps] = codec.quantizers[f"b{b}"].quantize(v).reshape(x.shape[0], len(ps), -1)
    return codec.reconstruct(q)


def sharpen(q: torch.Tensor, power: float = 1.25) -> torch.Tensor:
    """Each sub-vector (last axis) made peakier with its energy kept: ``sign(q) |q|^power``, rescaled
    (:func:`vqcore.speech.codec.sharpen`, the codec's postfilter)."""
    return codec_sharpen(q, power)


class _Utterance:
    """One held-out utterance: its audio, analysis (envelope) and every method's quantized sub-vectors."""

    def __init__(self, audio: np.ndarray, analysis: SpeechCodec, codecs: dict[str, SpeechCodec]) -> None:
        self.audio = audio
        self.a = analysis.analyze(audio)
        self.x = analysis.subvectors(self.a["normalized"])
        self.q = {m: quantize_all(c, self.x) for m, c in codecs.items()}
        self.loud_gain = math.inf  # the frame gain from which a frame counts as loud (set over all utterances)
        self._mdct = analysis.mdct

    def synthesize(self, q: torch.Tensor) -> np.ndarray:
        """Quantized normalized sub-vectors ``(T, 20, 16)`` -> audio, with this utterance's decoded envelope."""
        coeffs = q.to(torch.float64).reshape(len(q), -1) * self.a["scale"]
        return self._mdct.inverse(coeffs, len(self.audio)).numpy()


def _spectra(y: np.ndarray, n: int = 512) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(y, np.float64), n)[:: n // 2] * np.hanning(n)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def valley_stats(pairs: Sequence[tuple[np.ndarray, np.ndarray]], top_hz: float = 1700.0,
                 n: int = 512) -> tuple[float, float]:
    """``(valley power of the decoded relative to the original, dB; share of bins > 3x louder)``
    over the (original, decoded) audio ``pairs``: speech frames only, bins below ``top_hz``."""
    band = np.fft.rfftfreq(n, 1 / 16000) < top_hz
    dec_v = ref_v = louder = bins = 0.0
    for original, decoded in pairs:
        ref = _spectra(original, n)
        level = 10 * np.log10(ref.sum(1) + 1e-12)
        speech = level > level.max() - 30
        ref, dec = ref[speech][:, band], _spectra(decoded, n)[speech][:, band]
        peak = ref.max(1, keepdims=True)
        valley = ref < peak * 1e-2
        dec_v, ref_v = dec_v + dec[valley].sum(), ref_v + ref[valley].sum()
        louder += ((dec + 1e-3 * peak) > 3 * (ref + 1e-3 * peak)).sum()
        bins += ref.size
    return float(10 * np.log10(dec_v / ref_v)), float(louder / bins)


def _coefficient_stats(utts: Sequence[_Utterance], method: str, coded: list[int]) -> dict[str, float]:
    """The squared-error and small-coefficient statistics of ``method`` over the coded sub-vectors."""
    x = torch.cat([u.x[:, coded] for u in utts]).double()
    q = torch.cat([u.q[method][:, coded] for u in utts]).double()
    x2 = torch.cat([u.x[:, [_SUBVECTOR_2]] for u in utts]).double()
    q2 = torch.cat([u.q[method][:, [_SUBVECTOR_2]] for u in utts]).double()
    rms = x.pow(2).mean(-1, keepdim=True).sqrt()
    small = x.abs() < 0.25 * rms
    return {"error (dB)": float(10 * torch.log10((q - x).pow(2).sum() / x.pow(2).sum())),
            "error sub-vector 2 (dB)": float(10 * torch.log10((q2 - x2).pow(2).sum() / x2.pow(2).sum())),
            "near-zero share": float((q.abs() < 0.1 * x.abs()).double().mean()),
            "small-coefficient excess (dB)": float(10 * torch.log10(q[small].pow(2).sum() / x[small].pow(2).sum()))}


def _mean_pesq(utts: Sequence[_Utterance], make: Callable[[_Utterance], torch.Tensor]) -> float:
    return float(np.mean([pesq_wb(u.audio, u.synthesize(make(u))) for u in utts]))


def _hybrid(outer: str, inner: str, subvectors: Any = slice(None), frames: str = "all") -> Callable:
    def make(u: _Utterance) -> torch.Tensor:
        out = u.q[outer].clone()
        gain = u.a["gain"]
        rows = {"all": slice(None), "loud": gain >= u.loud_gain, "quiet": gain < u.loud_gain}[frames]
        out[rows, subvectors] = u.q[inner][rows, subvectors]
        return out
    return make


def analyse_rate(codecs: dict[str, SpeechCodec], audios: Sequence[np.ndarray]) -> dict[str, float]:
    """Every quantity of the module's list for one bitrate: ``{series_name: value}`` (means over ``audios``).

    ``codecs``: the stored codec of each of :data:`METHODS` at that bitrate (their envelope and
    normalization are the same, so the first one analyses the audio).
    """
    with torch.no_grad():
        utts = [_Utterance(np.asarray(a, np.float32), codecs[METHODS[0]], codecs) for a in audios]
    loud_gain = float(torch.cat([u.a["gain"] for u in utts]).float().median())
    for u in utts:
        u.loud_gain = loud_gain
    coded = codecs[METHODS[0]].allocation.coded
    out: dict[str, float] = {}
    for m in METHODS:
        vp, lf = valley_stats([(u.audio, u.synthesize(u.q[m])) for u in utts])
        values = {"PESQ": _mean_pesq(utts, lambda u, m=m: u.q[m]),
                  "PESQ peakier": _mean_pesq(utts, lambda u, m=m: sharpen(u.q[m])),
                  "valley power (dB)": vp, "louder bins": lf, **_coefficient_stats(utts, m, coded)}
        out.update({series_name(m, k): values[k] for k in QUANTITIES})
    makers = (_hybrid("AVQ", "PVQ", [_SUBVECTOR_2]), _hybrid("PVQ", "AVQ", [_SUBVECTOR_2]),
              _hybrid("AVQ", "PVQ", frames="loud"), _hybrid("AVQ", "PVQ", frames="quiet"))
    out.update({name: _mean_pesq(utts, make) for name, make in zip(HYBRIDS, makers)})
    return out


def _held_out_audio(pesq_meta: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The held-out utterances of the results of record (the corpus named in ``PESQ.json``'s meta)."""
    data = pesq_meta.get("data", {})
    try:
        preset, seed, ids = data["preset"], int(data["corpus_seed"]), list(data["test_items"])
    except KeyError as exc:
        raise ValueError(f"PESQ.json meta: data has no {exc.args[0]!r}; cannot find its held-out utterances") from None
    corpus = build_corpus(preset, seed=seed, workers=1)
    by_id = {it.id: it for it in corpus.items("test")}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"PESQ.json meta: test items {missing[:3]} are not in the {preset!r} corpus (seed {seed})")
    info = {"preset": preset, "corpus_seed": seed, "test_utterances": len(ids), "test_items": ids,
            "espeak_version": corpus.manifest.get("espeak", {}).get("version")}
    return [corpus.load_audio(by_id[i]) for i in ids], info


def _cache_dir(audio_dir: Path, entries: list[dict[str, Any]], ids: list[str]) -> Path:
    digest = hashlib.sha256(json.dumps({"format": _FORMAT, "items": ids}).encode())
    for e in sorted(entries, key=lambda e: e["codec"]):
        digest.update((audio_dir / e["codec"]).read_bytes())
    return default_cache_dir().parent / "speech_analysis" / digest.hexdigest()[:16]


def _rate_values(label: str, rate_entries: list[dict[str, Any]], audio_dir: Path, audios: list[np.ndarray],
                 cache: Path) -> dict[str, float]:
    """One bitrate's values, from the cache folder when an earlier run left them there."""
    part = cache / f"{label.split()[0]}.json"
    if part.is_file():
        logger.info("%s: from %s", label, part)
        return json.loads(part.read_text(encoding="utf-8"))
    codecs = {e["method"]: load_codec(audio_dir / e["codec"]) for e in rate_entries}
    missing = [m for m in METHODS if m not in codecs]
    if missing:
        raise ValueError(f"{audio_dir}: no stored codec of {missing} at {label}")
    values = analyse_rate(codecs, audios)
    atomic_write_text(part, json.dumps(values))
    return values


def run_speech_analysis(results_dir: str | os.PathLike, *, progress: bool = True) -> Path:
    """Analyse the stored codecs under ``results_dir`` on the held-out utterances of its ``PESQ.json``
    and write :data:`ANALYSIS_FILE` there. Returns the file written."""
    results_dir = Path(results_dir)
    pesq_file = results.load(result_path(results_dir, "1", 0))
    audio_dir = results_dir / figure("1").artefacts[0]
    index, entries = read_players(audio_dir)
    audios, data = _held_out_audio(pesq_file.meta)
    cache = _cache_dir(audio_dir, entries, data["test_items"])
    labels = [x for x in pesq_file.x if any(e["label"] == x for e in entries)]
    if progress:
        from tqdm.auto import tqdm
        labels_iter = tqdm(labels, desc="speech analysis")
    else:
        labels_iter = labels
    per_rate = [_rate_values(x, [e for e in entries if e["label"] == x], audio_dir, audios, cache)
                for x in labels_iter]
    names = [series_name(m, k) for m in METHODS for k in QUANTITIES] + list(HYBRIDS)
    first = load_codec(audio_dir / entries[0]["codec"])
    seeds = [int(index["seed"])] if "seed" in index else pesq_file.meta.get("seeds", [0])  # the stored codecs' seed
    meta = make_meta(pesq_file.meta.get("preset", "quick"), seeds, "cpu",
                     over=f"means over the {len(audios)} held-out utterances (no band)", figure="1",
                     paper="icassp2023", data=data, codecs=f"{figure('1').artefacts[0]} (float16 codebooks)",
                     codec={"compand": first.compand, "postfilter": first.postfilter, "noise_fill": first.noise_fill},
                     source="vqcore.experiments.speech_analysis", definitions=DEFINITIONS)
    obj = {"Metric": "Speech analysis", pesq_file.x_key: labels,
           **{n: [v[n] for v in per_rate] for n in names}, "meta": meta}
    path = results.write(obj, results_dir / ANALYSIS_FILE)
    logger.info("wrote %s", path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Why PESQ prefers PVQ: analyse the stored codecs of Figure 1.")
    parser.add_argument("--results-dir", default="Results", help="the results folder (default: Results)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_speech_analysis(args.results_dir)


if __name__ == "__main__":
    main()
