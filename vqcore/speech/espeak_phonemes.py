"""eSpeak NG's compiled phoneme tables (``espeak-ng-data/phontab``): the phonemes each language defines.

:func:`phoneme_inventory` lists the sounds of a table (``"en-us"``, ...), which the TIMIT mapping of
:mod:`vqcore.speech.phones` must cover. The data folder is the one the ``espeakng-loader`` wheel
ships (:func:`vqcore.speech.espeak.library_paths`).
"""
from __future__ import annotations

import os

from .espeak import library_paths

__all__ = ["PHONEME_TYPES", "phoneme_inventory", "phoneme_tables"]

#: phoneme types in eSpeak's phoneme tables (phoneme.h) that are sounds, not stress marks or pauses
PHONEME_TYPES = {2: "vowel", 3: "liquid", 4: "stop", 5: "voiced stop", 6: "fricative", 7: "voiced fricative",
                 8: "nasal"}


def phoneme_tables(data_path: str | None = None) -> dict[str, tuple[str | None, list[tuple[str, int]]]]:
    """Read eSpeak's compiled phoneme tables (``espeak-ng-data/phontab``).

    Returns:
        ``{table: (parent table or None, [(mnemonic, type), ...])}``; a table inherits every
        phoneme of its parent that it does not redefine. Types are eSpeak's (0 pause, 1 stress,
        2 vowel, 3 liquid, 4 stop, 5 voiced stop, 6 fricative, 7 voiced fricative, 8 nasal, ...).
    """
    if data_path is None:
        data_path = library_paths()[1]
    with open(os.path.join(data_path, "phontab"), "rb") as fh:
        blob = fh.read()
    count, pos = blob[0], 4
    raw: list[tuple[str, int, list[tuple[str, int]]]] = []
    for _ in range(count):
        n_phonemes, includes = blob[pos], blob[pos + 1]
        pos += 4
        name = blob[pos:pos + 32].split(b"\0", 1)[0].decode("ascii", "replace")
        pos += 32
        phonemes = []
        for _ in range(n_phonemes):  # struct PHONEME_TAB: 16 bytes, mnemonic packed in the first 4
            mnemonic = blob[pos:pos + 4].split(b"\0", 1)[0].decode("latin-1")
            phonemes.append((mnemonic, blob[pos + 11]))
            pos += 16
        raw.append((name, includes, phonemes))
    names = [r[0] for r in raw]
    return {name: (names[inc - 1] if inc else None, ph) for name, inc, ph in raw}


def phoneme_inventory(table: str = "en-us", data_path: str | None = None, *, inherited: bool = False) -> list[str]:
    """Mnemonics of the sounds (vowels and consonants) a phoneme table defines.

    With ``inherited``, also those of its parents (for English that adds eSpeak's shared "base1"
    table, which holds consonants of many languages).
    """
    tables = phoneme_tables(data_path)
    if table not in tables:
        raise KeyError(f"no eSpeak phoneme table {table!r}; known: {sorted(tables)}")
    out: list[str] = []
    name: str | None = table
    while name is not None:
        parent, phonemes = tables[name]
        out.extend(m for m, t in phonemes if t in PHONEME_TYPES and m and m not in out)
        name = parent if inherited else None
    return out
