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


def _psnr_frame_by_frame(reference, degraded):
    """pSNR as its definition reads: one LPC and two filter calls per frame (the slow reference)."""
    from scipy.signal import lfilter

    from vqcore.speech.metrics import lpc, speech_frames, weighting_filter
    ref, deg = np.asarray(reference, np.float64), np.asarray(degraded, np.float64)[: len(reference)]
    err, n = ref - deg, len(ref) // 320
    mask, zi_ref, zi_err, out = speech_frames(ref), np.zeros(16), np.zeros(16), []
    for t in range(n):
        seg = slice(t * 320, (t + 1) * 320)
        num, den = weighting_filter(lpc(ref[seg]))
        ref_w, zi_ref = lfilter(num, den, ref[seg], zi=zi_ref)
        err_w, zi_err = lfilter(num, den, err[seg], zi=zi_err)
        if mask[t]:
            e = np.sum(err_w ** 2)
            out.append(35.0 if e <= 0 else float(np.clip(10 * np.log10(max(np.sum(ref_w ** 2), 1e-30) / e), -10, 35)))
    return float(np.mean(out))


def test_lpc_frames_equals_lpc_on_every_frame():
    from vqcore.speech.metrics import lpc, lpc_frames
    rng = np.random.default_rng(2)
    frames = rng.standard_normal((12, 320))
    frames[3] = 0.0  # silent: A(z) = 1
    frames[5] = np.sin(0.3 * np.arange(320))  # nearly singular autocorrelation
    frames[8] *= 1e-9
    batched = lpc_frames(frames)
    assert batched.shape == (12, 17)
    np.testing.assert_allclose(batched, np.stack([lpc(f) for f in frames]), rtol=0, atol=1e-9)
    assert np.array_equal(batched[3], np.eye(1, 17)[0])
    with pytest.raises(ValueError, match="frames must be"):
        lpc_frames(np.zeros(320))


def test_psnr_equals_its_frame_by_frame_definition():
    x = speechlike(1.5)
    rng = np.random.default_rng(3)
    for scale in (1e-3, 3e-2):
        degraded = x + scale * rng.standard_normal(len(x))
        assert psnr(x, degraded) == pytest.approx(_psnr_frame_by_frame(x, degraded), abs=1e-9)
