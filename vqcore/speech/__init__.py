"""Speech for the ICASSP 2023 figure 1 and the Interspeech 2023 SFVQ analysis.

- :mod:`~vqcore.speech.espeak`: ctypes binding to eSpeak NG from the ``espeakng-loader`` wheel.
- :mod:`~vqcore.speech.phones`: eSpeak phoneme -> TIMIT phone -> 7 TIMIT groups.
- :mod:`~vqcore.speech.corpus`: the synthesized, phone-aligned, cached corpus and its split.
- :mod:`~vqcore.speech.mdct`: MDCT with perfect reconstruction.
- :mod:`~vqcore.speech.codec`: the transform codec (envelope + AVQ/RVQ/PVQ on the normalized spectrum).
- :mod:`~vqcore.speech.metrics`: wide-band PESQ and pSNR.

Needs the ``speech`` extra: ``espeakng-loader``, ``scipy``, ``pesq`` (and optionally ``pystoi``).
"""
from .codec import (
    BITRATES,
    SpeechCodec,
    bit_allocation,
    bit_allocation_markdown,
    load_codec,
    save_codec,
)
from .corpus import (
    SFVQ_SENTENCE,
    Corpus,
    Item,
    Segment,
    build_corpus,
    default_cache_dir,
)
from .espeak import EspeakError, EspeakUnavailable
from .mdct import MDCT
from .metrics import pesq_wb, psnr
from .phones import GROUP_NAMES, GROUPS, group_of, mapping_table_markdown, to_timit

__all__ = [
    "BITRATES",
    "GROUPS",
    "GROUP_NAMES",
    "MDCT",
    "SFVQ_SENTENCE",
    "Corpus",
    "EspeakError",
    "EspeakUnavailable",
    "Item",
    "Segment",
    "SpeechCodec",
    "bit_allocation",
    "bit_allocation_markdown",
    "build_corpus",
    "default_cache_dir",
    "group_of",
    "load_codec",
    "mapping_table_markdown",
    "pesq_wb",
    "psnr",
    "save_codec",
    "to_timit",
]
