"""Speech for the ICASSP 2023 figure 1 and the Interspeech 2023 SFVQ analysis.

- :mod:`~vqcore.speech.espeak`: ctypes binding to eSpeak NG from the ``espeakng-loader`` wheel.
- :mod:`~vqcore.speech.espeak_phonemes`: the phonemes of eSpeak NG's compiled phoneme tables.
- :mod:`~vqcore.speech.phones`: eSpeak phoneme -> TIMIT phone -> 7 TIMIT groups.
- :mod:`~vqcore.speech.script`: the corpus' sentences and speakers.
- :mod:`~vqcore.speech.synthesis`: one utterance: eSpeak NG speech at 16 kHz with its phone alignment.
- :mod:`~vqcore.speech.wav`: mono 16-bit WAV files.
- :mod:`~vqcore.speech.corpus`: the synthesized, phone-aligned, cached corpus and its split.
- :mod:`~vqcore.speech.mdct`: MDCT with perfect reconstruction.
- :mod:`~vqcore.speech.allocation`: the codec's frame layout and its fixed bit allocation.
- :mod:`~vqcore.speech.codec`: the transform codec (envelope + AVQ/RVQ/PVQ on the normalized spectrum).
- :mod:`~vqcore.speech.codec_io`: a trained codec in one safetensors file.
- :mod:`~vqcore.speech.metrics`: wide-band PESQ and pSNR.
- :mod:`~vqcore.speech.logmel`: log-mel features and their inversion (Griffin-Lim).

Needs the ``speech`` extra: ``espeakng-loader``, ``scipy``, ``pesq`` (and optionally ``pystoi``).
"""
from .allocation import BITRATES, bit_allocation, bit_allocation_markdown
from .codec import SpeechCodec
from .codec_io import load_codec, save_codec
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
