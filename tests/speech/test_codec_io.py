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


# -- untrusted codec files: every fault a ValueError naming the file, refused before anything is built --
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402


@pytest.fixture(scope="module")
def codec_file(tmp_path_factory) -> Path:
    return save_codec(SpeechCodec(8, "rvq").eval(), tmp_path_factory.mktemp("codec") / "c.safetensors")


def _raw(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _variant(src: Path, out: Path, *, meta=None, specs=None, tensors=None) -> Path:
    """A copy of ``src`` with metadata entries, the parsed ``quantizers`` specs or the tensors edited."""
    m, t = _raw(src)
    if specs is not None:
        m["quantizers"] = json.dumps(specs(json.loads(m["quantizers"])))
    m.update(meta or {})
    save_file(tensors(t) if tensors else t, str(out), metadata=m)
    return out


def _refused(path: Path, *words: str, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        load_codec(path, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def _spec(key: str, **config):
    def edit(specs):
        specs[key]["config"].update(config)
        return specs
    return edit


def _nan_codebooks(t):
    books = t["b3.codebooks"].clone()
    books[0, 1, 2] = float("nan")
    return {**t, "b3.codebooks": books}


@pytest.mark.parametrize(("edit", "words"), [
    # the quantizers' configs, checked before anything is allocated (4 x 2**24 x 16 values asked for)
    (dict(specs=_spec("b3", bits_per_stage=24)), ("quantizer 'b3'", "max_values")),
    (dict(specs=_spec("b3", dim=10 ** 30)), ("'quantizers'", "31 digits")),
    (dict(specs=_spec("b3", beta="abc")), ("quantizer 'b3'", "config key 'beta'")),
    (dict(specs=_spec("b3", bogus=1)), ("quantizer 'b3'", "'bogus'", "not an argument")),
    (dict(specs=lambda s: {**s, "b3": {"class": "Pickle", "config": {}}}), ("quantizer 'b3'", "unknown class")),
    (dict(specs=lambda s: {**s, "b3": {"class": "VQ", "config": {"dim": 16, "bits": 3}}}), ("unknown class 'VQ'",)),
    (dict(specs=lambda s: {**s, "b3": [1, 2]}), ("quantizer 'b3'", "'class' and 'config'")),
    (dict(specs=lambda s: {**s, "b3": {**s["b3"], "config": [16]}}), ("quantizer 'b3'", "JSON object")),
    (dict(specs=lambda s: []), ("'quantizers'", "non-empty JSON object")),
    # the metadata itself
    (dict(meta={"quantizers": "[" * 20000 + "]" * 20000}), ("'quantizers'", "nested too deeply")),
    (dict(meta={"quantizers": '{"b3": NaN}'}), ("'quantizers'", "NaN")),
    (dict(meta={"quantizers": "{"}), ("'quantizers'", "not valid JSON")),
    (dict(meta={"quantizers": json.dumps({"pad": "x" * (1 << 20)})}), ("'quantizers'", "characters")),
    (dict(meta={"bitrate": "nan"}), ("'bitrate'", "finite")),
    (dict(meta={"noise_fill": "-inf"}), ("'noise_fill'", "finite")),
    (dict(meta={"bitrate": "9" * 5000}), ("'bitrate'",)),
    (dict(meta={"method": "bogus"}), ("do not make a codec", "method")),
    (dict(meta={"bitrate": "13.2"}), ("a codec at 13.2 kbit/s has",)),  # other groups than the stored ones
    (dict(meta={"bitrate": "7.9"}), ("'bitrate'", "divisible")),
    # the tensors: names, shapes, dtypes, values
    (dict(tensors=lambda t: {k: v for k, v in t.items() if k != "b5.codebooks"}), ("quantizer 'b5'", "'codebooks'", "missing")),
    (dict(tensors=lambda t: {**t, "b9.codebooks": t["b3.codebooks"].clone()}), ("'b9.codebooks'", "belongs to no quantizer")),
    (dict(tensors=lambda t: {**t, "b3.extra": t["b3.codebooks"].clone()}), ("quantizer 'b3'", "'extra'")),
    (dict(tensors=lambda t: {**t, "b3.codebooks": t["b3.codebooks"][:, :4].contiguous()}), ("quantizer 'b3'", "shape")),
    (dict(tensors=lambda t: {**t, "b3.codebooks": t["b3.codebooks"].to(torch.int32)}), ("quantizer 'b3'", "dtype")),
    (dict(tensors=_nan_codebooks), ("quantizer 'b3'", "NaN or inf")),
], ids=["huge-bits", "huge-int", "bad-beta", "unknown-key", "unknown-class", "non-codec-class", "spec-list",
        "config-list", "specs-list", "deep", "nan-literal", "truncated", "long", "bitrate-nan", "noise-inf",
        "bitrate-digits", "method", "bitrate-groups", "bitrate-frame", "missing-tensor", "stray-tensor", "extra-tensor", "shape",
        "dtype", "nan-codebooks"])
def test_a_hostile_codec_file_is_refused_naming_the_file(codec_file, tmp_path, edit, words):
    _refused(_variant(codec_file, tmp_path / "bad.safetensors", **edit), *words)


def test_a_missing_setting_and_a_bad_device_are_named(codec_file, tmp_path):
    m, t = _raw(codec_file)
    del m["window"]
    save_file(t, str(tmp_path / "w.safetensors"), metadata=m)
    _refused(tmp_path / "w.safetensors", "'window'", "missing")
    _refused(codec_file, "device", device="bogus")
    _refused(codec_file, "device", device="meta")


def test_the_memory_bound_counts_every_quantizer_of_the_codec(codec_file):
    _, t = _raw(codec_file)
    values = sum(v.numel() for v in t.values())
    assert load_codec(codec_file, max_values=values).bitrate == 8.0
    _refused(codec_file, "max_values", max_values=values - 1)


def test_a_valid_codec_file_still_loads_with_float16_and_float64_codebooks(codec_file, tmp_path):
    ref = load_codec(codec_file)
    for dtype in (torch.float16, torch.float64):
        path = _variant(codec_file, tmp_path / f"{dtype}.safetensors",
                        tensors=lambda t: {k: v.to(dtype) for k, v in t.items()})
        again = load_codec(path)
        for key, q in ref.quantizers.items():
            assert again.quantizers[key].codebooks.dtype == torch.float32
            torch.testing.assert_close(again.quantizers[key].codebooks, q.codebooks.detach().to(dtype).float(),
                                       rtol=0, atol=0)


def test_the_companding_and_postfilter_powers_are_stored_and_an_older_file_means_none(tmp_path):
    audio = (0.05 * np.random.default_rng(1).standard_normal(8000)).astype(np.float32)
    codec = SpeechCodec(8, "rvq", compand=0.75, postfilter=1.25).eval()
    again = load_codec(save_codec(codec, tmp_path / "c.safetensors"))
    assert (again.compand, again.postfilter) == (0.75, 1.25) and again.encode(audio) == codec.encode(audio)
    payload = codec.encode(audio)
    np.testing.assert_array_equal(again.decode(payload), codec.decode(payload))
    older = tmp_path / "older.safetensors"  # written before the setting existed
    m, t = _raw(save_codec(SpeechCodec(8, "rvq").eval(), tmp_path / "plain.safetensors"))
    del m["compand"], m["postfilter"]
    save_file(t, str(older), metadata=m)
    assert (load_codec(older).compand, load_codec(older).postfilter) == (1.0, 1.0)
    _refused(_variant(tmp_path / "c.safetensors", tmp_path / "bad.safetensors", meta={"compand": "1.5"}), "'compand'")
    _refused(_variant(tmp_path / "c.safetensors", tmp_path / "bad2.safetensors", meta={"compand": "nan"}), "'compand'")
    _refused(_variant(tmp_path / "c.safetensors", tmp_path / "bad3.safetensors", meta={"postfilter": "0.5"}), "'postfilter'")
