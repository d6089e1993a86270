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

This module imports neither torch, numpy nor pandas at import time; the functions that need them
import them when called.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .json_limits import MAX_DEPTH, parse_int, tree_problem

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

#: The x-axis keys: the authors' (``"VQ bitrate"``, lower-case b, is the NSVQ paper's spelling), then
#: ours for the Interspeech 2023 figures, which have no published files: ``"Index"`` (a codebook
#: index) and ``"Time"`` (a frame's time).
X_KEYS: tuple[str, ...] = ("VQ Bitrate", "VQ bitrate", "Sampling Rate", "T", "Index", "Time")

METRIC_KEY = "Metric"
META_KEY = "meta"
_BAND_FIELDS = {"Mean": "mean", "Quantile Low": "low", "Quantile High": "high"}
_BAND_KEY = re.compile(r"^(Mean|Quantile Low|Quantile High) \((.+)\)$")
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)")

Values = list  # list[float | None]


class ResultsError(ValueError):
    """A result file (or object) that does not follow the layout.

    ``name`` is the file (or the name the caller gave), ``key`` the offending top-level key or
    ``None`` where the problem is not one key's (bad JSON, not an object).
    """

    def __init__(self, name: str, key: str | None, problem: str):
        self.name, self.key, self.problem = name, key, problem
        where = f"{name}: key {key!r}" if key is not None else name
        super().__init__(f"{where}: {problem}")


@dataclass
class Series:
    """One method's values along the x axis.

    Either a band (``mean``, with ``low`` and ``high`` quantiles or neither) or a plain list
    (``values``) for deterministic numbers such as complexity or a baseline. ``None`` marks a
    missing point.
    """

    mean: Values | None = None
    low: Values | None = None
    high: Values | None = None
    values: Values | None = None

    @property
    def is_band(self) -> bool:
        """True for a mean/quantile band, False for a plain list."""
        return self.values is None

    @property
    def central(self) -> Values:
        """The values to plot as the line: ``mean`` for a band, ``values`` for a plain list."""
        return self.mean if self.is_band else self.values  # type: ignore[return-value]


