"""A phone-aligned English speech corpus synthesized with eSpeak NG, cached on disk.

The papers used TIMIT, which cannot be downloaded here. This corpus stands in for it: sentences
written for this project, spoken by eSpeak NG voices (variants with their own pitch, range and
rate, each utterance jittered by the seed), resampled to 16 kHz, with a phone-level alignment
from eSpeak's phoneme events mapped to TIMIT phones and the 7 TIMIT groups
(:mod:`vqcore.speech.phones`).

Determinism: every utterance is synthesized in a fresh process with seeded generators
(:func:`vqcore.speech.espeak.synthesize`), so the audio depends only on (speaker, sentence,
rendition, seed) and on the eSpeak NG version, which the manifest records.

Split: by speaker *and* by sentence. Test speakers (a male and a female voice at least) speak only
test sentences; training speakers speak only training sentences; no voice and no sentence is in
both. The sentence the SFVQ paper plots (:data:`SFVQ_SENTENCE`) is always a test sentence.

Example::

    from vqcore.speech.corpus import build_corpus
    corpus = build_corpus("smoke", seed=0)
    item = corpus.items("test")[0]
    audio = corpus.load_audio(item)            # float32 at 16 kHz in [-1, 1]
    item.segments[0]                            # Segment(start=0, end=..., espeak='_', timit='h#', group='silence')
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from . import espeak, phones

logger = logging.getLogger(__name__)

__all__ = [
    "PRESETS",
    "SAMPLE_RATE",
    "SENTENCES",
    "SFVQ_SENTENCE",
    "SPEAKERS",
    "Corpus",
    "CorpusConfig",
    "Item",
    "Segment",
    "Speaker",
    "active_level_db",
    "build_corpus",
    "default_cache_dir",
    "synthesize_item",
    "wav_bytes",
]

#: the corpus' sample rate (Hz)
SAMPLE_RATE = 16000
#: bump when the synthesis or alignment changes, so cached corpora are rebuilt
CORPUS_FORMAT = 1
#: the sentence whose latent trajectory the SFVQ paper plots (TIMIT SA1)
SFVQ_SENTENCE = "She had your dark suit in greasy wash water all year."
#: the target active speech level of every utterance (dB re full scale, as ITU-T P.56 levels)
TARGET_LEVEL_DB = -26.0

#: Sentences written for this project (plus :data:`SFVQ_SENTENCE`). Together they hold every
#: phone group, and every English phone eSpeak has: ``zh`` (measure), ``oy`` (noise), ``aw`` (house),
#: ``th``/``dh``, ``ng``, ``ch``/``jh``, syllabic ``l``, flaps.
SENTENCES: tuple[str, ...] = (
    SFVQ_SENTENCE,
    "The boy enjoyed the noisy toy in the moist soil.",
    "How about a brown cow sitting outside the house?",
    "Nine bright kites flew high above the white island.",
    "They made a great cake for the rainy day in May.",
    "Go slowly over the old stone road to the coast.",
    "A fresh fish jumped through the shallow pool at dawn.",
    "Thick smoke then rose through the thin northern sky.",
    "The measure of pleasure is a vision of beige treasure.",
    "Each child chose cheap cheese at the church market.",
    "George judged the large orange badge with joy.",
    "Ring the bell and sing a long song for the king.",
    "He hid behind the heavy wooden door of his hut.",
    "Zebras zigzag over the frozen hazy fields.",
    "Please put the big bag by the back gate.",
    "We were rather worried about the weather in the north.",
    "My mother never liked the murmur of the summer rain.",
    "Vivid violet flowers grow very fast in the valley.",
    "Little lambs leap along the yellow lane.",
    "Your young uncle usually eats onion soup at noon.",
    "Could you look at the good book that Ruth took?",
    "A thousand yellow birds perched on the wire fence.",
    "Seven clever students taught themselves to swim.",
    "Is this the right way to the airport, or the harbor?",
    "Lunch was pasta with tomato and a cup of warm milk.",
    "The queen quietly asked for extra jam and butter.",
    "Pure water flows under the bridge every morning.",
    "Her purple shirt was hanging near the third door.",
    "Brisk winds pushed the canoe along the rocky shore.",
    "A puppy chewed the edge of the woolen sock.",
    "Thirty thin thieves thought about the theft all Thursday.",
    "The usual casual leisure of the garage was a mirage.",
    "Joyful voices rejoiced as the royal oysters were served.",
    "Cloudy towers loom over the crowded town below.",
    "Keep the kettle on a low heat until the water boils.",
    "Ducks and geese waddled toward the muddy bank of the pond.",
    "The engineer checked the engine twice before the journey.",
    "A bottle of fizzy lemonade cooled in the shade.",
    "Whose shoes are these, and why are they so wet?",
    "Our neighbor painted the fence a pale shade of green.",
    "Bright stars twinkled as the night grew colder.",
    "Shiny shells washed ashore beside the fisherman's shed.",
    "Don't forget to bring an umbrella when it looks like rain.",
    "The hungry lion yawned and rolled over in the tall grass.",
    "Mix the flour and sugar, then add three eggs.",
    "Autumn leaves drifted slowly onto the quiet path.",
    "The children laughed at the funny puppet show.",
    "Fourteen boats sailed past the lighthouse at noon.",
)


@dataclass(frozen=True)
class Speaker:
    """A voice: an eSpeak voice name plus prosody (``pitch`` and ``pitch_range`` 0..100, ``rate`` wpm)."""

    name: str
    voice: str
    gender: str
    pitch: int
    pitch_range: int
    rate: int


#: 12 speakers: eSpeak NG's American English voice with its male and female variants (two speak
#: the New York City variety), each with its own base pitch, intonation range and speaking rate.
SPEAKERS: tuple[Speaker, ...] = (
    Speaker("m01", "en-us+m1", "male", 42, 45, 160),
    Speaker("m02", "en-us+m2", "male", 50, 55, 175),
    Speaker("m03", "en-us+m3", "male", 38, 60, 150),
    Speaker("m04", "en-us+m4", "male", 55, 40, 185),
    Speaker("m05", "en-us+m5", "male", 46, 65, 170),
    Speaker("m06", "en-us-nyc+m6", "male", 52, 50, 190),
    Speaker("f01", "en-us+f1", "female", 50, 60, 165),
    Speaker("f02", "en-us+f2", "female", 56, 50, 175),
    Speaker("f03", "en-us+f3", "female", 45, 70, 155),
    Speaker("f04", "en-us+f4", "female", 60, 45, 185),
    Speaker("f05", "en-us+f5", "female", 48, 55, 170),
    Speaker("f06", "en-us-nyc+f3", "female", 53, 65, 180),
)


@dataclass(frozen=True)
class CorpusConfig:
    """What a corpus holds. ``renditions`` utterances per (speaker, sentence), each with its own jitter."""

    name: str
    train_speakers: int
    test_speakers: int
    train_sentences: int
    test_sentences: int
    renditions: int = 1
    rate_jitter: float = 0.08   # relative, uniform +-
    pitch_jitter: int = 6       # eSpeak pitch units, uniform +-


#: Sizes per preset (the project's smoke / quick / paper scales).
PRESETS: dict[str, CorpusConfig] = {
    "smoke": CorpusConfig("smoke", train_speakers=4, test_speakers=2, train_sentences=3, test_sentences=2),
    "quick": CorpusConfig("quick", train_speakers=9, test_speakers=3, train_sentences=38, test_sentences=10),
    "paper": CorpusConfig("paper", train_speakers=9, test_speakers=3, train_sentences=38, test_sentences=10,
                          renditions=3),
}


@dataclass(frozen=True)
class Segment:
    """One phone: samples ``[start, end)`` at 16 kHz, its eSpeak mnemonic, TIMIT phone and group."""

    start: int
    end: int
    espeak: str
    timit: str
    group: str


@dataclass
class Item:
    """One utterance of the corpus (a manifest entry)."""

    id: str
    split: str
    speaker: str
    voice: str
    gender: str
    sentence_id: int
    text: str
    rendition: int
    rate: int
    pitch: int
    pitch_range: int
    seed: int
    audio: str                 # path relative to the corpus folder
    num_samples: int
    sample_rate: int
    segments: list[Segment] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict) -> Item:
        d = dict(d)
        d["segments"] = [Segment(**s) if isinstance(s, dict) else Segment(*s) for s in d["segments"]]
        return cls(**d)

    def phone_labels(self, hop: int, num_frames: int | None = None, what: str = "timit") -> list[str]:
        """The phone (``what`` = ``"timit"``, ``"group"`` or ``"espeak"``) at the centre of each frame of ``hop`` samples."""
        n = num_frames if num_frames is not None else self.num_samples // hop
        starts = np.array([s.start for s in self.segments])
        centres = np.arange(n) * hop + hop // 2
        idx = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(self.segments) - 1)
        return [getattr(self.segments[i], what) for i in idx]


def default_cache_dir() -> Path:
    """``$VQCORE_CACHE/speech`` if ``VQCORE_CACHE`` is set, else ``~/.cache/vqcore/speech``."""
    root = os.environ.get("VQCORE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "vqcore") / "speech"


# -- synthesis of one item ---------------------------------------------------------------------

def active_level_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, frame_ms: float = 20.0,
                    floor_db: float = 40.0) -> float:
    """Active level in dB re full scale: the RMS over 20 ms frames within ``floor_db`` of the loudest.

    A simple stand-in for ITU-T P.56's active speech level (silence does not count).
    """
    x = np.asarray(audio, dtype=np.float64)
    hop = round(sample_rate * frame_ms / 1000)
    n = len(x) // hop
    if n == 0:
        return float(10 * np.log10(np.mean(x ** 2) + 1e-20))
    energy = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    active = energy >= energy.max() * 10 ** (-floor_db / 10)
    return float(10 * np.log10(np.mean(energy[active]) + 1e-20))


def _align(events: Sequence[tuple[int, str]], ratio: float, num_samples: int) -> list[Segment]:
    """Phoneme events (sample at eSpeak's rate, mnemonic) -> contiguous segments covering ``[0, num_samples)``.

    Each phoneme lasts until the next event; audio before the first event is ``h#``. Positions are
    scaled by ``ratio`` and rounded; phones shorter than one sample after rounding are dropped,
    and neighbouring silences are merged.
    """
    marks: list[tuple[int, str]] = [(0, "_")]
    for sample, mnemonic in events:
        pos = min(max(round(sample * ratio), 0), num_samples)
        marks.append((pos, mnemonic))
    segments: list[Segment] = []
    for i, (start, mnemonic) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else num_samples
        end = max(end, start)
        if end <= start:
            continue
        timit = phones.to_timit(mnemonic)
        group = phones.group_of(timit)
        if segments and timit == phones.SILENCE and segments[-1].timit == phones.SILENCE:
            prev = segments.pop()
            segments.append(Segment(prev.start, end, prev.espeak, prev.timit, prev.group))
            continue
        if segments and segments[-1].end != start:  # a later event before an earlier one: keep order
            start = segments[-1].end
            if end <= start:
                continue
        segments.append(Segment(start, end, phones.strip_stress(mnemonic), timit, group))
    if not segments or segments[-1].end != num_samples:
        raise RuntimeError("phone alignment does not cover the audio")
    return segments


def synthesize_item(text: str, speaker: Speaker, *, rate: int, pitch: int, seed: int) -> tuple[np.ndarray, list[Segment]]:
    """Synthesize ``text`` and return ``(int16 audio at 16 kHz, segments)``, level-normalised to -26 dBFS."""
    from scipy.signal import resample_poly

    utt = espeak.synthesize(text, speaker.voice, rate=rate, pitch=pitch, pitch_range=speaker.pitch_range, seed=seed)
    x = utt.audio.astype(np.float64) / 32768.0
    g = np.gcd(SAMPLE_RATE, utt.sample_rate)
    y = resample_poly(x, SAMPLE_RATE // g, utt.sample_rate // g)
    y *= 10 ** ((TARGET_LEVEL_DB - active_level_db(y)) / 20)
    peak = np.max(np.abs(y)) if y.size else 0.0
    if peak > 0.98:  # never clip: lower the level instead
        y *= 0.98 / peak
    audio = np.round(y * 32767).astype(np.int16)
    segments = _align(utt.phonemes, SAMPLE_RATE / utt.sample_rate, len(audio))
    return audio, segments


# -- files -------------------------------------------------------------------------------------

def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Mono 16-bit WAV file bytes of ``audio``, ``(N,)``: int16 samples as they are, or floats in
    ``[-1, 1]`` (clipped, scaled by 32767 and rounded)."""
    import io
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.floating):
        audio = np.round(np.clip(audio.astype(np.float64), -1, 1) * 32767)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(audio.astype("<i2").tobytes())
    return buf.getvalue()


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(int16 samples, sample rate)`` of a mono 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16), w.getframerate()


