"""A trained :class:`~vqcore.speech.codec.SpeechCodec` in one safetensors file, without pickle.

The file holds every quantizer's state (``"b<bits>.<name>"`` tensors) and, in its metadata, the
format tag :data:`CODEC_FORMAT`, the bitrate, method, MDCT window, noise-fill level and each
quantizer's class and configuration: everything :func:`load_codec` needs to rebuild the codec.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..io.tensors import read_safetensors, write_safetensors
from ..quantizers.registry import QUANTIZERS
from .codec import SpeechCodec

__all__ = ["CODEC_FORMAT", "load_codec", "save_codec"]

CODEC_FORMAT = "vqcore-speech-codec/1"
#: the quantizer classes a codec file may name
_CODEC_QUANTIZERS = ("AdditiveVQ", "ResidualVQ", "ProductVQ")


def save_codec(codec: SpeechCodec, path: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write a trained codec (every quantizer's codebooks plus the settings needed to rebuild it) to one
    ``.safetensors`` file, atomically, without pickle.

    Args:
        dtype: store the codebooks in this dtype (e.g. ``torch.float16`` to halve the file); default:
            as they are (float32). The decoder then uses the stored values.
    """
    if not isinstance(codec, SpeechCodec):
        raise ValueError(f"codec must be a SpeechCodec, got {type(codec).__name__}")  # noqa: TRY004 - the house rule: ValueError naming the argument
    tensors, quantizers = {}, {}
    for key, q in codec.quantizers.items():
        for name, value in q.state_dict().items():
            t = value.detach().to("cpu")
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            tensors[f"{key}.{name}"] = t.contiguous()
        quantizers[key] = {"class": type(q).__name__, "config": q.config()}
    meta = {"bitrate": repr(codec.bitrate), "method": codec.method,
            "window": codec.mdct.window_kind, "noise_fill": repr(codec.noise_fill),
            "quantizers": json.dumps(quantizers)}
    return write_safetensors(path, tensors, CODEC_FORMAT, meta)


def load_codec(path: str | os.PathLike, device: str | torch.device = "cpu") -> SpeechCodec:
    """Rebuild a codec written by :func:`save_codec` (codebooks in float32 on ``device``); a
    ``ValueError`` naming the file when it is not a codec file."""
    path = Path(path)
    meta, tensors = read_safetensors(path, CODEC_FORMAT)
    quantizers = {}
    for key, spec in json.loads(meta["quantizers"]).items():
        cls = QUANTIZERS.get(spec["class"]) if spec["class"] in _CODEC_QUANTIZERS else None
        if cls is None:
            raise ValueError(f"{path}: quantizer {key} has unknown class {spec['class']!r}")
        q = cls(**spec["config"])
        state = {name[len(key) + 1:]: t.to(torch.float32) if t.is_floating_point() else t
                 for name, t in tensors.items() if name.startswith(key + ".")}
        q.load_state_dict(state)
        quantizers[key] = q
    codec = SpeechCodec(float(meta["bitrate"]), meta["method"], quantizers=quantizers, window=meta["window"],
                        noise_fill=float(meta["noise_fill"]))
    return codec.to(device).eval()
