"""``vqcore.speech`` keeps its public names, whichever module of the package defines them."""
from __future__ import annotations

import vqcore.speech as speech
from vqcore.speech import allocation, codec, codec_io, corpus, script, synthesis, wav

PUBLIC = ("BITRATES", "GROUPS", "GROUP_NAMES", "MDCT", "SFVQ_SENTENCE", "Corpus", "EspeakError", "EspeakUnavailable",
          "Item", "Segment", "SpeechCodec", "bit_allocation", "bit_allocation_markdown", "build_corpus",
          "default_cache_dir", "group_of", "load_codec", "mapping_table_markdown", "pesq_wb", "psnr", "save_codec",
          "to_timit")


def test_public_names_are_importable_from_the_package():
    assert set(PUBLIC) <= set(speech.__all__)
    for name in speech.__all__:
        assert getattr(speech, name) is not None, name
    assert speech.load_codec is codec_io.load_codec and speech.bit_allocation is allocation.bit_allocation


def test_the_corpus_and_codec_modules_still_name_their_parts():
    # the book, the notebooks and the SFVQ experiment import these from corpus and codec
    assert corpus.SPEAKERS is script.SPEAKERS and corpus.SENTENCES is script.SENTENCES
    assert corpus.wav_bytes is wav.wav_bytes and corpus.read_wav is wav.read_wav
    assert corpus.Segment is synthesis.Segment and corpus.SFVQ_SENTENCE == script.SENTENCES[0]
    assert codec.bit_allocation_markdown is allocation.bit_allocation_markdown
    assert codec.FRAMES_PER_SECOND == 50 and codec.BITRATES == allocation.BITRATES