# -- the corpus --------------------------------------------------------------------------------

class Corpus:
    """A built corpus: its folder, manifest and items. Made by :func:`build_corpus`."""

    def __init__(self, root: Path, manifest: dict) -> None:
        self.root = Path(root)
        self.manifest = manifest
        self._items = [Item.from_dict(d) for d in manifest["items"]]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        counts = {s: len(self.items(s)) for s in ("train", "test")}
        return f"Corpus({self.manifest['config']['name']!r}, seed={self.manifest['seed']}, {counts}, root={str(self.root)!r})"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def items(self, split: str | None = None) -> list[Item]:
        """All items, or those of ``split`` (``"train"`` or ``"test"``)."""
        if split is not None and split not in ("train", "test"):
            raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
        return [it for it in self._items if split is None or it.split == split]

    def speakers(self, split: str | None = None) -> list[str]:
        return sorted({it.speaker for it in self.items(split)})

    def sentences(self, split: str | None = None) -> list[int]:
        return sorted({it.sentence_id for it in self.items(split)})

    def load_audio(self, item: Item | str) -> np.ndarray:
        """The item's audio as float32 in ``[-1, 1]`` at 16 kHz."""
        if isinstance(item, str):
            item = next(it for it in self._items if it.id == item)
        audio, rate = read_wav(self.root / item.audio)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{item.audio}: sample rate {rate}, expected {SAMPLE_RATE}")
        return audio.astype(np.float32) / 32768.0

    def iter_audio(self, split: str | None = None) -> Iterable[tuple[Item, np.ndarray]]:
        for it in self.items(split):
            yield it, self.load_audio(it)


