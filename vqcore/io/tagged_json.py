"""JSON files tagged with a format: a study's summary whose ``meta.format`` names what it is.

:func:`write_tagged` writes one atomically (:mod:`.atomic`); :func:`read_tagged` reads it back and
refuses, naming the file, anything that is not JSON or carries another format tag.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text

__all__ = ["read_tagged", "write_tagged"]


def write_tagged(path: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (its folder created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def read_tagged(path: str | os.PathLike, fmt: str, what: str) -> dict[str, Any]:
    """The object stored at ``path`` ({} when there is no file); a ValueError ``"<path>: not a <what> ..."``
    when it is not JSON or its ``meta.format`` is not ``fmt``."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a {what} ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("meta"), dict) or data["meta"].get("format") != fmt:
        raise ValueError(f"{path}: not a {what} (meta.format is not {fmt!r})")
    return data
