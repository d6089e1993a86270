"""safetensors files tagged with a format: one reader and one atomic writer for every stored model.

The reader looks at a file's header (metadata, tensor names, dtypes and shapes) before it reads
any tensor, so a caller can refuse a file that claims too much (``max_bytes``) or the wrong
tensors (``check``) without allocating them. Every failure is a ``ValueError`` naming the file.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch

from .atomic import atomic_write_bytes

__all__ = ["TensorHeader", "read_safetensors", "write_safetensors"]

#: bytes per element of each safetensors dtype name (unknown names count as 8, the largest)
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
             "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class TensorHeader(NamedTuple):
    """What a safetensors header says about one tensor, before its data is read."""

    #: safetensors dtype name: ``"F32"``, ``"F16"``, ``"I64"``, ...
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Bytes the tensor takes once read."""
        return math.prod(self.shape) * _ITEMSIZE.get(self.dtype, 8)


def _as_path(path: object) -> Path:
    try:
        return Path(path)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(f"path must be a str or os.PathLike, got {type(path).__name__}") from exc


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], file_format: str,
                      metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``tensors`` (moved to the CPU, made contiguous) to ``path`` atomically, with the metadata
    key ``"format"`` set to ``file_format`` beside ``metadata`` (strings; a ``"format"`` key in it is
    refused, since the tag is what :func:`read_safetensors` checks).

    A file system error (an unwritable folder, ``path`` a folder, a full disk) is a ``ValueError``
    naming ``path`` (the error itself is chained as ``__cause__``)."""
    from safetensors.torch import save as save_bytes

    path = _as_path(path)
    if metadata and "format" in metadata:
        raise ValueError(f"metadata: key 'format' is reserved for the file format tag ({file_format!r})")
    meta = {"format": file_format, **(metadata or {})}
    bad = [k for k, v in meta.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise ValueError(f"metadata: keys and values must be strings, got {bad[0]!r}: {meta[bad[0]]!r}")
    bad = [k for k, v in tensors.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"tensors: expected str -> torch.Tensor, got {bad[0]!r}: {type(tensors[bad[0]]).__name__}")
    data = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    blob = save_bytes(data, metadata=meta)
    try:
        return atomic_write_bytes(path, blob)
    except OSError as exc:  # its message may name the temporary file; name the target instead
        reason = exc.strerror or type(exc).__name__
        where = Path(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else None
        if where is not None and where != path and not where.name.startswith(f".{path.name}."):
            reason += f": {str(where)!r}"  # a folder on the way (not a folder, unwritable)
        raise ValueError(f"{path}: cannot write the file ({reason})") from exc


def _call(path: Path, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, a safetensors call: its errors (own types, OSError) become a
    ``ValueError`` naming ``path``."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a safetensors file ({exc})") from exc


def read_safetensors(path: str | os.PathLike, file_format: str, *, max_bytes: int | None = None,
                     check: Callable[[dict[str, str], dict[str, TensorHeader]], None] | None = None,
                     ) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and the tensors (on the CPU) of a safetensors file whose metadata key ``"format"``
    is ``file_format``; a ``ValueError`` naming the file when it is missing, unreadable or of another format.

    Nothing is read past the header until it passes:

    Args:
        max_bytes: refuse a file whose tensors would take more than this many bytes.
        check: called as ``check(metadata, headers)`` (headers: name -> :class:`TensorHeader`) after
            the format check and before any tensor is read; it refuses the file by raising
            ``ValueError``.
    """
    from safetensors import safe_open

    path = _as_path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    with _call(path, safe_open, str(path), framework="pt", device="cpu") as f:
        meta = _call(path, f.metadata) or {}
        if meta.get("format") != file_format:
            raise ValueError(f"{path}: metadata key 'format' must be {file_format!r}, got {meta.get('format')!r}")
        names = list(_call(path, f.keys))
        headers = {}
        for name in names:
            part = _call(path, f.get_slice, name)
            headers[name] = TensorHeader(_call(path, part.get_dtype), tuple(_call(path, part.get_shape)))
        total = sum(h.nbytes for h in headers.values())
        if max_bytes is not None and total > max_bytes:
            raise ValueError(f"{path}: its tensors take {total} bytes, more than max_bytes={max_bytes}")
        if check is not None:
            check(dict(meta), dict(headers))
        tensors = {name: _call(path, f.get_tensor, name) for name in names}
    return meta, tensors
