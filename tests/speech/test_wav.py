"""Mono 16-bit WAV files: what :func:`wav_bytes` writes, :func:`read_wav` reads back."""
from __future__ import annotations

import numpy as np
import pytest

from vqcore.speech.wav import read_wav, wav_bytes


def test_int16_samples_round_trip_exactly_and_floats_are_scaled(tmp_path):
    pcm = np.array([0, 1, -1, 32767, -32768, 1234], dtype=np.int16)
    path = tmp_path / "a.wav"
    path.write_bytes(wav_bytes(pcm, 16000))
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.dtype == np.int16
    np.testing.assert_array_equal(samples, pcm)
    path.write_bytes(wav_bytes(np.array([0.0, 0.5, -1.0, 2.0]), 8000))  # 2.0 is clipped to full scale
    samples, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_array_equal(samples, [0, 16384, -32767, 32767])


def test_read_wav_rejects_stereo(tmp_path):
    import wave

    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0\0\0" * 10)
    with pytest.raises(ValueError, match="mono 16-bit"):
        read_wav(path)
