"""Save and load trained quantizers without pickle: safetensors weights plus a JSON configuration."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..io.tensors import read_safetensors, write_safetensors
from .base import Quantizer
from .registry import QUANTIZERS

FORMAT = "vqcore-quantizer/1"


def save(quantizer: Quantizer, path: str | os.PathLike) -> Path:
    """Write ``quantizer`` (weights, buffers and constructor configuration) to a ``.safetensors`` file, atomically."""
    if QUANTIZERS.get(type(quantizer).__name__) is not type(quantizer):
        raise ValueError(f"quantizer must be one of {sorted(QUANTIZERS)}, got {type(quantizer).__name__}")
    meta = {"class": type(quantizer).__name__, "config": json.dumps(quantizer.config())}
    return write_safetensors(path, quantizer.state_dict(), FORMAT, meta)


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Quantizer:
    """Rebuild a quantizer written by :func:`save` on ``device``."""
    meta, tensors = read_safetensors(path, FORMAT)
    cls = QUANTIZERS.get(meta.get("class", ""))
    if cls is None:
        raise ValueError(f"{path}: metadata key 'class' names no vqcore quantizer: {meta.get('class')!r}")
    try:
        config = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: metadata key 'config' is missing or not JSON") from exc
    quantizer = cls(**config)
    quantizer.load_state_dict(tensors)
    return quantizer.to(device)
