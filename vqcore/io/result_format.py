"""The result files' layout as Python objects: :class:`ResultFile`, :class:`Series`, :func:`validate`.

What a result file may hold and how each key is read is described in :mod:`vqcore.io.results`,
which reads and writes the files (and from which every name here is also imported). This module
checks an object against that layout; it reads and writes nothing.
"""
from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .json_limits import tree_problem

__all__ = ["META_KEY", "METRIC_KEY", "X_KEYS", "ResultFile", "ResultsError", "Series", "parse_label", "validate"]

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
