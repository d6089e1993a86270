"""The speech VQ-VAE codec (vqcore.models.speech_vqvae): bits per frame at every rate, the bitstream
against the model's own pass, the perceptual weighting, that estimators differ in what reaches the
encoder, and bad arguments."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqcore.models.speech_vqvae import SpeechVQVAE, latents_per_frame
from vqcore.quantizers.vq import VQ
from vqcore.speech.allocation import BITRATES, SIDE_BITS
from vqcore.speech.codec import SpeechCodec

pytestmark = pytest.mark.usefixtures("one_thread")


def _speechlike(seconds: float = 0.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    x = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate((180, 360, 540, 1250, 2600)))
    return (0.1 * x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("bitrate", BITRATES)
def test_bits_per_frame_are_the_bitrate_label(bitrate):
    model = SpeechVQVAE(bitrate, hidden=16)
    assert model.bits_per_frame * 50 == round(bitrate * 1000)
    assert model.latents == (model.bits_per_frame - SIDE_BITS) // 8 == latents_per_frame(bitrate, 8)
    assert model.field_widths[:15] == SpeechCodec(bitrate).field_widths[:15]  # the same side information


def test_the_bitstream_decodes_to_the_hard_quantized_pass():
    torch.manual_seed(0)
    model = SpeechVQVAE(13.2, hidden=32).eval()
    audio = _speechlike()
    decoded, data = model.roundtrip(audio)
    assert len(data) == model.packed_bytes(len(audio)) == math.ceil(model.num_frames(len(audio)) * 264 / 8)
    assert decoded.shape == audio.shape and decoded.dtype == np.float32
    # the same audio from the model's own hard-quantized reconstruction of the analysed frames
    analysis = model.analyze(audio)
    frames = model.weigh(analysis["target"])
    spectrum = model.expand(model.unweigh(model.reconstruct(frames).to(torch.float64)))
    direct = model.synthesize(model.encode_fields(audio), spectrum, len(audio))
    np.testing.assert_allclose(decoded, direct, atol=1e-6)
    codes = model.encode_fields(audio)[:, 15:]
    assert codes.shape == (model.num_frames(len(audio)), 27) and int(codes.max()) < 256


def test_weighting_follows_the_allocations_weight_and_inverts():
    model = SpeechVQVAE(8.0, hidden=8)
    flat = SpeechVQVAE(8.0, hidden=8, knee_hz=None)
    y = torch.randn(3, 320)
    w = model.weigh(torch.ones(320))
    assert w[0] == pytest.approx((1 + 12.5 / 300) ** -0.5) and w[-1] == pytest.approx((1 + 7987.5 / 300) ** -0.5)
    assert bool((w[1:] < w[:-1]).all())  # low frequencies weigh most
    torch.testing.assert_close(model.unweigh(model.weigh(y)), y)
    torch.testing.assert_close(flat.weigh(y), y)
    torch.testing.assert_close(model.training_frames(y), model.weigh(y))


def _encoder_gradient(estimator: str) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = SpeechVQVAE(8.0, hidden=16, estimator=estimator)
    frames = torch.randn(32, 320)
    model.quantizer.init_from_data(model.encode_latents(frames).detach().reshape(-1, 8))
    out = model(frames)
    loss = (out.reconstruction - frames).pow(2).mean() + out.quantizer.loss
    loss.backward()
    return model.encoder[0].weight.grad.clone(), model.quantizer.codebooks.grad


@pytest.mark.parametrize("estimator", ["nsvq", "diveq", "diveq_detach", "rotation"])
def test_estimators_send_the_encoder_other_gradients_than_ste(estimator):
    ste, ste_codebook = _encoder_gradient("ste")
    other, codebook = _encoder_gradient(estimator)
    assert ste.abs().sum() > 0 and other.abs().sum() > 0
    assert not torch.allclose(ste, other, rtol=1e-3, atol=1e-8), estimator
    assert ste_codebook is not None and codebook is not None and codebook.abs().sum() > 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="bitrate 8.1 kbit/s"):
        SpeechVQVAE(8.1)
    with pytest.raises(ValueError, match="bitrate 2"):
        SpeechVQVAE(2.0)  # no bits left after the envelope
    with pytest.raises(ValueError, match="codebook_bits"):
        SpeechVQVAE(8.0, codebook_bits=0)
    with pytest.raises(ValueError, match="knee_hz"):
        SpeechVQVAE(8.0, knee_hz=-1.0)
    with pytest.raises(ValueError, match="quantizer must be a VQ of dim 8 and 8 bits"):
        SpeechVQVAE(8.0, quantizer=VQ(4, 8))
    model = SpeechVQVAE(8.0, hidden=8)
    with pytest.raises(ValueError, match="frames must be a tensor"):
        model(torch.zeros(4, 16))
    with pytest.raises(ValueError, match="latents must have shape"):
        model.decode_latents(torch.zeros(4, 3, 8))
