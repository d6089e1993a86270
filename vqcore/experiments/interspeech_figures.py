"""The result files of the Interspeech 2023 phone figures, one writer per file, each reading a
:class:`~vqcore.experiments.interspeech_runs.PhoneStudy`.

- ``sfvqgroups``: :func:`write_phone_group_histograms`, the SFVQ indices per TIMIT phone group
  over the test set (``phone_group_histograms.json``);
- ``sfvqfricatives``: :func:`write_fricative_histograms`, the same per fricative phone
  (``fricative_histograms.json``);
- ``sfvqcontrol``: :func:`write_vq_phone_group_histograms`, the phone-group histograms of the
  plain VQ (``vq_phone_group_histograms.json``);
- ``sfvqdivergence``: :func:`write_adjacent_index_divergence`, the adjacent-index Jensen-Shannon
  divergence of SFVQ and VQ and their permuted-index baselines over seeds
  (``adjacent_index_divergence.json``, :mod:`vqcore.eval.index_divergence`);
- ``sfvqtime``: :func:`write_index_vs_time`, the codebook index of every frame of the test sentence
  :data:`vqcore.speech.corpus.SFVQ_SENTENCE`, SFVQ against VQ, with its phone segmentation
  (``index_vs_time.json``), the converted-voice examples (``audio/``) and the two quantizers of
  record (``models/``).

The histograms and the sentence are those of the first seed (the model of record); the divergence
uses every seed. The divergence uses ``"VQ Bitrate"`` as x key; the histograms use ``"Index"``
for the codebook index (labels ``"0" .. "255"``) and the sentence file ``"Time"`` for the frame
time (labels in seconds); each also says so in its ``"x axis"`` context key. The file names come
from :mod:`vqcore.experiments.registry`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..eval.index_divergence import adjacent_divergence, class_histograms, permuted_adjacent_divergence
from ..io import result_meta, results
from ..quantizers.serialization import save as save_quantizer
from . import registry
from .interspeech_presets import METHODS
from .interspeech_runs import PhoneStudy
from .voice_conversion_audio import write_audio_examples

__all__ = ["CONSONANT_GROUPS", "INDEX_X_KEY", "TIME_X_KEY", "VOWEL_GROUPS", "WRITERS",
           "write_adjacent_index_divergence", "write_fricative_histograms", "write_index_vs_time",
           "write_phone_group_histograms", "write_vq_phone_group_histograms"]

#: the x key of the per-index files, and of the per-frame file
INDEX_X_KEY = "Index"
TIME_X_KEY = "Time"
#: the phone groups that the SFVQ's indices separate: consonant-like and vowel-like
CONSONANT_GROUPS = ("silence", "plosives", "fricatives", "nasals")
VOWEL_GROUPS = ("vowels", "diphthongs", "semivowels")
_ONE_MODEL = "the test frames of one trained model (the first seed); no band"


def _shared_meta(study: PhoneStudy) -> dict[str, Any]:
    """What every phone figure's meta says: data, methods, settings, model and the models' training times."""
    p, records = study.preset, study.records
    manifest = study.corpus.manifest
    data = {"corpus": manifest["config"], "corpus_seed": p.corpus_seed, "espeak": manifest["espeak"],
            "split": manifest["split"], "test_frames": len(study.phones), "features": study.analysis.config()}
    methods = {"SFVQ": f"SpaceFillingVQ, {2 ** p.bits} vertices (grown from 4 by doubling, {p.bits - 1} equal "
                       "phases), NSVQ around the dithered curve point; index = nearest vertex",
               "VQ": f"VQ, {2 ** p.bits} codewords, NSVQ, codebook replacement every {p.replace_every} steps"}
    return {"paper": "interspeech2023", "data": data, "methods": methods, "settings": p.settings(),
            "model": "VoiceConversionVQVAE (vqcore.models.voice_conversion)", "wall_time_s": round(study.wall_s, 3),
            "wall_time_definition": "this call's time to train the missing models and read the stored ones",
            "compute_seconds": round(sum(r["train_seconds"] for r in records.values()), 1),
            "train_seconds": {f"{m} seed {s}": round(r["train_seconds"], 1) for (m, s), r in records.items()},
            "train_reconstruction_mse": {f"{m} seed {s}": round(r["train_reconstruction_mse"], 4)
                                         for (m, s), r in records.items()}}


def _one_model_meta(study: PhoneStudy, figure: str) -> dict[str, Any]:
    return result_meta.make_meta(study.preset.name, [study.record_seed], study.device, figure=figure, over=_ONE_MODEL,
                             **_shared_meta(study))


def _normalised_rows(counts: np.ndarray) -> list[list[float]]:
    """Each row of ``counts`` ``(C, K)`` divided by its sum (an empty row stays zeros)."""
    totals = counts.sum(1, keepdims=True)
    return [(row / t if t else row.astype(float)).tolist() for row, t in zip(counts, totals[:, 0])]


def _write_histograms(study: PhoneStudy, results_dir: str | os.PathLike, figure: str, method: str,
                      labels: list[str], classes: Sequence[str], what: str) -> Path:
    """The share of each class's test frames coded with each index, for the model of record of ``method``."""
    seed, num_codes = study.record_seed, 2 ** study.preset.bits
    present = [c for c in classes if c in set(labels)]
    counts = class_histograms(study.codes(method, seed), labels, present, num_codes)
    series = {c: results.Series(values=row) for c, row in zip(present, _normalised_rows(counts))}
    context = {"Method": method, "Seed": seed, "x axis": f"codebook index (key {INDEX_X_KEY!r}); each series is the "
               f"share of the test frames of that {what} coded with each index (sums to 1)"}
    result = results.ResultFile(metric=f"Share of the {what}'s test frames", x_key=INDEX_X_KEY,
                                x=[str(i) for i in range(num_codes)], series=series, context=context,
                                meta=_one_model_meta(study, figure),
                                extra={"Frames": {c: int(n) for c, n in zip(present, counts.sum(1))}})
    return results.write(result, registry.result_path(results_dir, figure))


