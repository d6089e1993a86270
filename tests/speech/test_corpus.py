"""The smoke corpus: its split, its segments, its determinism and per-frame phone labels (needs ``espeakng-loader``)."""
from __future__ import annotations

import itertools
import json

import numpy as np

from vqcore.speech import corpus as corpus_mod
from vqcore.speech import phones, script, synthesis, wav


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
    assert len(script.SPEAKERS) >= 8


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
    speakers = {s.name: s for s in script.SPEAKERS}
    for item in (smoke_corpus.items("train")[0], smoke_corpus.items("test")[-1]):
        audio, segments = synthesis.synthesize_item(item.text, speakers[item.speaker], rate=item.rate,
                                                     pitch=item.pitch, seed=item.seed)
        cached, _ = wav.read_wav(smoke_corpus.root / item.audio)
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
