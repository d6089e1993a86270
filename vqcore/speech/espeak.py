"""A small ctypes binding to the eSpeak NG library shipped by the ``espeakng-loader`` wheel.

Only what the corpus needs: synchronous synthesis into memory, voice and prosody settings, and
the phoneme events (``espeakEVENT_PHONEME``) that give the audio position, in samples, of every
phoneme.

Repeatability. eSpeak NG keeps synthesis state in static variables (the voice source's phase,
pitch flutter, echo buffers) that carry over from one utterance to the next, and it seeds its
random generator from the clock. Two calls with the same text in one process therefore differ by
a few samples. :func:`synthesize` runs every utterance in a fresh interpreter that loads the
library anew and seeds its generators (``espeak_ng_SetRandSeed`` and libc ``srand``), so the
audio and the phoneme positions depend only on the arguments. :class:`EspeakEngine` is the
in-process alternative (faster, not repeatable across calls).

This file runs standalone as that worker (``python -S espeak.py``): it imports nothing outside
the standard library at module level, not even numpy.

Example::

    from vqcore.speech.espeak import synthesize
    utt = synthesize("Hello world.", voice="en-us+m3", rate=160, pitch=45, seed=1)
    utt.audio          # int16 numpy array at utt.sample_rate (22050 Hz)
    utt.phonemes       # [(sample, "h"), (sample, "@"), ...] in eSpeak's phoneme mnemonics
"""
from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EspeakEngine",
    "EspeakError",
    "EspeakUnavailable",
    "Utterance",
    "get_engine",
    "is_available",
    "library_info",
    "library_paths",
    "synthesize",
]

# enum espeak_EVENT_TYPE (speak_lib.h)
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7
# enum espeak_AUDIO_OUTPUT: like RETRIEVAL, but espeak_Synth returns only when synthesis is done
AUDIO_OUTPUT_SYNCHRONOUS = 2
# enum espeak_POSITION_TYPE
POS_CHARACTER = 1
# espeak_Synth flags
CHARS_UTF8 = 1
# espeak_Initialize options: bit 0 enables phoneme events (bit 1 would make them IPA)
INIT_PHONEME_EVENTS = 0x0001
# enum espeak_PARAMETER
PARAM_RATE = 1
PARAM_VOLUME = 2
PARAM_PITCH = 3
PARAM_RANGE = 4
PARAM_WORDGAP = 7

EE_OK = 0


class EspeakError(RuntimeError):
    """The eSpeak NG library returned an error."""


