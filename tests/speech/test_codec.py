"""The speech codec: envelope, training, the packed bitstream and noise filling (no eSpeak needed)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vqcore.quantizers.packing import unpack_codes
from vqcore.speech.allocation import BITRATES
from vqcore.speech.codec import SpeechCodec

from tests.speech.signals import speechlike


def test_envelope_normalization_is_lossless_before_quantization():
    codec = SpeechCodec(8, "rvq")
    x = speechlike(0.7)
    a = codec.analyze(x)
    assert a["normalized"].shape == (codec.num_frames(len(x)), 320)
    rebuilt = codec.mdct.inverse(a["normalized"].double() * a["scale"], len(x))
    np.testing.assert_allclose(rebuilt.numpy(), x, atol=1e-6)


@pytest.mark.parametrize("method", ["avq", "rvq", "pvq"])
def test_codec_round_trip_through_packed_bytes(method):
    x = speechlike(1.0, seed=2)
    codec = SpeechCodec(8, method, beam_width=4)
    logs = codec.fit([speechlike(1.5, f0=110, seed=3), speechlike(1.5, f0=210, seed=4)], steps=3, batch_size=64,
                     progress=False, log_every=1)
    assert set(logs) == set(codec.quantizers) and all(len(v.loss) == 3 for v in logs.values())
    data = codec.encode(x)
    frames = codec.num_frames(len(x))
    assert isinstance(data, bytes)
    assert len(data) == math.ceil(frames * codec.bits_per_frame / 8) == codec.packed_bytes(len(x))
    out = codec.decode(data, length=len(x))
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert codec.decode(data).shape == (math.ceil(len(x) / 320) * 320,)
    np.testing.assert_array_equal(codec.decode(data, length=len(x)), out)  # the decoder is deterministic
    # the bytes hold exactly the fields the encoder chose
    fields = codec.encode_fields(x)
    assert torch.equal(unpack_codes(data, frames, codec.allocation.field_widths), fields)


@pytest.mark.parametrize("bitrate", BITRATES)
def test_packed_size_at_every_bitrate(bitrate):
    x = speechlike(0.3, seed=5)
    codec = SpeechCodec(bitrate, "pvq")  # untrained codebooks: only the bit accounting matters here
    data = codec.encode(x)
    assert len(data) * 8 - codec.num_frames(len(x)) * codec.bits_per_frame in range(8)
    assert codec.decode(data, length=len(x)).shape == x.shape


def test_codec_rejects_mismatched_quantizers_and_bad_input():
    from vqcore import ResidualVQ
    with pytest.raises(ValueError, match="bits per stage"):
        SpeechCodec(8, "rvq", quantizers={"b3": ResidualVQ(16, 4, 2)})
    with pytest.raises(ValueError, match="match no group"):
        SpeechCodec(8, "rvq", quantizers={"b9": ResidualVQ(16, 4, 9)})
    codec = SpeechCodec(8, "rvq")
    with pytest.raises(ValueError, match="1-D"):
        codec.encode(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="frames"):
        codec.decode(b"\x00" * 10)


def test_training_vectors_follow_the_allocation():
    codec = SpeechCodec(13.2, "rvq")
    x = speechlike(0.5)
    vectors = codec.training_vectors([x])
    frames = codec.num_frames(len(x))
    assert set(vectors) == {f"b{b}" for b in codec.allocation.groups}
    for b, ps in codec.allocation.groups.items():
        assert vectors[f"b{b}"].shape == (frames * len(ps), 16) and vectors[f"b{b}"].dtype == torch.float32


def test_noise_filling_is_deterministic_and_off_by_default():
    x = speechlike(0.5, seed=6)
    codec = SpeechCodec(8, "pvq")
    data = codec.encode(x)
    plain = codec.decode(data)
    assert codec.noise_fill == 0.0
    codec.noise_fill = 1.0
    filled = codec.decode(data)
    np.testing.assert_array_equal(filled, codec.decode(data))
    assert not np.array_equal(filled, plain)
