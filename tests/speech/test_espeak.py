"""The ctypes binding to eSpeak NG: its errors and repeatable synthesis.

Tests that synthesize need the ``espeakng-loader`` wheel and are skipped, with the reason, where it
is not installed (in CI, ``CI=true``, its absence is a failure).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from vqcore.speech import corpus as corpus_mod
from vqcore.speech import espeak

from tests.helpers import need


def test_clear_error_when_the_wheel_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes `import espeakng_loader` fail
    with pytest.raises(espeak.EspeakUnavailable, match="pip install espeakng-loader"):
        espeak.library_paths()
    with pytest.raises(espeak.EspeakUnavailable):
        corpus_mod.build_corpus("smoke", cache_dir="/nonexistent-never-written")


def test_clear_error_when_the_library_cannot_be_loaded(tmp_path):
    need("espeakng-loader")
    bogus = tmp_path / "libespeak-ng.so"
    bogus.write_bytes(b"not a shared library")
    with pytest.raises(espeak.EspeakUnavailable, match="cannot load the eSpeak NG shared library"):
        espeak._Library(str(bogus), espeak.library_paths()[1])


def test_synthesis_is_repeatable_and_events_are_ordered():
    need("espeakng-loader")
    a = espeak.synthesize("Hello there.", "en-us+f2", rate=180, pitch=55, seed=3)
    b = espeak.synthesize("Hello there.", "en-us+f2", rate=180, pitch=55, seed=3)
    assert a.sample_rate == 22050 and a.audio.dtype == np.int16 and len(a.audio) > 4000
    assert np.array_equal(a.audio, b.audio) and a.phonemes == b.phonemes
    starts = [s for s, _ in a.phonemes]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] <= len(a.audio)
    with pytest.raises(espeak.EspeakError, match="SetVoiceByName"):
        espeak.synthesize("x", "no-such-voice")
