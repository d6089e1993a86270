"""The trained voice-conversion models of the Interspeech phone figures: trained once, stored, reused.

Every model is a run of a :class:`~vqcore.experiments.run_cache.RunCache` under
``<results_dir>/.runs/interspeech/<preset>/`` named ``<method>-s<seed>``: its state dict in
``<name>.safetensors`` (the SFVQ's number of active vertices is the buffer
``quantizer._num_active`` in it) and a JSON record with its training log and its test-set codes.
A run whose settings (:meth:`InterspeechPreset.training_settings`) match is read, not trained again.

:func:`prepare_study` loads the corpus, makes sure every model a set of figures needs exists and
returns them as a :class:`PhoneStudy`, which the figure writers of
:mod:`vqcore.experiments.interspeech_figures` read.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models.voice_conversion import VoiceConversionVQVAE
from ..speech.logmel import LogMel
from .run_cache import RunCache
from .interspeech_presets import METHODS, InterspeechPreset
from .voice_conversion_training import Utterance, build_model, evaluate_model, load_speech, train_voice_conversion

logger = logging.getLogger(__name__)

__all__ = ["RUN_FORMAT", "PhoneStudy", "load_model", "prepare_study", "run_cache"]

RUN_FORMAT = "vqcore-interspeech-run/2"


def run_cache(results_dir: str | os.PathLike, preset: str, cache_dir: str | os.PathLike | None = None) -> RunCache:
    """The models' cache: ``cache_dir``, by default ``<results_dir>/.runs/interspeech/<preset>``."""
    root = Path(cache_dir) if cache_dir is not None else Path(results_dir) / ".runs" / "interspeech" / preset
    return RunCache(root, RUN_FORMAT)


def _key(method: str, seed: int) -> str:
    return f"{method}-s{seed}"


def load_model(cache: RunCache, method: str, seed: int, p: InterspeechPreset, num_speakers: int,
               device: torch.device) -> VoiceConversionVQVAE:
    """The stored model of ``method`` and ``seed`` (in eval mode, on ``device``); a ``ValueError``
    naming the run when none was stored with the preset's settings, or it does not fit the model."""
    model = build_model(method, p, num_speakers)
    # restores the SFVQ's number of active vertices too
    if cache.load_state(_key(method, seed), p.training_settings(), model) is None:
        raise ValueError(f"no stored model {_key(method, seed)!r} with these settings in {cache.root}"
                         " (or it is damaged: see the log)")
    return model.to(device).eval()


def _train_and_store(cache: RunCache, method: str, seed: int, p: InterspeechPreset, train: list[Utterance],
                     test: list[Utterance], speaker_ids: dict[str, int], device: torch.device,
                     progress: bool) -> dict[str, Any]:
    """Train one model, store it with its record (log, test codes) and return the record."""
    model, log = train_voice_conversion(method, p, train, speaker_ids, seed, device, progress)
    record = {**log, **evaluate_model(model, train, test, speaker_ids, device), "device": str(device),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    cache.put_tensors(_key(method, seed), p.training_settings(), {"method": method, "seed": seed, **record},
                      model.state_dict())
    logger.info("%s seed %d: trained in %.0f s, final loss %.3f", method, seed, log["train_seconds"],
                log["losses"][-1] if log["losses"] else float("nan"))
    return record


@dataclass
class PhoneStudy:
    """The corpus, its features and the trained models' records that the phone figures read.

    ``records[(method, seed)]`` holds ``test_codes`` (per test utterance, per frame),
    ``train_seconds`` and ``train_reconstruction_mse``; ``seeds[0]`` is the model of record.
    ``wall_s``: the time taken to load the corpus and to train or read the models.
    """

    preset: InterspeechPreset
    seeds: tuple[int, ...]
    device: torch.device
    corpus: Any
    analysis: LogMel
    train: list[Utterance]
    test: list[Utterance]
    speaker_ids: dict[str, int]
    cache: RunCache
    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def record_seed(self) -> int:
        return self.seeds[0]

    @property
    def phones(self) -> list[str]:
        """The TIMIT phone of every test frame, utterance after utterance: ``(N,)``."""
        return [ph for u in self.test for ph in u.phones]

    @property
    def groups(self) -> list[str]:
        """The phone group of every test frame: ``(N,)``."""
        return [g for u in self.test for g in u.groups]

    def codes(self, method: str, seed: int) -> np.ndarray:
        """The codebook index of every test frame of one model, in the order of :attr:`phones`: ``(N,)`` int64."""
        return np.array([c for cs in self.records[(method, seed)]["test_codes"] for c in cs], dtype=np.int64)

    def load_model(self, method: str, seed: int) -> VoiceConversionVQVAE:
        """The stored model of ``method`` and ``seed``, on the study's device."""
        return load_model(self.cache, method, seed, self.preset, len(self.speaker_ids), self.device)


#: the fields of a model's record that the phone figures read (a record without them is retrained)
RECORD_FIELDS = {"test_codes": [[int]], "train_seconds": float, "train_reconstruction_mse": float}


def _stored_record(cache: RunCache, method: str, seed: int, p: InterspeechPreset, test: list[Utterance],
                   num_speakers: int) -> dict[str, Any] | None:
    """The record of a stored model whose weights fit the model and whose test codes fit ``test``, else None."""
    key = _key(method, seed)
    with torch.random.fork_rng(devices=[]):  # the model only gives the expected names and shapes
        like = build_model(method, p, num_speakers).state_dict()
    stored = cache.get_stored(key, p.training_settings(), fields=RECORD_FIELDS, like=like, only=True)
    if stored is None:
        return None
    codes, active = stored[0]["test_codes"], stored[1].get("quantizer._num_active")
    if [len(cs) for cs in codes] != [len(u.phones) for u in test] or any(
            not 0 <= c < 2 ** p.bits for cs in codes for c in cs):
        problem, path = "test_codes do not fit the test set", cache.path(key)
    elif active is not None and int(active) not in {2 ** b for b in range(2, p.bits + 1)}:
        problem = f"the SFVQ's active vertex count {int(active)} is not 4, 8, ..., 2 ** bits"
        path = cache.tensors_path(key)
    else:
        return stored[0]
    logger.warning("ignoring damaged %s (%s); the run will be recomputed", path, problem)
    return None


def prepare_study(p: InterspeechPreset, seeds: Sequence[int], cache: RunCache, device: torch.device, *,
                  all_seeds: bool = True, progress: bool = True) -> PhoneStudy:
    """Load the corpus and train (or read) the models of every method for ``seeds`` (only the first
    seed unless ``all_seeds``); a model another runner is training is waited for."""
    start = time.perf_counter()
    analysis = LogMel(n_mels=p.n_mels)
    corpus, train, test = load_speech(p, analysis, progress)
    speaker_ids = {s: i for i, s in enumerate(sorted({u.item.speaker for u in train}))}
    study = PhoneStudy(p, tuple(seeds), device, corpus, analysis, train, test, speaker_ids, cache)
    runs = [(m, s) for s in (study.seeds if all_seeds else study.seeds[:1]) for m in METHODS]
    for method, seed in tqdm(runs, desc=f"interspeech ({p.name})", disable=not progress, unit="model"):
        with cache.claim(_key(method, seed)):
            record = _stored_record(cache, method, seed, p, test, len(speaker_ids))
            if record is None:
                record = _train_and_store(cache, method, seed, p, train, test, speaker_ids, device, progress)
        study.records[(method, seed)] = record
    study.wall_s = time.perf_counter() - start
    return study
