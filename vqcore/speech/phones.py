"""eSpeak NG phoneme mnemonics -> TIMIT phone symbols -> the 7 TIMIT phone groups.

eSpeak's phoneme events name phonemes with its own ASCII mnemonics (stressed vowels carry a
leading ``'`` or ``,``). The corpus maps each one to the closest TIMIT phone, and each TIMIT phone
to one of the groups the Interspeech 2023 SFVQ paper uses for its histograms.

What differs from TIMIT's hand labels (and is said in the book):

- eSpeak emits one event per stop; TIMIT splits stops into a closure (``bcl``, ``tcl``...) and a
  release. Here the whole stop is the release symbol (``p b t d k g``).
- eSpeak has no voiced ``hv`` nor fronted ``ux``/``ax-h``/``nx``; every ``h`` is ``hh``.
- r-coloured and centring vowels that TIMIT writes as two phones (``aa r``, ``ih r``, ``ay ax``)
  are one eSpeak phoneme; they take the first (vowel) symbol.
- every pause is ``h#`` (silence): TIMIT's ``pau`` and ``epi`` are not separated.
- ``dx`` (flap) and ``q`` (glottal stop) exist in TIMIT but belong to none of the 7 groups:
  their group is :data:`OTHER`.

Use :func:`to_timit` and :func:`group_of`; :func:`mapping_table_markdown` renders the table for
the book.
"""
from __future__ import annotations

__all__ = [
    "ESPEAK_TO_TIMIT",
    "GROUPS",
    "GROUP_NAMES",
    "OTHER",
    "SILENCE",
    "TIMIT_TO_GROUP",
    "group_of",
    "groups_table_markdown",
    "mapping_rows",
    "mapping_table_markdown",
    "strip_stress",
    "to_timit",
]

#: TIMIT phone groups (algorithms.md), in the order the figures use.
GROUPS: dict[str, tuple[str, ...]] = {
    "plosives": ("p", "b", "t", "d", "k", "g", "jh", "ch"),
    "fricatives": ("f", "v", "th", "dh", "s", "z", "sh", "zh", "hh", "hv"),
    "nasals": ("m", "em", "n", "nx", "ng", "eng", "en"),
    "vowels": ("iy", "ih", "ix", "eh", "ae", "aa", "ao", "ah", "ax", "ax-h", "uh", "uw", "ux"),
    "semivowels": ("l", "el", "r", "er", "axr", "w", "y"),
    "diphthongs": ("ey", "aw", "ay", "oy", "ow"),
    "silence": ("h#",),
}
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
#: group of TIMIT phones outside the 7 groups (``dx``, ``q``)
OTHER = "other"
#: the TIMIT symbol of every pause
SILENCE = "h#"

TIMIT_TO_GROUP: dict[str, str] = {p: g for g, phones in GROUPS.items() for p in phones}
TIMIT_TO_GROUP.update({"dx": OTHER, "q": OTHER})

# (eSpeak mnemonic, TIMIT phone, note). Covers the phonemes of eSpeak NG's "en" and "en-us"
# phoneme tables (and the shared "base1" consonants English uses), so every English voice maps.
_TABLE: tuple[tuple[str, str, str], ...] = (
    # pauses
    ("_", "h#", "short pause"), ("_:", "h#", "pause"), ("_::", "h#", "long pause"), ("_!", "h#", "pause"),
    ("_|", "h#", "pause"), ("||", "h#", "pause"), ("_^_", "h#", "language switch"), ("_;_", "h#", "pause"),
    ("_X1", "h#", "pause"),
    # plosives and affricates
    ("p", "p", ""), ("b", "b", ""), ("t", "t", ""), ("t2", "t", "unreleased t"), ("d", "d", ""),
    ("k", "k", ""), ("g", "g", ""), ("tS", "ch", ""), ("dZ", "jh", ""),
    ("t#", "dx", "flap (water)"), ("d#", "dx", "flap"), ("?", "q", "glottal stop"),
    # fricatives
    ("f", "f", ""), ("v", "v", ""), ("T", "th", ""), ("D", "dh", ""), ("s", "s", ""), ("z", "z", ""),
    ("z#", "z", ""), ("z/2", "z", ""), ("S", "sh", ""), ("Z", "zh", ""), ("h", "hh", "eSpeak has no voiced hv"),
    ("x", "hh", "loch"),
    # nasals
    ("m", "m", ""), ("n", "n", ""), ("N", "ng", ""), ("m-", "em", "syllabic m"), ("n-", "en", "syllabic n"),
    ("N-", "eng", "syllabic ng"),
    # semivowels and glides
    ("l", "l", ""), ("l/", "l", "dark l"), ("l/2", "l", ""), ("l/3", "l", ""), ("l-", "el", "syllabic l"),
    ("@L", "el", "syllabic l (little)"), ("r", "r", ""), ("r/", "r", ""), ("r-", "r", "linking r"),
    ("w", "w", ""), ("w#", "w", ""), ("j", "y", ""), (";", "y", "linking glide after a front vowel"),
    # vowels
    ("i:", "iy", "fleece"), ("i", "iy", "happy"), ("I", "ih", "kit"), ("IR", "ih", "mirror"),
    ("I2", "ix", "weak i (the before a vowel)"), ("I#", "ix", "weak i (behind)"), ("I2#", "ix", "weak i"),
    ("E", "eh", "dress"), ("E#", "eh", ""), ("E2", "eh", ""), ("e#", "eh", ""), ("e@", "eh", "square (eh r)"),
    ("a", "ae", "trap"), ("aa", "ae", "bath (US)"), ("A:", "aa", "palm"), ("A#", "aa", ""), ("A@", "aa", "start (aa r)"),
    ("A~", "aa", "nasal (loans)"), ("0", "aa", "lot (US)"), ("0#", "aa", ""), ("02", "aa", ""),
    ("O:", "ao", "thought"), ("O", "ao", ""), ("O2", "ao", "cloth (long, on)"), ("O@", "ao", "north (ao r)"),
    ("o@", "ao", "force (ao r)"), ("o:", "ao", ""), ("O~", "ao", "nasal (loans)"),
    ("V", "ah", "strut"), ("VR", "ah", "hurry"), ("@", "ax", "schwa"), ("@2", "ax", "schwa (the)"),
    ("@5", "ax", "schwa (to)"), ("@#", "ax", ""), ("a#", "ax", "reduced a (about)"), ("a#2", "ax", ""),
    ("a2", "ax", ""), ("@-", "ax", "schwa"),
    ("U", "uh", "foot"), ("U@", "uh", "cure (uh r)"), ("u:", "uw", "goose"),
    ("3:", "er", "nurse"), ("3", "axr", "letter"),
    # diphthongs
    ("eI", "ey", "face"), ("e:", "ey", ""), ("aI", "ay", "price"), ("aI@", "ay", "violet (ay ax)"),
    ("aI3", "ay", "wire (ay axr)"), ("aI2", "ay", ""), ("OI", "oy", "choice"), ("aU", "aw", "mouth"),
    ("aU@", "aw", "hour (aw ax)"), ("oU", "ow", "goat"), ("oU#", "ow", ""), ("@U", "ow", "goat (GB)"),
    ("i@", "iy", "onion (iy ax)"), ("i@3", "ih", "near (ih r)"),
)