def _split(config: CorpusConfig, seed: int) -> tuple[list[Speaker], list[Speaker], list[int], list[int]]:
    """Seeded choice of test/train speakers (gender balanced) and test/train sentences (SFVQ sentence in test)."""
    rng = np.random.default_rng([seed, 0x5EEC4])
    males = [s for s in SPEAKERS if s.gender == "male"]
    females = [s for s in SPEAKERS if s.gender == "female"]
    males = [males[i] for i in rng.permutation(len(males))]
    females = [females[i] for i in rng.permutation(len(females))]
    interleaved = [s for pair in zip(males, females) for s in pair]  # m, f, m, f, ...
    if config.test_speakers + config.train_speakers > len(interleaved):
        raise ValueError(f"preset {config.name!r} asks for more speakers than the {len(SPEAKERS)} defined")
    test_spk = interleaved[: config.test_speakers]
    train_spk = interleaved[config.test_speakers: config.test_speakers + config.train_speakers]
    others = [i for i in range(1, len(SENTENCES))]
    others = [others[i] for i in rng.permutation(len(others))]
    if config.test_sentences + config.train_sentences > len(SENTENCES):
        raise ValueError(f"preset {config.name!r} asks for more sentences than the {len(SENTENCES)} written")
    test_sent = [0] + others[: config.test_sentences - 1]
    train_sent = others[config.test_sentences - 1: config.test_sentences - 1 + config.train_sentences]
    key = {s.name: i for i, s in enumerate(SPEAKERS)}
    return (sorted(train_spk, key=lambda s: key[s.name]), sorted(test_spk, key=lambda s: key[s.name]),
            sorted(train_sent), sorted(test_sent))


