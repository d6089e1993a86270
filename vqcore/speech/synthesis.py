"""One utterance of the corpus: eSpeak NG speech at 16 kHz, level-normalised, with its phone alignment.

:func:`synthesize_item` synthesizes a sentence with one voice (:func:`vqcore.speech.espeak.synthesize`,
in a fresh process with seeded generators, so the audio depends only on its arguments and the
eSpeak NG version), resamples it to :data:`SAMPLE_RATE`, sets its active level to
:data:`TARGET_LEVEL_DB` (:func:`active_level_db`) and turns eSpeak's phoneme events into
contiguous :class:`Segment` s labelled with TIMIT phones and groups (:mod:`vqcore.speech.phones`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import espeak, phones
from .script import Speaker

__all__ = ["SAMPLE_RATE", "TARGET_LEVEL_DB", "Segment", "active_level_db", "synthesize_item"]

#: the corpus' sample rate (Hz)
SAMPLE_RATE = 16000
#: the target active speech level of every utterance (dB re full scale, as ITU-T P.56 levels)
TARGET_LEVEL_DB = -26.0


@dataclass(frozen=True)
class Segment:
    """One phone: samples ``[start, end)`` at 16 kHz, its eSpeak mnemonic, TIMIT phone and group."""

    start: int
    end: int
    espeak: str
    timit: str
    group: str


def active_level_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, frame_ms: float = 20.0,
                    floor_db: float = 40.0) -> float:
    """Active level in dB re full scale: the RMS over 20 ms frames within ``floor_db`` of the loudest.

    A simple stand-in for ITU-T P.56's active speech level (silence does not count).
    """
    x = np.asarray(audio, dtype=np.float64)
    hop = round(sample_rate * frame_ms / 1000)
    n = len(x) // hop
    if n == 0:
        return float(10 * np.log10(np.mean(x ** 2) + 1e-20))
    energy = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    active = energy >= energy.max() * 10 ** (-floor_db / 10)
    return float(10 * np.log10(np.mean(energy[active]) + 1e-20))


def _align(events: Sequence[tuple[int, str]], ratio: float, num_samples: int) -> list[Segment]:
    """Phoneme events (sample at eSpeak's rate, mnemonic) -> contiguous segments covering ``[0, num_samples)``.

    Each phoneme lasts until the next event; audio before the first event is ``h#``. Positions are
    scaled by ``ratio`` and rounded; phones shorter than one sample after rounding are dropped,
    and neighbouring silences are merged.
    """
    marks: list[tuple[int, str]] = [(0, "_")]
    for sample, mnemonic in events:
        pos = min(max(round(sample * ratio), 0), num_samples)
        marks.append((pos, mnemonic))
    segments: list[Segment] = []
    for i, (start, mnemonic) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else num_samples
        end = max(end, start)
        if end <= start:
            continue
        timit = phones.to_timit(mnemonic)
        group = phones.group_of(timit)
        if segments and timit == phones.SILENCE and segments[-1].timit == phones.SILENCE:
            prev = segments.pop()
            segments.append(Segment(prev.start, end, prev.espeak, prev.timit, prev.group))
            continue
        if segments and segments[-1].end != start:  # a later event before an earlier one: keep order
            start = segments[-1].end
            if end <= start:
                continue
        segments.append(Segment(start, end, phones.strip_stress(mnemonic), timit, group))
    if not segments or segments[-1].end != num_samples:
        raise RuntimeError("phone alignment does not cover the audio")
    return segments


def synthesize_item(text: str, speaker: Speaker, *, rate: int, pitch: int, seed: int) -> tuple[np.ndarray, list[Segment]]:
    """Synthesize ``text`` and return ``(int16 audio at 16 kHz, segments)``, level-normalised to -26 dBFS."""
    from scipy.signal import resample_poly

    utt = espeak.synthesize(text, speaker.voice, rate=rate, pitch=pitch, pitch_range=speaker.pitch_range, seed=seed)
    x = utt.audio.astype(np.float64) / 32768.0
    g = np.gcd(SAMPLE_RATE, utt.sample_rate)
    y = resample_poly(x, SAMPLE_RATE // g, utt.sample_rate // g)
    y *= 10 ** ((TARGET_LEVEL_DB - active_level_db(y)) / 20)
    peak = np.max(np.abs(y)) if y.size else 0.0
    if peak > 0.98:  # never clip: lower the level instead
        y *= 0.98 / peak
    audio = np.round(y * 32767).astype(np.int16)
    segments = _align(utt.phonemes, SAMPLE_RATE / utt.sample_rate, len(audio))
    return audio, segments
