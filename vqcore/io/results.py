"""Result files: load, validate and write the JSON the figures are plotted from.

The layout is that of the authors' published result files (one JSON file per figure panel;
ours keep their file names, in ``Results/icassp2023/Figure N/`` and ``Results/interspeech2023/``)
plus a ``"meta"`` object in ours, so their files and ours load with the same code::

    {
     "Data": "Correlated",                  # optional context keys (scalars)
     "Metric": "MSE",
     "VQ Bitrate": ["12 bits", "16 bits"],   # exactly one x-axis key, labels are strings
     "Mean (AVQ)": [...],                    # per method: a band of mean and quantiles ...
     "Quantile Low (AVQ)": [...],
     "Quantile High (AVQ)": [...],
     "AVQ baseline": [...],                  # ... or a plain list (deterministic values)
     "meta": {...}                           # ours only: how the numbers were made
    }

How a top-level key is read:

- ``"Metric"``: the metric's name, a non-empty string.
- one of :data:`X_KEYS`: the x axis, a non-empty list of distinct string labels.
- ``"Mean (<m>)"``, ``"Quantile Low (<m>)"``, ``"Quantile High (<m>)"``: the band of method ``<m>``.
  The quantile lists come in pairs and only beside their mean.
- any other key holding a list: the plain series of the method named by the key.
- ``"meta"``: an object (ours only).
- any other key holding a scalar (string, number, boolean, null): context, such as ``"Data"``.
- any other key holding an object: unknown, kept verbatim in :attr:`ResultFile.extra`.

Every series list has one value per x label; a value is a finite number or ``null`` (a missing
point). Anything else raises :class:`ResultsError`, whose message names the file and the key.

What a file may hold anywhere, in any key (so that whatever loads can be written back unchanged,
and nothing but :class:`ResultsError` comes out of a hostile file):

- numbers that are finite floats: no ``NaN``, ``Infinity`` or ``1e400``, and no integer too large
  for a float (more than 309 digits are refused before Python converts them, so its 4,300-digit
  limit is never reached);
- objects and lists nested at most :data:`~vqcore.io.json_limits.MAX_DEPTH` levels deep (the JSON parser's own
  ``RecursionError`` is reported the same way).

The methods come in the order :meth:`ResultFile.to_dict` writes them: the bands, then the plain
lists, each in the file's order. The authors' files and ours are already in that order, so theirs
load with their own order and every write/load round trip keeps it.

Writing is atomic (:mod:`vqcore.io.atomic`: a temporary file in the target's folder, fsync,
:func:`os.replace`), so a crash or a validation error never leaves a half-written or clobbered
result behind.

The layout's objects and its checks are in :mod:`vqcore.io.result_format` (imported here, so
``results.ResultFile`` and the rest work as before); this module reads and writes the files. Neither
imports torch, numpy or pandas at import time; the functions that need them import them when called.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .json_limits import MAX_DEPTH, parse_int
from .result_format import (
    META_KEY,
    METRIC_KEY,
    X_KEYS,
    ResultFile,
    ResultsError,
    Series,
    parse_label,
    validate,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_DEPTH",
    "X_KEYS",
    "ResultFile",
    "ResultsError",
    "Series",
    "find",
    "load",
    "load_dir",
    "loads",
    "parse_label",
    "validate",
    "write",
]


# -- reading ----------------------------------------------------------------------------------

def _no_duplicates(name: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ResultsError(name, key, "appears twice")
            out[key] = value
        return out
    return hook


def loads(text: str | bytes, name: str = "<string>") -> ResultFile:
    """Parse and validate the JSON ``text`` (or UTF-8 bytes) of a result file; ``name`` is used in
    error messages. Whatever the text, the only error is :class:`ResultsError`."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ResultsError(name, None, f"not UTF-8 text ({exc})") from exc
    if not isinstance(text, str):
        raise ResultsError(name, None, f"the text must be a str or bytes, got {type(text).__name__}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates(name), parse_int=parse_int)
    except ResultsError:
        raise
    except RecursionError:
        raise ResultsError(name, None, f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, and any other refusal of the parser
        raise ResultsError(name, None, f"not valid JSON ({exc})") from exc
    return validate(obj, name)


def load(path: str | os.PathLike) -> ResultFile:
    """Read and validate one result file. A missing file raises :class:`FileNotFoundError`;
    a malformed one :class:`ResultsError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(str(path), None, f"not UTF-8 text ({exc})") from exc
    result = loads(text, str(path))
    result.path = path
    logger.debug("loaded %s: %s vs %s, methods %s", path, result.metric, result.x_key, result.methods)
    return result


def load_dir(root: str | os.PathLike) -> dict[str, ResultFile]:
    """Load every ``*.json`` under ``root`` (a ``Results`` tree), keyed by the path relative to
    ``root`` in POSIX form (``"icassp2023/Figure 1/pSNR.json"``), sorted. Hidden files are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"results root {str(root)!r} is not a folder")
    out = {}
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        out[rel.as_posix()] = load(path)
    logger.debug("loaded %d result files under %s", len(out), root)
    return out


def find(root: str | os.PathLike, figure: int | str, name: str) -> ResultFile:
    """Load the result ``name`` (file name, with or without ``.json``) of ``figure`` (``2``,
    ``"2"`` or ``"Figure 2"``) under ``root``, which may be a paper's folder or the whole
    ``Results`` tree. Raises :class:`FileNotFoundError` if there is none, :class:`ValueError`
    if several papers have it."""
    root = Path(root)
    folder = figure if str(figure).startswith("Figure") else f"Figure {figure}"
    file = name if name.endswith(".json") else f"{name}.json"
    matches = sorted(p for p in root.glob(f"**/{folder}/{file}") if p.is_file())
    if not matches:
        raise FileNotFoundError(f"no {folder}/{file} under {str(root)!r}")
    if len(matches) > 1:
        raise ValueError(f"{folder}/{file} is ambiguous under {str(root)!r}: "
                         + ", ".join(str(p.relative_to(root)) for p in matches))
    return load(matches[0])


# -- writing ----------------------------------------------------------------------------------

def _dumps(obj: Mapping[str, Any], name: str) -> str:
    try:
        return json.dumps(obj, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        bad = None
        for key, value in obj.items():
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                bad = key
                break
        raise ResultsError(name, bad, f"cannot be written as JSON ({exc})") from exc


def write(result: ResultFile | Mapping[str, Any], path: str | os.PathLike | None = None) -> Path:
    """Validate ``result`` and write it to ``path`` (default: ``result.path``) in the authors'
    layout, indent 1, atomically; parent folders are created. An invalid result raises
    :class:`ResultsError` and leaves any existing file as it was. Returns the path written."""
    if path is None:
        path = result.path if isinstance(result, ResultFile) else None
        if path is None:
            raise ValueError("write needs a path: none given and the result has none")
    bad_path = f"write: path must be a non-empty str or os.PathLike, got {path!r}"
    if isinstance(path, str) and not path:
        raise ValueError(bad_path)
    try:
        path = Path(path)
    except TypeError:
        raise ValueError(bad_path) from None
    name = str(path)
    checked = validate(result, name)
    text = _dumps(checked.to_dict(), name)
    atomic_write_text(path, text)
    logger.info("wrote %s (%s vs %s, %d methods)", path, checked.metric, checked.x_key, len(checked.series))
    return path