def _plan(config: CorpusConfig, seed: int) -> list[dict]:
    """The items to synthesize, each with its seeded prosody jitter."""
    train_spk, test_spk, train_sent, test_sent = _split(config, seed)
    plan = []
    for split, spks, sents in (("train", train_spk, train_sent), ("test", test_spk, test_sent)):
        for spk in spks:
            for sid in sents:
                for r in range(config.renditions):
                    sub = np.random.default_rng([seed, SPEAKERS.index(spk), sid, r])
                    rate = round(spk.rate * (1 + float(sub.uniform(-config.rate_jitter, config.rate_jitter))))
                    pitch = int(np.clip(spk.pitch + sub.integers(-config.pitch_jitter, config.pitch_jitter + 1), 0, 100))
                    item_seed = int(sub.integers(1, 2 ** 31 - 1))
                    iid = f"{spk.name}_s{sid:02d}_r{r}"
                    plan.append({"id": iid, "split": split, "speaker": spk.name, "voice": spk.voice,
                                 "gender": spk.gender, "sentence_id": sid, "text": SENTENCES[sid], "rendition": r,
                                 "rate": rate, "pitch": pitch, "pitch_range": spk.pitch_range, "seed": item_seed,
                                 "audio": f"wav/{iid}.wav", "sample_rate": SAMPLE_RATE})
    return plan


