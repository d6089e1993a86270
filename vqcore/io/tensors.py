"""safetensors files tagged with a format: one reader and one atomic writer for every stored model."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .atomic import atomic_write_bytes

__all__ = ["read_safetensors", "write_safetensors"]


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], file_format: str,
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (moved to the CPU, made contiguous) to ``path`` atomically, with the metadata
    key ``"format"`` set to ``file_format`` beside ``metadata`` (strings; a ``"format"`` key in it is
    refused, since the tag is what :func:`read_safetensors` checks)."""
    from safetensors.torch import save as save_bytes

    if metadata and "format" in metadata:
        raise ValueError(f"metadata: key 'format' is reserved for the file format tag ({file_format!r})")
    meta = {"format": file_format, **(metadata or {})}
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, save_bytes(data, metadata=meta))


def read_safetensors(path: str | os.PathLike, file_format: str) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and the tensors (on the CPU) of a safetensors file whose metadata key ``"format"``
    is ``file_format``; a ``ValueError`` naming the file when it is missing, unreadable or of another format."""
    from safetensors import safe_open

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