def write_phone_group_histograms(study: PhoneStudy, results_dir: str | os.PathLike) -> Path:
    """``sfvqgroups``: the SFVQ index histogram of each phone group."""
    from ..speech.phones import GROUP_NAMES

    return _write_histograms(study, results_dir, "sfvqgroups", "SFVQ", study.groups, GROUP_NAMES, "phone group")


def write_fricative_histograms(study: PhoneStudy, results_dir: str | os.PathLike) -> Path:
    """``sfvqfricatives``: the SFVQ index histogram of each fricative phone."""
    from ..speech.phones import GROUPS

    return _write_histograms(study, results_dir, "sfvqfricatives", "SFVQ", study.phones, GROUPS["fricatives"],
                             "phone")


def write_vq_phone_group_histograms(study: PhoneStudy, results_dir: str | os.PathLike) -> Path:
    """``sfvqcontrol``: the plain VQ's index histogram of each phone group (the control)."""
    from ..speech.phones import GROUP_NAMES

    return _write_histograms(study, results_dir, "sfvqcontrol", "VQ", study.groups, GROUP_NAMES, "phone group")


def _divergence_per_seed(study: PhoneStudy) -> dict[str, list[float]]:
    """Per method, per seed: the adjacent-index divergence, its permuted baseline and the indices used."""
    p, phones, num_codes = study.preset, study.phones, 2 ** study.preset.bits
    per_seed: dict[str, list[float]] = {}
    for method in METHODS:
        for s in study.seeds:
            c = study.codes(method, s)
            per_seed.setdefault(method, []).append(adjacent_divergence(c, phones, num_codes, p.min_count))
            perm = permuted_adjacent_divergence(c, phones, num_codes, p.min_count, p.permutations, seed=s)
            per_seed.setdefault(f"{method} permuted", []).append(float(np.nanmean(perm)))
            per_seed.setdefault(f"{method} used indices", []).append(len(np.unique(c)))
    return per_seed


