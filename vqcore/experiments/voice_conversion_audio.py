"""The converted-voice audio examples of the Interspeech figure ``sfvqtime``, vocoded with Griffin-Lim.

For the test sentence and for one training utterance of the first male training speaker: the
source, its log-mel vocoded as it is, and each model's output decoded with the voice of the first
male and of the first female training speaker (a reconstruction when that is the source's own voice).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io.atomic import atomic_write_bytes
from ..models.voice_conversion import VoiceConversionVQVAE
from ..speech.logmel import griffin_lim
from .interspeech_runs import PhoneStudy
from .voice_conversion_training import Utterance

__all__ = ["write_audio_examples"]


def _vocode(logmel: torch.Tensor, study: PhoneStudy) -> np.ndarray:
    """Griffin-Lim of a log-mel ``(T, n_mels)``: audio ``(T * hop,)``."""
    return griffin_lim(logmel.cpu(), study.analysis, iterations=study.preset.gl_iterations).numpy()


def _write_wav(out_dir: Path, name: str, audio: np.ndarray, sample_rate: int) -> str:
    """Write ``out_dir/name`` (atomically); return ``<folder>/<name>``, its path relative to the folder
    above ``out_dir`` (the result file's folder)."""
    from ..speech.corpus import wav_bytes

    atomic_write_bytes(out_dir / name, wav_bytes(audio, sample_rate))
    return f"{out_dir.name}/{name}"


def _target_speakers(study: PhoneStudy) -> list[str]:
    """The first male and the first female training speaker (in speaker-id order)."""
    from ..speech.corpus import SPEAKERS

    gender = {s.name: s.gender for s in SPEAKERS}
    train_speakers = sorted(study.speaker_ids, key=study.speaker_ids.get)
    return [next(s for s in train_speakers if gender[s] == g) for g in ("male", "female")]


def _utterance_examples(tag: str, u: Utterance, models: dict[str, VoiceConversionVQVAE], targets: list[str],
                        study: PhoneStudy, out_dir: Path) -> list[dict[str, Any]]:
    """Write the source, the vocoded source and every model's conversions of ``u``; their descriptions."""
    rate = study.analysis.sample_rate
    about = {"speaker": u.item.speaker, "text": u.item.text, "split": u.item.split}
    entries = [
        {"file": _write_wav(out_dir, f"{tag}_source.wav", study.corpus.load_audio(u.item), rate), "kind": "source",
         **about},
        {"file": _write_wav(out_dir, f"{tag}_vocoder.wav", _vocode(u.logmel, study), rate),
         "kind": "vocoder only (Griffin-Lim of the source log-mel)", **about},
    ]
    for method, model in models.items():
        x = model.normalise(u.logmel.to(study.device)).unsqueeze(0)
        for target in targets:
            y, _ = model.convert(x, torch.tensor([study.speaker_ids[target]], device=study.device))
            name = f"{tag}_{method.lower()}_to_{target}.wav"
            entries.append({"file": _write_wav(out_dir, name, _vocode(model.denormalise(y[0]), study), rate),
                            "kind": "reconstruction" if target == u.item.speaker else "converted",
                            "method": method, "speaker": u.item.speaker, "target_speaker": target,
                            "text": u.item.text, "split": u.item.split})
    return entries


def write_audio_examples(models: dict[str, VoiceConversionVQVAE], study: PhoneStudy, sentence: Utterance,
                         out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write the examples of ``sentence`` (a test utterance) and of a training utterance under
    ``out_dir``; return their description (the vocoder and one entry per file)."""
    out_dir = Path(out_dir)
    targets = _target_speakers(study)
    own = next(u for u in study.train if u.item.speaker == targets[0])
    entries = []
    for tag, u in (("test", sentence), ("train", own)):
        entries += _utterance_examples(tag, u, models, targets, study, out_dir)
    return {"vocoder": f"Griffin-Lim, {study.preset.gl_iterations} fast iterations, momentum 0.99, frames "
                       "interpolated to a 10 ms hop (vqcore.speech.logmel.griffin_lim)", "examples": entries}