#: eSpeak mnemonic (without stress mark) -> TIMIT phone
ESPEAK_TO_TIMIT: dict[str, str] = {e: t for e, t, _ in _TABLE}
_NOTES: dict[str, str] = {e: n for e, _, n in _TABLE}

assert all(t in TIMIT_TO_GROUP for t in ESPEAK_TO_TIMIT.values()), "every TIMIT target must have a group"


def strip_stress(mnemonic: str) -> str:
    """``"'aI"`` -> ``"aI"``: drop eSpeak's stress marks (``'`` primary, ``,`` secondary, ``%``, ``=``)."""
    return mnemonic.lstrip("',%=")


def to_timit(mnemonic: str) -> str:
    """TIMIT phone for an eSpeak phoneme mnemonic (stress marks are ignored).

    Raises:
        KeyError: the mnemonic is not in the table (the message names it).
    """
    key = strip_stress(mnemonic)
    try:
        return ESPEAK_TO_TIMIT[key]
    except KeyError:
        raise KeyError(f"eSpeak phoneme {mnemonic!r} has no TIMIT mapping in vqcore.speech.phones; "
                       f"add it to the table") from None


def group_of(timit: str) -> str:
    """Group of a TIMIT phone: one of :data:`GROUP_NAMES`, or :data:`OTHER` (``dx``, ``q``)."""
    try:
        return TIMIT_TO_GROUP[timit]
    except KeyError:
        raise KeyError(f"{timit!r} is not a TIMIT phone known to vqcore.speech.phones") from None


def mapping_rows() -> list[tuple[str, str, str, str]]:
    """``(espeak, timit, group, note)`` for every row of the table, grouped by TIMIT group order."""
    order = {g: i for i, g in enumerate((*GROUP_NAMES, OTHER))}
    rows = [(e, t, TIMIT_TO_GROUP[t], n) for e, t, n in _TABLE]
    return sorted(rows, key=lambda r: (order[r[2]], r[1]))


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"``{text}``"


def mapping_table_markdown() -> str:
    """The eSpeak -> TIMIT -> group table as Markdown (one row per TIMIT phone, eSpeak symbols joined)."""
    merged: dict[tuple[str, str], list[str]] = {}
    notes: dict[tuple[str, str], list[str]] = {}
    for e, t, g, n in mapping_rows():
        merged.setdefault((g, t), []).append(e)
        if n:
            notes.setdefault((g, t), []).append(f"{_code(e)}: {n}")
    lines = ["| group | TIMIT | eSpeak NG mnemonics | notes |", "|---|---|---|---|"]
    for (g, t), es in merged.items():
        esc = ", ".join(_code(e).replace("|", "\\|") for e in es)
        note = "; ".join(notes.get((g, t), [])).replace("|", "\\|")
        lines.append(f"| {g} | {_code(t)} | {esc} | {note} |")
    return "\n".join(lines)


def groups_table_markdown() -> str:
    """The 7 TIMIT groups as Markdown, marking the phones eSpeak never produces."""
    produced = set(ESPEAK_TO_TIMIT.values())
    lines = ["| group | TIMIT phones (*italic*: no eSpeak counterpart) |", "|---|---|"]
    for g, phones in GROUPS.items():
        cells = [(_code(p) if p in produced else f"*{p}*") for p in phones]
        lines.append(f"| {g} | {' '.join(cells)} |")
    return "\n".join(lines)
