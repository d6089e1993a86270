"""Speech at smoke scale: the eSpeak corpus, the phone mapping, the MDCT, the codec and its metrics.

Tests that synthesize speech need the ``espeakng-loader`` wheel and are skipped, with the reason,
where it is not installed (in CI, ``CI=true``, its absence is a failure). PESQ tests need ``pesq``.
"""
from __future__ import annotations

import itertools
import json
import math
import sys

import numpy as np
import pytest
import torch

from vqcore.speech import codec as codec_mod
from vqcore.speech import corpus as corpus_mod
from vqcore.speech import espeak, phones
from vqcore.speech.codec import BITRATES, SpeechCodec, bit_allocation
from vqcore.speech.mdct import MDCT
from vqcore.speech.metrics import psnr

from tests.helpers import need


@pytest.fixture(scope="module")
def smoke_corpus(tmp_path_factory):
    need("espeakng-loader")
    return corpus_mod.build_corpus("smoke", seed=0, cache_dir=tmp_path_factory.mktemp("speech"))


def speechlike(seconds: float = 1.0, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A harmonic signal with a moving pitch, a formant-like tilt and noise bursts (no eSpeak needed)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 3 * t))) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    x *= 0.5 * (1 + np.sin(2 * np.pi * 2 * t))
    x += 0.05 * rng.standard_normal(n) * (np.sin(2 * np.pi * 1.5 * t) > 0.7)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


# -- phones ------------------------------------------------------------------------------------

def test_groups_are_the_seven_timit_groups():
    assert phones.GROUP_NAMES == ("plosives", "fricatives", "nasals", "vowels", "semivowels", "diphthongs", "silence")
    assert phones.GROUPS["silence"] == ("h#",)
    assert phones.group_of("zh") == "fricatives" and phones.group_of("oy") == "diphthongs"
    assert phones.group_of("dx") == phones.OTHER


def test_mapping_handles_stress_and_rejects_unknown():
    assert phones.to_timit("'aI") == "ay" and phones.to_timit(",oU") == "ow" and phones.to_timit("_:") == "h#"
    with pytest.raises(KeyError, match="no TIMIT mapping"):
        phones.to_timit("not-a-phoneme")


def test_mapping_table_renders_every_group():
    table = phones.mapping_table_markdown()
    for g in phones.GROUP_NAMES:
        assert f"| {g} |" in table
    assert "`dZ`" in table and "`jh`" in table
    assert phones.groups_table_markdown().count("\n") == len(phones.GROUPS) + 1


def test_mapping_covers_espeak_english_phoneme_tables():
    need("espeakng-loader")
    for table in ("en", "en-us", "en-us-nyc"):
        inventory = espeak.phoneme_inventory(table)
        assert inventory, table
        missing = [m for m in inventory if m not in phones.ESPEAK_TO_TIMIT]
        assert not missing, f"eSpeak table {table} has unmapped phonemes {missing}"


def test_sentences_cover_every_group():
    need("espeakng-loader")
    engine = espeak.get_engine()  # in-process: fast, and repeatability is not needed here
    found = set()
    for text in corpus_mod.SENTENCES:
        utt = engine.synthesize(text, "en-us", rate=400)
        found |= {phones.group_of(phones.to_timit(m)) for _, m in utt.phonemes}
    assert set(phones.GROUP_NAMES) <= found
    assert corpus_mod.SFVQ_SENTENCE in corpus_mod.SENTENCES


# -- the eSpeak binding ------------------------------------------------------------------------

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


# -- the corpus --------------------------------------------------------------------------------

def test_alignment_covers_the_audio_without_espeak():
    events = [(100, "_"), (300, "h"), (250, "'@"), (900, "l"), (2000, "oU"), (5000, "_:"), (5000, "_")]
    segs = corpus_mod._align(events, 16000 / 22050, 4000)
    assert segs[0].start == 0 and segs[-1].end == 4000
    assert all(a.end == b.start for a, b in itertools.pairwise(segs))
    assert all(s.start < s.end for s in segs)
    # "h" ends (at the next event) before it starts: it is dropped; the final pause is merged
    assert [s.timit for s in segs] == ["h#", "ax", "l", "ow", "h#"]


def test_corpus_items_and_split(smoke_corpus):
    c = smoke_corpus
    cfg = corpus_mod.PRESETS["smoke"]
    train, test = c.items("train"), c.items("test")
    assert len(train) == cfg.train_speakers * cfg.train_sentences
    assert len(test) == cfg.test_speakers * cfg.test_sentences
    assert not set(c.speakers("train")) & set(c.speakers("test"))
    assert not set(c.sentences("train")) & set(c.sentences("test"))
    assert 0 in c.sentences("test")  # the SFVQ paper's sentence is a test sentence
    assert {it.gender for it in test} == {"male", "female"}
    assert len(set(c.speakers())) == cfg.train_speakers + cfg.test_speakers
    manifest = json.loads(c.manifest_path.read_text())
    assert manifest["sample_rate"] == 16000 and manifest["espeak"]["version"]
    assert len(corpus_mod.SPEAKERS) >= 8