def write_adjacent_index_divergence(study: PhoneStudy, results_dir: str | os.PathLike) -> Path:
    """``sfvqdivergence``: SFVQ's and VQ's adjacent-index divergence and their permuted baselines over seeds."""
    p, figure = study.preset, "sfvqdivergence"
    per_seed = _divergence_per_seed(study)
    series = {}
    for name, values in per_seed.items():
        if not name.endswith("used indices"):
            summary = result_meta.summarize(values, quantiles=p.quantiles)
            series[name] = results.Series(mean=[summary.mean], low=[summary.low], high=[summary.high])
    meta = result_meta.make_meta(
        p.name, study.seeds, study.device, quantiles=p.quantiles, figure=figure,
        over="seeds (one trained model per seed and method; the value of a seed is over all test frames)",
        metric_definition=(f"mean Jensen-Shannon divergence (bits) between the TIMIT-phone distributions of "
                           f"the test frames coded with indices i and i+1, over the pairs where both indices "
                           f"code at least {p.min_count} frames; 'permuted': the same after relabelling the "
                           f"indices by a random permutation, mean over {p.permutations} permutations "
                           f"(vqcore.eval.index_divergence)"), **_shared_meta(study))
    result = results.ResultFile(
        metric="Adjacent-index Jensen-Shannon divergence", x_key="VQ Bitrate", x=[f"{p.bits} bits"],
        series=series, context={"Labels": "TIMIT phones"}, meta=meta,
        extra={"Per seed": {"Seed": list(study.seeds), **per_seed}})
    return results.write(result, registry.result_path(results_dir, figure))


def write_index_vs_time(study: PhoneStudy, results_dir: str | os.PathLike) -> Path:
    """``sfvqtime``: the SFVQ and VQ index of every frame of the test sentence, its phones, the audio
    examples and the two quantizers of record (``vqcore.load``)."""
    from ..speech.corpus import SFVQ_SENTENCE

    figure, seed, analysis = "sfvqtime", study.record_seed, study.analysis
    audio_dir, models_dir = (Path(results_dir) / d for d in registry.figure(figure).artefacts)
    k, sentence = next((i, u) for i, u in enumerate(study.test) if u.item.text == SFVQ_SENTENCE)
    models = {m: study.load_model(m, seed) for m in METHODS}
    audio = write_audio_examples(models, study, sentence, audio_dir)
    for m, model in models.items():
        save_quantizer(model.quantizer.cpu(), models_dir / f"{m.lower()}_seed{seed}.safetensors")
    hop_s = analysis.hop / analysis.sample_rate
    segs = sentence.item.segments
    result = results.ResultFile(
        metric="Codebook index", x_key=TIME_X_KEY,
        x=[f"{(i + 0.5) * hop_s:.3f} s" for i in range(len(sentence.logmel))],
        series={m: results.Series(values=[float(c) for c in study.records[(m, seed)]["test_codes"][k]])
                for m in METHODS},
        context={"Sentence": sentence.item.text, "Speaker": sentence.item.speaker, "Item": sentence.item.id,
                 "Source audio": audio["examples"][0]["file"],  # the test sentence's source comes first
                 "x axis": f"frame centre in seconds (key {TIME_X_KEY!r}), 20 ms frames"},
        meta=_one_model_meta(study, figure),
        extra={"Phones": {"start_s": [s.start / analysis.sample_rate for s in segs],
                          "end_s": [s.end / analysis.sample_rate for s in segs],
                          "timit": [s.timit for s in segs], "group": [s.group for s in segs]},
               "Audio examples": audio})
    return results.write(result, registry.result_path(results_dir, figure))


#: figure id -> its writer, in the order they run
WRITERS: dict[str, Callable[[PhoneStudy, str | os.PathLike], Path]] = {
    "sfvqgroups": write_phone_group_histograms,
    "sfvqfricatives": write_fricative_histograms,
    "sfvqcontrol": write_vq_phone_group_histograms,
    "sfvqdivergence": write_adjacent_index_divergence,
    "sfvqtime": write_index_vs_time,
}
