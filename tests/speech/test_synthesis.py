"""One utterance: the phone alignment of eSpeak's events."""
from __future__ import annotations

import itertools

from vqcore.speech import synthesis


def test_alignment_covers_the_audio_without_espeak():
    events = [(100, "_"), (300, "h"), (250, "'@"), (900, "l"), (2000, "oU"), (5000, "_:"), (5000, "_")]
    segs = synthesis._align(events, 16000 / 22050, 4000)
    assert segs[0].start == 0 and segs[-1].end == 4000
    assert all(a.end == b.start for a, b in itertools.pairwise(segs))
    assert all(s.start < s.end for s in segs)
    # "h" ends (at the next event) before it starts: it is dropped; the final pause is merged
    assert [s.timit for s in segs] == ["h#", "ax", "l", "ow", "h#"]
