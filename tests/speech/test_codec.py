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


# -- companding (the compand setting) ---------------------------------------------------------------

def test_compress_and_expand_are_inverse_and_weight_the_error_as_documented():
    from vqcore.speech.codec import compress, expand

    y = torch.linspace(-3, 3, 601, dtype=torch.float64)
    for a in (1.0, 0.75, 0.5):
        np.testing.assert_allclose(expand(compress(y, a), a).numpy(), y.numpy(), atol=1e-12)
    assert compress(y, 1.0) is y and expand(y, 1.0) is y  # 1: no companding
    # a small error e on y is a^2 |y|^(2a - 2) e^2 in the quantizers' squared error
    a, e = 0.5, 1e-6
    y = torch.tensor([0.05, 0.2, 1.0, 2.5], dtype=torch.float64)
    measured = (compress(y + e, a) - compress(y, a)) ** 2
    np.testing.assert_allclose(measured.numpy(), (a ** 2 * y.abs() ** (2 * a - 2) * e ** 2).numpy(), rtol=1e-4)
    assert measured[0] > 10 * measured[-1]  # low coefficients weigh more


@pytest.mark.parametrize(("method", "postfilter"), [("avq", 1.0), ("rvq", 1.5), ("pvq", 1.25)])
def test_a_companding_codec_round_trips_with_the_same_bits(method, postfilter):
    from vqcore.speech.codec import expand, sharpen

    x = speechlike(1.0, seed=2)
    train = [speechlike(1.5, f0=110, seed=3), speechlike(1.5, f0=210, seed=4)]
    plain = SpeechCodec(8, method, beam_width=4)
    codec = SpeechCodec(8, method, beam_width=4, compand=0.5, postfilter=postfilter)
    assert codec.allocation.field_widths == plain.allocation.field_widths
    vectors = codec.training_vectors(train)
    a = codec.analyze(train[0])
    # the quantizers are trained on the companded sub-vectors
    sub = codec.subvectors(a["target"])
    b3 = codec.allocation.groups[3]
    torch.testing.assert_close(vectors["b3"][: len(b3)], sub[0, b3])
    torch.testing.assert_close(a["target"], a["normalized"].sign() * a["normalized"].abs() ** 0.5)
    codec.fit(vectors, steps=3, batch_size=64, progress=False, log_every=1)
    data = codec.encode(x)
    assert len(data) == plain.packed_bytes(len(x)) == len(plain.encode(x))  # bits unchanged
    fields = codec.encode_fields(x)
    assert torch.equal(unpack_codes(data, codec.num_frames(len(x)), codec.allocation.field_widths), fields)
    out = codec.decode(data, length=len(x))
    assert out.shape == x.shape and np.isfinite(out).all()
    # the decoder expands the quantizers' output and postfilters it:
    # decoded = MDCT^-1(sharpen(expand(Q(compress(y)))) * scale)
    ax = codec.analyze(x)
    q = torch.zeros(ax["target"].shape[0], 20, 16, dtype=torch.float64)
    for b, ps in codec.allocation.groups.items():
        z = codec.subvectors(ax["target"])[:, ps].reshape(-1, 16)
        q[:, ps] = codec.quantizers[f"b{b}"].quantize(z).double().reshape(len(q), len(ps), 16)
    normalized = sharpen(expand(q, 0.5), postfilter)
    expected = codec.mdct.inverse(normalized.reshape(len(q), -1) * ax["scale"], len(x))
    np.testing.assert_allclose(out, expected.detach().numpy(), atol=1e-5)


def test_compand_one_is_the_plain_codec_and_bad_values_are_refused():
    x = speechlike(0.5, seed=7)
    torch.manual_seed(0)
    plain = SpeechCodec(8, "rvq")
    same = SpeechCodec(8, "rvq", compand=1.0)
    same.load_state_dict(plain.state_dict())
    assert plain.compand == 1.0 and same.encode(x) == plain.encode(x)
    for bad in (0, -0.5, 1.5, float("nan"), "x"):
        with pytest.raises(ValueError, match="compand"):
            SpeechCodec(8, "rvq", compand=bad)
    for bad in (0.5, 5, float("inf"), None):
        with pytest.raises(ValueError, match="postfilter"):
            SpeechCodec(8, "rvq", postfilter=bad)


def test_the_postfilter_keeps_the_energy_and_deepens_the_valleys():
    from vqcore.speech.codec import sharpen

    q = torch.tensor([[3.0, -1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    out = sharpen(q, 1.5)
    torch.testing.assert_close(out.pow(2).sum(-1), q.pow(2).sum(-1))  # the energy of every vector is kept
    assert torch.equal(out[1], q[1]) and torch.equal(out.sign(), q.sign())
    # relative to the peak, the small values get smaller: |q_i / q_max|^1.5
    torch.testing.assert_close(out[0] / out[0, 0], q[0].sign() * (q[0].abs() / 3.0) ** 1.5)
    assert sharpen(q, 1.0) is q
    x = speechlike(0.5, seed=8)
    codec = SpeechCodec(8, "rvq")
    data = codec.encode(x)
    codec.postfilter = 1.5  # a decoder setting: the same bytes decode, differently
    assert codec.encode(x) == data and not np.array_equal(codec.decode(data), SpeechCodec(8, "rvq").decode(data))
