"""Save and load trained quantizers without pickle: safetensors weights plus a JSON configuration."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as save_bytes

from ._atomic import atomic_write_bytes

from .base import Quantizer

FORMAT = "vqcore-quantizer/1"


def _classes() -> dict[str, type[Quantizer]]:
    from . import AdditiveVQ, ProductVQ, ResidualVQ, SpaceFillingVQ, VQ
    return {c.__name__: c for c in (VQ, ResidualVQ, AdditiveVQ, ProductVQ, SpaceFillingVQ)}


def read_safetensors(path: str | os.PathLike, file_format: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and the tensors (on the CPU) of a safetensors file whose metadata key ``"format"``
    is ``file_format``; a ``ValueError`` naming the file when it is missing, unreadable or of another format."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a safetensors file ({exc})") from exc
    if meta.get("format") != file_format:
        raise ValueError(f"{path}: metadata key 'format' must be {file_format!r}, got {meta.get('format')!r}")
    return meta, tensors


def save(quantizer: Quantizer, path: str | os.PathLike) -> Path:
    """Write ``quantizer`` (weights, buffers and constructor configuration) to a ``.safetensors`` file, atomically."""
    if type(quantizer).__name__ not in _classes():
        raise ValueError(f"quantizer must be one of {sorted(_classes())}, got {type(quantizer).__name__}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in quantizer.state_dict().items()}
    meta = {"format": FORMAT, "class": type(quantizer).__name__, "config": json.dumps(quantizer.config())}
    return atomic_write_bytes(path, save_bytes(tensors, metadata=meta))


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Quantizer:
    """Rebuild a quantizer written by :func:`save` on ``device``."""
    meta, tensors = read_safetensors(path, FORMAT)
    cls = _classes().get(meta.get("class", ""))
    if cls is None:
        raise ValueError(f"{path}: metadata key 'class' names no vqcore quantizer: {meta.get('class')!r}")
    try:
        config = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: metadata key 'config' is missing or not JSON") from exc
    quantizer = cls(**config)
    quantizer.load_state_dict(tensors)
    return quantizer.to(device)