@dataclass
class ResultFile:
    """The content of one result file.

    ``x`` holds the x-axis labels as written (``"12 bits"``, ``"8 kbits/sec"``, ``"512"``);
    ``series`` maps a method name to its :class:`Series`, bands first, then plain lists, each in
    file order (the order :meth:`to_dict` writes them); ``context`` holds the
    scalar keys such as ``"Data"``; ``meta`` is our ``"meta"`` object (empty for the authors'
    files; an empty ``meta`` is not written); ``extra`` keeps unknown keys verbatim.
    """

    metric: str
    x_key: str
    x: list[str]
    series: dict[str, Series] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def methods(self) -> list[str]:
        """The method names: the bands, then the plain lists, each in file order."""
        return list(self.series)

    def x_values(self) -> list[float]:
        """The x labels as numbers (``"9.6 kbits/sec"`` -> 9.6, ``"12 bits"`` -> 12.0).

        Raises :class:`ResultsError` naming the x key if a label does not start with a number, or
        starts with one too large for a float (``"1e999 bits"``).
        """
        name = str(self.path) if self.path is not None else "<result>"
        out = []
        for i, label in enumerate(self.x):
            value = parse_label(label)
            if value is None:
                raise ResultsError(name, self.x_key, f"label {i} ({label!r}) does not start with a number")
            if not math.isfinite(value):
                raise ResultsError(name, self.x_key,
                                   f"label {i} ({label!r}) starts with a number too large for a float")
            out.append(value)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The authors' layout, keys in order: context, ``"Metric"``, the x key, each band's
        Mean/Quantile Low/Quantile High, the plain series, unknown keys, ``"meta"`` (if any)."""
        return dict(self._pairs())

    def _pairs(self) -> list[tuple[str, Any]]:
        """The (key, value) pairs of :meth:`to_dict`, in order; copies, and a key may repeat where
        two fields name the same key (which :func:`validate` refuses)."""
        out: list[tuple[str, Any]] = list(copy.deepcopy(self.context).items())
        out += [(METRIC_KEY, self.metric), (self.x_key, list(self.x))]
        for method, s in self.series.items():
            for prefix, attr in _BAND_FIELDS.items():
                values = getattr(s, attr)
                if values is not None:
                    out.append((f"{prefix} ({method})", list(values)))
        out += [(method, list(s.values)) for method, s in self.series.items() if s.values is not None]
        out += list(copy.deepcopy(self.extra).items())
        if self.meta:
            out.append((META_KEY, copy.deepcopy(self.meta)))
        return out

    def to_frame(self):
        """A long-format :class:`pandas.DataFrame` with columns ``x`` (label), ``method``,
        ``mean``, ``low``, ``high``; a plain series fills ``mean`` and leaves the quantiles NaN,
        as is a missing point. ``attrs`` carries ``metric`` and ``x_key``."""
        import pandas as pd

        nan = float("nan")

        def at(values: Values | None, i: int) -> float:
            return nan if values is None or values[i] is None else float(values[i])

        rows = [
            {"x": label, "method": method, "mean": at(s.central, i), "low": at(s.low, i), "high": at(s.high, i)}
            for method, s in self.series.items() for i, label in enumerate(self.x)
        ]
        frame = pd.DataFrame(rows, columns=["x", "method", "mean", "low", "high"])
        frame.attrs.update(metric=self.metric, x_key=self.x_key)
        return frame


def parse_label(label: str) -> float | None:
    """The number an x label starts with (``"8 kbits/sec"`` -> 8.0), or None if there is none."""
    match = _NUMBER.match(label) if isinstance(label, str) else None
    return float(match.group(1)) if match else None


# -- validation -------------------------------------------------------------------------------

def _check_tree(name: str, key: str, value: object) -> None:
    """Refuse what ``value`` (the value of top-level ``key``) holds that JSON cannot carry back
    unchanged (:func:`vqcore.io.json_limits.tree_problem`)."""
    problem = tree_problem(value)
    if problem is not None:
        raise ResultsError(name, key, problem)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_values(name: str, key: str, values: object, n: int, x_key: str) -> Values:
    if not isinstance(values, list):
        raise ResultsError(name, key, f"must be a list of numbers, got {type(values).__name__}")
    if len(values) != n:
        raise ResultsError(name, key, f"has {len(values)} values but x axis {x_key!r} has {n} labels")
    out: Values = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
        elif _is_number(v):
            if not math.isfinite(v):
                raise ResultsError(name, key, f"item {i} is {v!r}; use null for a missing point")
            out.append(float(v))
        else:
            raise ResultsError(name, key, f"item {i} is {type(v).__name__} {v!r}; values must be numbers or null")
    return out


def _check_result_file(r: ResultFile, name: str) -> dict[str, Any]:
    """The :meth:`ResultFile.to_dict` of ``r`` once its fields have the types it needs, its
    context and extra keys hold what they would be read back as, and no two fields write one key."""
    def refuse(what: str, value: object, expected: str) -> ResultsError:
        return ResultsError(name, None, f"ResultFile.{what} must be {expected}, got {type(value).__name__}")

    if not isinstance(r.x_key, str):
        raise refuse("x_key", r.x_key, "a string")
    if not isinstance(r.x, list):
        raise refuse("x", r.x, "a list")
    for what in ("series", "context", "meta", "extra"):
        if not isinstance(getattr(r, what), dict):
            raise refuse(what, getattr(r, what), "a dict")
    for method, s in r.series.items():
        if not isinstance(method, str) or not isinstance(s, Series):
            raise ResultsError(name, str(method),
                               f"a series must be a Series under a string name, got {type(s).__name__}")
        for attr in ("mean", "low", "high", "values"):
            if getattr(s, attr) is not None and not isinstance(getattr(s, attr), list):
                raise ResultsError(name, method, f"Series.{attr} must be a list or None")
        if all(v is None for v in (s.mean, s.low, s.high, s.values)):
            raise ResultsError(name, method, "the series holds no values")
    for fields, kind, ok in ((r.context, "context", lambda v: not isinstance(v, (dict, list, tuple))),
                             (r.extra, "extra", lambda v: isinstance(v, dict))):
        for key, value in fields.items():
            if not isinstance(key, str):
                raise ResultsError(name, str(key), "keys must be strings")
            _check_tree(name, key, value)
            if not ok(value):
                expected = "scalars" if kind == "context" else "objects"
                raise ResultsError(name, key, f"{kind} values must be {expected}, got {type(value).__name__}")
    _check_tree(name, META_KEY, r.meta)
    pairs = r._pairs()
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ResultsError(name, key, "two fields of the ResultFile write this key")
        seen.add(key)
    return dict(pairs)


def _x_axis(obj: Mapping[str, Any], name: str) -> tuple[str, list[str]]:
    """The x key and labels of ``obj``, checked."""
    found = [k for k in obj if k in X_KEYS]
    if not found:
        raise ResultsError(name, " | ".join(X_KEYS), "no x-axis key; expected exactly one of these")
    if len(found) > 1:
        raise ResultsError(name, found[1], f"a second x-axis key beside {found[0]!r}")
    x_key = found[0]
    x = obj[x_key]
    if not isinstance(x, list) or not x:
        raise ResultsError(name, x_key, "must be a non-empty list of labels")
    for i, label in enumerate(x):
        if not isinstance(label, str):
            raise ResultsError(name, x_key, f"label {i} is {type(label).__name__} {label!r}; labels must be strings")
    if len(set(x)) != len(x):
        raise ResultsError(name, x_key, "labels must be distinct")
    return x_key, list(x)


def _check_bands(name: str, series: dict[str, Series], origin: dict[str, str]) -> None:
    """Each band has its mean, and its quantiles in pairs."""
    for method, s in series.items():
        if origin[method] != "band":
            continue
        if s.mean is None:
            quantile = "Quantile Low" if s.low is not None else "Quantile High"
            raise ResultsError(name, f"{quantile} ({method})", f"has no 'Mean ({method})' beside it")
        if (s.low is None) != (s.high is None):
            missing = "Quantile Low" if s.low is None else "Quantile High"
            raise ResultsError(name, f"{missing} ({method})", "missing; the quantiles come in pairs")


def validate(obj: Mapping[str, Any] | ResultFile, name: str = "<object>") -> ResultFile:
    """Check ``obj`` (a parsed result file, or a :class:`ResultFile`) against the layout and
    return it as a :class:`ResultFile`; raise :class:`ResultsError` naming ``name`` and the key."""
    if isinstance(obj, ResultFile):
        obj = _check_result_file(obj, name)
    if not isinstance(obj, Mapping):
        raise ResultsError(name, None, f"the top level must be a JSON object, got {type(obj).__name__}")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ResultsError(name, str(key), "keys must be strings")
        _check_tree(name, key, value)

    metric = obj.get(METRIC_KEY)
    if METRIC_KEY not in obj:
        raise ResultsError(name, METRIC_KEY, "missing")
    if not isinstance(metric, str) or not metric.strip():
        raise ResultsError(name, METRIC_KEY, f"must be a non-empty string, got {metric!r}")
    x_key, x = _x_axis(obj, name)

    series: dict[str, Series] = {}
    origin: dict[str, str] = {}  # method -> "band" or "plain", to reject a method given both ways
    context: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in obj.items():
        if key in (METRIC_KEY, x_key):
            continue
        band = _BAND_KEY.match(key)
        if key == META_KEY:
            if not isinstance(value, dict):
                raise ResultsError(name, key, f"must be an object, got {type(value).__name__}")
            meta = copy.deepcopy(value)
        elif band or isinstance(value, list):
            method = band.group(2) if band else key
            kind = "band" if band else "plain"
            if origin.setdefault(method, kind) != kind:
                raise ResultsError(name, key, f"method {method!r} is given both as a plain list and as a band")
            values = _check_values(name, key, value, len(x), x_key)
            s = series.setdefault(method, Series())
            if band:
                setattr(s, _BAND_FIELDS[band.group(1)], values)
            else:
                s.values = values
        elif isinstance(value, dict):
            extra[key] = copy.deepcopy(value)
        else:
            context[key] = value
    _check_bands(name, series, origin)

    # the order to_dict writes them in, so that a write/load round trip keeps the methods' order
    ordered = {m: s for m, s in series.items() if origin[m] == "band"}
    ordered.update((m, s) for m, s in series.items() if origin[m] == "plain")
    return ResultFile(metric=metric, x_key=x_key, x=x, series=ordered, context=context,
                      meta=meta, extra=extra)


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