class EspeakUnavailable(EspeakError):
    """The ``espeakng-loader`` wheel or its shared library cannot be loaded."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),   # milliseconds (rounded); ``sample`` is exact
        ("sample", ctypes.c_int),           # sample index in this message's output
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_INSTALL_HINT = ("install it with `pip install espeakng-loader` (the wheel ships libespeak-ng and its voice data; "
                 "no system package is needed)")


def library_paths() -> tuple[str, str]:
    """``(shared library, espeak-ng-data folder)`` as the ``espeakng_loader`` package reports them.

    Raises:
        EspeakUnavailable: the package is not installed or its files are missing.
    """
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakUnavailable(
            f"the speech corpus needs eSpeak NG from the 'espeakng-loader' wheel, which is not installed; "
            f"{_INSTALL_HINT}") from exc
    try:
        lib = str(espeakng_loader.get_library_path())
        data = str(espeakng_loader.get_data_path())
    except Exception as exc:  # the loader raises RuntimeError when its data folder is missing
        raise EspeakUnavailable(f"espeakng-loader is installed but incomplete: {exc}") from exc
    if not os.path.isfile(lib):
        raise EspeakUnavailable(f"espeakng-loader is installed but its shared library is missing: {lib}")
    return lib, data


class _Library:
    """The raw library: initialise once, then synthesize to int16 bytes plus events (stdlib only)."""

    def __init__(self, lib_path: str, data_path: str) -> None:
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError as exc:
            raise EspeakUnavailable(
                f"cannot load the eSpeak NG shared library shipped by espeakng-loader at {lib_path}: {exc}") from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), INIT_PHONEME_EVENTS)
        if rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed (returned {rate}) with data path {data_path}")
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"?").decode()
        self._lib = lib
        self._chunks: list[bytes] = []
        self._events: list[tuple[int, int, int, bytes]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        # eSpeak NG seeds its own generator from the clock; espeak_ng_SetRandSeed (1.51+) fixes it
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_seed is not None:
            self._set_seed.restype = ctypes.c_int
            self._set_seed.argtypes = [ctypes.c_long]
        try:  # some voice sources draw noise from libc rand()
            self._srand = ctypes.CDLL(None).srand
            self._srand.argtypes = [ctypes.c_uint]
        except (OSError, AttributeError):  # pragma: no cover - platform without dlopen(NULL)
            self._srand = None

    def _on_synth(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        i = 0
        while events:
            ev = events[i]
            if ev.type == EVENT_LIST_TERMINATED:
                break
            if ev.type == EVENT_PHONEME:
                self._events.append((ev.type, ev.sample, ev.text_position, bytes(ev.id.string)))
            elif ev.type == EVENT_WORD:
                self._events.append((ev.type, ev.sample, ev.text_position, b""))
            i += 1
        return 0  # go on synthesizing

    def _check(self, code: int, what: str) -> None:
        if code != EE_OK:
            raise EspeakError(f"{what} failed with eSpeak error code {code}")

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, word_gap: int,
              seed: int) -> tuple[bytes, list[list[Any]], list[list[int]]]:
        self._check(self._lib.espeak_SetVoiceByName(voice.encode()), f"espeak_SetVoiceByName({voice!r})")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range),
                             (PARAM_WORDGAP, word_gap), (PARAM_VOLUME, 100)):
            self._check(self._lib.espeak_SetParameter(param, int(value), 0), f"espeak_SetParameter({param}, {value})")
        if self._set_seed is not None:
            self._set_seed(int(seed))
        if self._srand is not None:
            self._srand(int(seed) & 0xFFFFFFFF)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        self._check(self._lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None),
                    "espeak_Synth")
        self._check(self._lib.espeak_Synchronize(), "espeak_Synchronize")
        audio = b"".join(self._chunks)
        phonemes, words = [], []
        for kind, sample, pos, raw in self._events:
            if kind == EVENT_PHONEME:
                phonemes.append([int(sample), raw.split(b"\0", 1)[0].decode("utf-8", "replace")])
            else:
                words.append([int(sample), int(pos)])
        self._chunks, self._events = [], []
        return audio, phonemes, words


@dataclass
class Utterance:
    """One synthesized utterance.

    Attributes:
        audio: ``int16`` numpy samples at ``sample_rate``.
        sample_rate: eSpeak's output rate (22050 Hz for its formant voices).
        phonemes: ``(start_sample, mnemonic)`` per phoneme event, in time order. Mnemonics are
            eSpeak's ASCII phoneme names, with a leading stress mark (``'`` or ``,``) on stressed vowels.
        words: ``(start_sample, text_position)`` per word event (text positions count from 1).
    """

    audio: Any
    sample_rate: int
    phonemes: list[tuple[int, str]] = field(default_factory=list)
    words: list[tuple[int, int]] = field(default_factory=list)


def _utterance(audio: bytes, rate: int, phonemes: list, words: list) -> Utterance:
    import numpy as np
    return Utterance(audio=np.frombuffer(audio, dtype="<i2").astype(np.int16), sample_rate=int(rate),
                     phonemes=[(int(s), str(p)) for s, p in phonemes], words=[(int(s), int(t)) for s, t in words])


class EspeakEngine:
    """The library loaded into this process (one per process: eSpeak's state is global).

    Faster than :func:`synthesize` but not repeatable: each call continues the library's internal
    state left by the previous one (see the module docstring).
    """

    def __init__(self) -> None:
        self.library_path, self.data_path = library_paths()
        self._raw = _Library(self.library_path, self.data_path)
        self.sample_rate = self._raw.sample_rate
        self.version = self._raw.version
        self._lock = threading.Lock()

    def synthesize(self, text: str, voice: str = "en-us", *, rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, word_gap: int = 0, seed: int = 0) -> Utterance:
        """Speak ``text`` in this process (see :func:`synthesize` for the arguments)."""
        with self._lock:
            audio, phonemes, words = self._raw.synth(text, voice, rate, pitch, pitch_range, word_gap, seed)
        return _utterance(audio, self.sample_rate, phonemes, words)


_ENGINE: EspeakEngine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> EspeakEngine:
    """The process-wide :class:`EspeakEngine` (created on first use).

    Raises:
        EspeakUnavailable: with the reason, when the wheel or its library cannot be loaded.
    """
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = EspeakEngine()
        return _ENGINE


def _run_worker(request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """Start a fresh interpreter on this file, send it ``request`` and read its answer."""
    cmd = [sys.executable, "-S", "-E", os.path.abspath(__file__)]
    try:
        proc = subprocess.run(cmd, input=json.dumps(request).encode(), capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise EspeakError(f"the eSpeak worker took more than {timeout} s for {request.get('text', '')[:40]!r}") from exc
    out = proc.stdout
    if proc.returncode != 0 or len(out) < 4:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        msg = err[-1] if err else f"exit status {proc.returncode}"
        cls = EspeakUnavailable if "EspeakUnavailable" in msg else EspeakError
        raise cls(f"eSpeak worker failed: {msg}")
    (hlen,) = struct.unpack("<I", out[:4])
    header = json.loads(out[4:4 + hlen].decode())
    header["audio"] = out[4 + hlen:]
    return header


def synthesize(text: str, voice: str = "en-us", *, rate: int = 175, pitch: int = 50, pitch_range: int = 50,
               word_gap: int = 0, seed: int = 0) -> Utterance:
    """Speak ``text`` with ``voice`` in a fresh process: the result depends only on the arguments.

    Args:
        text: UTF-8 text (punctuation shapes the intonation).
        voice: ``"language+variant"`` as eSpeak names it, e.g. ``"en-us+f2"``.
        rate: words per minute (eSpeak accepts 80..450; 175 is its default).
        pitch: base pitch, 0..100 (50 is the voice's normal).
        pitch_range: intonation range, 0..100 (0 is monotone).
        word_gap: extra pause between words, in units of 10 ms.
        seed: seeds eSpeak's generator and libc ``srand`` before synthesis.

    Raises:
        EspeakUnavailable: the wheel or its library cannot be loaded (the message says how to fix it).
        EspeakError: eSpeak rejected the voice or a parameter.
    """
    lib, data = library_paths()
    request = {"lib": lib, "data": data, "text": text, "voice": voice, "rate": int(rate), "pitch": int(pitch),
               "pitch_range": int(pitch_range), "word_gap": int(word_gap), "seed": int(seed)}
    answer = _run_worker(request)
    return _utterance(answer["audio"], answer["sample_rate"], answer["phonemes"], answer["words"])


def library_info() -> dict[str, str]:
    """``{"version", "library", "data"}`` of the eSpeak NG that :func:`synthesize` uses."""
    lib, data = library_paths()
    answer = _run_worker({"lib": lib, "data": data, "info": True})
    return {"version": answer["version"], "library": lib, "data": data}


def is_available() -> bool:
    """Whether eSpeak NG can be loaded here (never raises)."""
    try:
        library_info()
    except EspeakError:
        return False
    return True


def _worker_main() -> int:
    request = json.loads(sys.stdin.buffer.read().decode())
    try:
        raw = _Library(request["lib"], request["data"])
        if request.get("info"):
            header, audio = {"version": raw.version, "sample_rate": raw.sample_rate}, b""
        else:
            audio, phonemes, words = raw.synth(request["text"], request["voice"], request["rate"], request["pitch"],
                                               request["pitch_range"], request["word_gap"], request["seed"])
            header = {"sample_rate": raw.sample_rate, "version": raw.version, "phonemes": phonemes, "words": words}
    except EspeakError as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    blob = json.dumps(header).encode()
    sys.stdout.buffer.write(struct.pack("<I", len(blob)) + blob + audio)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
