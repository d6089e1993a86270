"""Wide-band PESQ (needs ``pesq`` and the smoke corpus) and pSNR."""
from __future__ import annotations

import numpy as np
import pytest

from vqcore.speech.metrics import psnr

from tests.helpers import need
from tests.speech.signals import speechlike


def test_pesq_of_a_signal_against_itself_is_near_the_maximum(smoke_corpus):
    need("pesq")
    from vqcore.speech.metrics import PESQ_WB_MAX, pesq_wb
    audio = smoke_corpus.load_audio(smoke_corpus.items("test")[0])
    assert pesq_wb(audio, audio) > PESQ_WB_MAX - 0.1
    noisy = audio + 0.01 * np.random.default_rng(0).standard_normal(len(audio)).astype(np.float32)
    assert pesq_wb(audio, noisy) < pesq_wb(audio, audio) - 0.5


def test_psnr_limits_and_order():
    x = speechlike(1.0)
    rng = np.random.default_rng(1)
    assert psnr(x, x) == pytest.approx(35.0)
    values = [psnr(x, x + s * rng.standard_normal(len(x))) for s in (1e-3, 1e-2, 1e-1)]
    assert values[0] > values[1] > values[2]
    frames = psnr(x, x + 1e-2 * rng.standard_normal(len(x)), per_frame=True)
    assert frames.shape == (len(x) // 320,) and np.nanmax(frames) <= 35.0 and np.nanmin(frames) >= -10.0
    with pytest.raises(ValueError, match="no frame"):
        psnr(np.zeros(3200), np.zeros(3200))
