"""The audio players of ICASSP 2023 Figure 1: one test utterance, coded by every method and bitrate.

:func:`write_players` writes to :data:`AUDIO_DIR` (the figure's artefact folder in
:mod:`vqcore.experiments.registry`) the original as a 16-bit WAV and, per method and bitrate, the
trained codec (:func:`~vqcore.speech.codec_io.save_codec`, codebooks stored as float16 to keep the
files small) and the packed bitstream (``.bin``) that codec makes, so that the notebook decodes
them live. ``players.jsonl`` lists them; :func:`read_players` reads it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..speech.codec_io import load_codec, save_codec
from ..speech.corpus import wav_bytes
from . import registry
from .run_cache import RunCache
from .speech_presets import METHODS, SpeechPreset, SpeechRunKey, bitrate_label
from .speech_runs import SpeechData, stored_codec

__all__ = ["AUDIO_DIR", "PLAYERS_FILE", "read_players", "write_players"]

#: where the audio of the players goes, relative to the results folder
AUDIO_DIR: str = registry.figure("1").artefacts[0]
#: the list of the player files in :data:`AUDIO_DIR` (JSON Lines, see :func:`read_players`)
PLAYERS_FILE = "players.jsonl"
_NOTE = ("codecs stored with float16 codebooks (the runs used float32) and the bitstream encoded with "
         "them; pesq_in_run/psnr_in_run are the scores of this utterance in the evaluated run")


def write_players(preset: SpeechPreset, seed: int, data: SpeechData, cache: RunCache, results_dir: Path,
                  records: Mapping[SpeechRunKey, Mapping[str, Any]], device: torch.device) -> list[Path]:
    """The player material of seed ``seed``'s runs: the original utterance (the preset's
    ``audio_sentence`` by the first test speaker that says it), and per method and bitrate its
    bitstream and codec; then ``players.jsonl``. Returns the files written."""
    folder = results_dir / AUDIO_DIR
    candidates = [i for i, it in enumerate(data.test_items) if it.sentence_id == preset.audio_sentence]
    index = candidates[0] if candidates else 0
    item, audio = data.test_items[index], data.test_audio[index]
    written = [atomic_write_bytes(folder / "original.wav", wav_bytes(audio, 16000))]
    entries = []
    for m in METHODS:
        for r in preset.bitrates:
            key = SpeechRunKey(m, float(r), int(seed))
            stem = f"{m}_{r:g}kbps"
            codec_file = save_codec(stored_codec(cache, key, device), folder / f"{stem}.safetensors",
                                    dtype=torch.float16)
            payload = load_codec(codec_file).encode(audio)  # what the notebook will decode with (float16 codebooks)
            written += [codec_file, atomic_write_bytes(folder / f"{stem}.bin", payload)]
            rec = records[key]
            pos = rec["test_items"].index(item.id)
            entries.append({"method": m, "bitrate": r, "label": bitrate_label(r), "bitstream": f"{stem}.bin",
                            "codec": f"{stem}.safetensors", "bytes": len(payload),
                            "pesq_in_run": rec["pesq"][pos], "psnr_in_run": rec["psnr"][pos]})
    info = {"item": item.id, "text": item.text, "speaker": item.speaker, "num_samples": len(audio),
            "sample_rate": 16000, "original": "original.wav", "seed": int(seed), "preset": preset.name,
            "note": _NOTE}
    lines = [json.dumps({"utterance": info})] + [json.dumps(e) for e in entries]
    written.append(atomic_write_text(folder / PLAYERS_FILE, "\n".join(lines) + "\n"))
    return written


def read_players(audio_dir: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(utterance info, entries)`` from the ``players.jsonl`` that :func:`write_players` writes.

    JSON Lines (not ``.json``, so that a results tree holds only result files): the first line is
    ``{"utterance": {...}}`` (item id, text, speaker, ``num_samples``, ``original`` WAV name, ...),
    each further line one method and bitrate (``method``, ``bitrate``, ``label``, ``bitstream``,
    ``codec``, ``bytes``, and the utterance's scores in the evaluated run).
    """
    path = Path(audio_dir) / PLAYERS_FILE
    if not path.is_file():
        raise ValueError(f"audio_dir {str(audio_dir)!r} has no {PLAYERS_FILE}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows or "utterance" not in rows[0]:
        raise ValueError(f"{path}: the first line must be {{\"utterance\": ...}}")
    return rows[0]["utterance"], rows[1:]
