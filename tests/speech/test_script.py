"""The corpus' sentences: every phone group is spoken (needs ``espeakng-loader``)."""
from __future__ import annotations

from vqcore.speech import espeak, phones, script

from tests.helpers import need


def test_sentences_cover_every_group():
    need("espeakng-loader")
    engine = espeak.get_engine()  # in-process: fast, and repeatability is not needed here
    found = set()
    for text in script.SENTENCES:
        utt = engine.synthesize(text, "en-us", rate=400)
        found |= {phones.group_of(phones.to_timit(m)) for _, m in utt.phonemes}
    assert set(phones.GROUP_NAMES) <= found
    assert script.SFVQ_SENTENCE in script.SENTENCES
