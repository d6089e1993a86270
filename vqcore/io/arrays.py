"""Cached ``.npz`` arrays: a short key of the settings that made them, an atomic writer, a forgiving reader.

For data caches (arrays computed from data, not models: stored models are safetensors, see
:mod:`.tensors`). A cache file is named by :func:`settings_key` of everything that made it, so
other settings give another file; :func:`load_npz` treats a damaged file as missing, so the caller
rebuilds it.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = ["load_npz", "save_npz", "settings_key"]


def settings_key(settings: Any) -> str:
    """16 hex digits of the SHA-1 of ``settings`` as JSON with sorted keys (values JSON cannot
    write are written as their ``str``): equal settings give equal keys."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write ``arrays`` (name -> array) to the uncompressed ``.npz`` file ``path``, atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike, names: tuple[str, ...] = ()) -> dict[str, np.ndarray] | None:
    """Every array of the ``.npz`` file ``path``; None when the file is missing, unreadable or lacks
    one of ``names`` (logged as a warning unless it is missing)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("ignoring unreadable cache %s: %s", path, exc)
        return None
    missing = [n for n in names if n not in arrays]
    if missing:
        logger.warning("ignoring cache %s: no array %s", path, ", ".join(missing))
        return None
    return arrays