def test_segments_lie_inside_and_cover_the_audio(smoke_corpus):
    groups = set()
    for item, audio in smoke_corpus.iter_audio():
        assert item.sample_rate == 16000 and len(audio) == item.num_samples
        assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        segs = item.segments
        assert segs[0].start == 0 and segs[-1].end == len(audio)
        for a, b in itertools.pairwise(segs):
            assert a.end == b.start
        for s in segs:
            assert 0 <= s.start < s.end <= len(audio)
            assert s.timit == phones.to_timit(s.espeak) and s.group == phones.group_of(s.timit)
        groups |= {s.group for s in segs}
        # silence is quiet: the h# segments hold far less energy per sample than the phones
        sil = np.concatenate([audio[s.start:s.end] for s in segs if s.timit == "h#"])
        spk = np.concatenate([audio[s.start:s.end] for s in segs if s.timit != "h#"])
        assert np.mean(sil ** 2) < 0.01 * np.mean(spk ** 2)
    assert {"plosives", "fricatives", "nasals", "vowels", "semivowels", "silence"} <= groups


def test_corpus_is_deterministic(smoke_corpus, tmp_path):
    # the plan (split, prosody jitter, seeds) is a function of the seed ...
    assert corpus_mod._plan(corpus_mod.PRESETS["smoke"], 0) == corpus_mod._plan(corpus_mod.PRESETS["smoke"], 0)
    assert corpus_mod._plan(corpus_mod.PRESETS["smoke"], 0) != corpus_mod._plan(corpus_mod.PRESETS["smoke"], 1)
    # ... and synthesizing an item again gives the cached audio and segments bit for bit
    speakers = {s.name: s for s in corpus_mod.SPEAKERS}
    for item in (smoke_corpus.items("train")[0], smoke_corpus.items("test")[-1]):
        audio, segments = corpus_mod.synthesize_item(item.text, speakers[item.speaker], rate=item.rate,
                                                     pitch=item.pitch, seed=item.seed)
        cached, _ = corpus_mod.read_wav(smoke_corpus.root / item.audio)
        assert np.array_equal(audio, cached)
        assert segments == item.segments
    # loading from the cache returns the same manifest
    again = corpus_mod.build_corpus("smoke", seed=0, cache_dir=smoke_corpus.root.parent)
    assert again.root == smoke_corpus.root and again.manifest == smoke_corpus.manifest


def test_phone_labels_per_frame(smoke_corpus):
    item = smoke_corpus.items("test")[0]
    labels = item.phone_labels(320)
    assert len(labels) == item.num_samples // 320 and labels[0] == "h#"
    assert set(item.phone_labels(320, what="group")) <= set(phones.GROUP_NAMES) | {phones.OTHER}


# -- MDCT --------------------------------------------------------------------------------------

@pytest.mark.parametrize("window", ["sine", "kbd"])
@pytest.mark.parametrize("length", [320, 1000, 16001])
def test_mdct_perfect_reconstruction(window, length):
    m = MDCT(320, window)
    x = np.random.default_rng(length).standard_normal(length)
    coeffs = m.forward(x)
    assert coeffs.shape == (math.ceil(length / 320) + 1, 320)
    np.testing.assert_allclose(m.inverse(coeffs, length), x, atol=1e-10)
    assert np.isclose(np.sum(coeffs ** 2), np.sum(x ** 2))  # orthogonal lapped transform
    xt = torch.randn(3, length, dtype=torch.float64)
    torch.testing.assert_close(m.inverse(m.forward(xt), length), xt, atol=1e-10, rtol=0)


def test_mdct_window_princen_bradley_and_errors():
    for kind in ("sine", "kbd"):
        w = MDCT(320, kind).window
        np.testing.assert_allclose(w[:320] ** 2 + w[320:] ** 2, 1.0, atol=1e-12)
    with pytest.raises(ValueError):
        MDCT(321)
    with pytest.raises(ValueError):
        MDCT(320, "hann")


# -- metrics -----------------------------------------------------------------------------------

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


# -- the codec ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bitrate", BITRATES)
def test_bit_accounting_is_exact(bitrate):
    a = bit_allocation(bitrate)
    assert a.bits_per_frame * codec_mod.FRAMES_PER_SECOND == round(bitrate * 1000)
    assert a.bits_per_frame == {8.0: 160, 9.6: 192, 13.2: 264, 16.4: 328, 24.4: 488, 32.0: 640}[bitrate]
    assert a.side_bits == codec_mod.SIDE_BITS == 48
    assert a.side_bits + a.vq_bits == a.bits_per_frame == sum(a.field_widths)
    assert len(a.bits_per_stage) == 20 and max(a.bits_per_stage) <= 10
    assert all(b == 0 or b >= codec_mod.MIN_BITS_PER_STAGE for b in a.bits_per_stage)
    assert sum(len(ps) * b * 4 for b, ps in a.groups.items()) == a.vq_bits
    assert list(a.bits_per_stage) == sorted(a.bits_per_stage, reverse=True)  # low frequencies first


def test_bit_allocation_rejects_inexact_rates():
    with pytest.raises(ValueError, match="whole number of bits"):
        bit_allocation(8.01)
    with pytest.raises(ValueError):
        bit_allocation(2.0)  # 40 bits: less than the side information
    assert "| 13.2 | 264 |" in codec_mod.bit_allocation_markdown()


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
    from vqcore.quantizers.packing import unpack_codes
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
