"""Mono 16-bit PCM WAV files: bytes to write (:func:`wav_bytes`) and samples read back (:func:`read_wav`)."""
from __future__ import annotations

import io
import os
import wave

import numpy as np

__all__ = ["read_wav", "wav_bytes"]


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Mono 16-bit WAV file bytes of ``audio``, ``(N,)``: int16 samples as they are, or floats in
    ``[-1, 1]`` (clipped, scaled by 32767 and rounded)."""
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.floating):
        audio = np.round(np.clip(audio.astype(np.float64), -1, 1) * 32767)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(audio.astype("<i2").tobytes())
    return buf.getvalue()


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(int16 samples, sample rate)`` of a mono 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16), w.getframerate()
