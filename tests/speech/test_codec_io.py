"""A codec in one safetensors file: it encodes and decodes exactly as before it was stored."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vqcore.quantizers.serialization import save as save_quantizer
from vqcore.speech.codec import SpeechCodec
from vqcore.speech.codec_io import CODEC_FORMAT, load_codec, save_codec


def test_packed_bytes_round_trip_and_codec_file(tmp_path):
    rng = np.random.default_rng(0)
    audio = (0.05 * rng.standard_normal(16000 // 2)).astype(np.float32)
    codec = SpeechCodec(13.2, "pvq").eval()
    payload = codec.encode(audio)
    frames = codec.num_frames(len(audio))
    assert len(payload) == -(-frames * codec.bits_per_frame // 8)
    decoded = codec.decode(payload, length=len(audio))
    direct = codec.decode_fields(codec.encode_fields(audio), length=len(audio))
    np.testing.assert_array_equal(decoded, direct)  # the bytes carry everything the decoder uses
    path = save_codec(codec, tmp_path / "c.safetensors")
    again = load_codec(path)
    assert again.encode(audio) == payload
    np.testing.assert_array_equal(again.decode(payload, length=len(audio)), decoded)
    save_quantizer(codec.quantizers["b3"], tmp_path / "quantizer.safetensors")  # a quantizer, not a codec
    with pytest.raises(ValueError, match="format"):
        load_codec(tmp_path / "quantizer.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_codec(tmp_path / "junk.safetensors")


def test_float16_file_keeps_the_settings_and_rounds_the_codebooks(tmp_path):
    from safetensors import safe_open

    codec = SpeechCodec(8, "rvq", noise_fill=0.5).eval()
    path = save_codec(codec, tmp_path / "half.safetensors", dtype=torch.float16)
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format"] == CODEC_FORMAT
        assert {f.get_tensor(k).dtype for k in f.keys() if "codebooks" in k} == {torch.float16}  # noqa: SIM118
    again = load_codec(path)
    assert (again.bitrate, again.method, again.noise_fill) == (8.0, "rvq", 0.5)
    for key, q in codec.quantizers.items():
        stored = again.quantizers[key].codebooks
        assert stored.dtype == torch.float32
        torch.testing.assert_close(stored, q.codebooks.detach().half().float(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="codec must be a SpeechCodec"):
        save_codec(codec.quantizers["b3"], tmp_path / "q.safetensors")
