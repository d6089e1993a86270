"""A phone-aligned English speech corpus synthesized with eSpeak NG, cached on disk.

The papers used TIMIT, which cannot be downloaded here. This corpus stands in for it: sentences
written for this project, spoken by eSpeak NG voices (:mod:`vqcore.speech.script`: variants with
their own pitch, range and rate, each utterance jittered by the seed), resampled to 16 kHz, with a
phone-level alignment from eSpeak's phoneme events mapped to TIMIT phones and the 7 TIMIT groups
(:mod:`vqcore.speech.synthesis`, :mod:`vqcore.speech.phones`). The audio is cached as 16-bit WAV
files (:mod:`vqcore.speech.wav`) beside a ``manifest.json``.

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
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_bytes
from . import espeak, phones
from .script import SENTENCES, SFVQ_SENTENCE, SPEAKERS, Speaker
from .synthesis import SAMPLE_RATE, TARGET_LEVEL_DB, Segment, active_level_db, synthesize_item
from .wav import read_wav, wav_bytes

logger = logging.getLogger(__name__)

# the script (vqcore.speech.script), the synthesis of one utterance (vqcore.speech.synthesis) and
# the WAV files (vqcore.speech.wav) are the corpus' parts; its users find their names here too
__all__ = ["PRESETS", "Corpus", "CorpusConfig", "Item", "build_corpus", "default_cache_dir"]

#: bump when the synthesis or alignment changes, so cached corpora are rebuilt
CORPUS_FORMAT = 1


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