def _config_key(config: CorpusConfig, seed: int, version: str) -> str:
    blob = json.dumps({"format": CORPUS_FORMAT, "config": asdict(config), "seed": seed, "espeak": version,
                       "sentences": SENTENCES, "speakers": [asdict(s) for s in SPEAKERS],
                       "table": sorted(phones.ESPEAK_TO_TIMIT.items())}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def build_corpus(preset: str | CorpusConfig = "quick", seed: int = 0, *, cache_dir: str | os.PathLike | None = None,
                 workers: int = 2, rebuild: bool = False, progress: bool = False) -> Corpus:
    """Build (or load from the cache) the corpus of a preset.

    Args:
        preset: ``"smoke"``, ``"quick"``, ``"paper"`` (see :data:`PRESETS`) or a :class:`CorpusConfig`.
        seed: selects the split and every utterance's prosody jitter and eSpeak seed.
        cache_dir: parent folder (default :func:`default_cache_dir`); the corpus lives in
            ``<cache_dir>/<preset>-seed<seed>-<hash>/`` with ``manifest.json`` and ``wav/``.
        workers: utterances synthesized at once (each in its own process).
        rebuild: synthesize again even if a manifest is cached.

    Raises:
        vqcore.speech.espeak.EspeakUnavailable: eSpeak NG cannot be loaded (the message says why).
    """
    if isinstance(preset, str) and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    config = PRESETS[preset] if isinstance(preset, str) else preset
    info = espeak.library_info()  # fails early, with the reason, when eSpeak cannot be loaded
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"{config.name}-seed{seed}-{_config_key(config, seed, info['version'])}"
    manifest_path = folder / "manifest.json"
    if manifest_path.exists() and not rebuild:
        with open(manifest_path) as fh:
            manifest = json.load(fh)
        if all((folder / it["audio"]).exists() for it in manifest["items"]):
            return Corpus(folder, manifest)
    plan = _plan(config, seed)
    spk_by_name = {s.name: s for s in SPEAKERS}

    def make(entry: dict) -> dict:
        audio, segments = synthesize_item(entry["text"], spk_by_name[entry["speaker"]], rate=entry["rate"],
                                          pitch=entry["pitch"], seed=entry["seed"])
        atomic_write_bytes(folder / entry["audio"], wav_bytes(audio, SAMPLE_RATE))
        return {**entry, "num_samples": len(audio), "segments": [asdict(s) for s in segments]}

    logger.info("synthesizing %d utterances into %s", len(plan), folder)
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        it = pool.map(make, plan)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, total=len(plan), desc=f"speech corpus ({config.name})")
        items = list(it)
    train_spk, test_spk, train_sent, test_sent = _split(config, seed)
    manifest = {
        "format": CORPUS_FORMAT,
        "config": asdict(config),
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "target_level_db": TARGET_LEVEL_DB,
        "espeak": {"version": info["version"], "package": "espeakng-loader"},
        "split": {"train": {"speakers": [s.name for s in train_spk], "sentences": train_sent},
                  "test": {"speakers": [s.name for s in test_spk], "sentences": test_sent}},
        "speakers": [asdict(s) for s in SPEAKERS if s in train_spk + test_spk],
        "items": items,
    }
    atomic_write_bytes(manifest_path, json.dumps(manifest, indent=1).encode())
    return Corpus(folder, manifest)
