"""Finished runs of an experiment, kept on disk so that an interrupted experiment resumes.

:class:`RunRecords` keeps one JSON record per run, checked against the settings that made it and
the fields the runner reads; :class:`RunCache` adds a safetensors companion (a model, codebooks,
ranks). A damaged record or companion is logged with its path and recomputed. A lock per run
(:meth:`RunRecords.claim`) lets runners on the same folder share the work.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..io.atomic import atomic_write_text
from ..io.locks import exclusive_lock
from ..io.tensors import read_safetensors, write_safetensors
from ..quantizers.base import Quantizer
from ..quantizers.serialization import load as load_quantizer
from ..quantizers.serialization import save as save_quantizer

logger = logging.getLogger(__name__)

__all__ = ["DAMAGE_ERRORS", "FieldSpec", "RunCache", "RunRecords", "field_problem", "tensors_problem"]


def _name(key: Any) -> str:
    return key if isinstance(key, str) else key.name


#: what a damaged cache file can raise while it is read, parsed or loaded into a model
DAMAGE_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError, KeyError, TypeError, IndexError,
                                                  AttributeError, OSError, OverflowError, RecursionError, EOFError)

#: a field spec: a type or a tuple of types, ``[spec]`` (a list of such items) or ``{name: spec}`` (an object
#: with those fields); ``float`` means a finite number (an int too), ``int`` an integer, neither a bool
FieldSpec = Any


def field_problem(value: Any, spec: FieldSpec, where: str) -> str | None:
    """What is wrong with ``value`` against ``spec`` (a :data:`FieldSpec`), naming ``where``; None when it fits."""
    if isinstance(spec, list):
        if not isinstance(value, list):
            return f"{where} must be a list, got {type(value).__name__}"
        return next((p for i, v in enumerate(value) if (p := field_problem(v, spec[0], f"{where}[{i}]"))), None)
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where} must be an object, got {type(value).__name__}"
        for name, sub in spec.items():
            if name not in value:
                return f"{where}.{name} is missing" if where else f"field {name!r} is missing"
            problem = field_problem(value[name], sub, f"{where}.{name}" if where else name)
            if problem:
                return problem
        return None
    types = spec if isinstance(spec, tuple) else (spec,)
    for t in types:
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return None
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return None
        if t not in (float, int) and isinstance(value, t):
            return None
    names = " or ".join("None" if t is type(None) else ("a finite number" if t is float else t.__name__)
                        for t in types)
    return f"{where} must be {names}, got {value!r:.40}"


def tensors_problem(tensors: Mapping[str, torch.Tensor], like: Mapping[str, torch.Tensor], only: bool) -> str | None:
    """What is wrong with ``tensors`` against ``like`` (names, shapes, dtypes; floating tensors finite;
    with ``only`` no other names); None when they fit. ``like`` may hold meta tensors."""
    missing = sorted(set(like) - set(tensors))
    if missing:
        return f"tensors {missing[:5]} are missing"
    extra = sorted(set(tensors) - set(like))
    if only and extra:
        return f"unexpected tensors {extra[:5]}"
    for name, want in like.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            return (f"tensor {name!r} is {got.dtype} {tuple(got.shape)}, "
                    f"expected {want.dtype} {tuple(want.shape)}")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            return f"tensor {name!r} holds NaN or inf"
    return None


#: per thread, the lock files of the runs it holds (so that a nested claim of the same run does not wait)
_HELD = threading.local()


class RunRecords:
    """One JSON record per finished run, ``<root>/<name>.json``, written atomically.

    A run is named by a string or by a key with a ``name`` (a dataclass key is also stored in the
    record). A record holds the cache's ``run_format``, the ``settings`` that made the run and what
    the run measured; :meth:`get` returns it only when both match, the fields the caller reads are
    there with the right types, and every companion file (a model written before the record, say)
    exists, so a run made with other settings, or a damaged record, is recomputed.

    Runners that share a ``root`` share the work: each computes a run inside :meth:`claim`, which
    holds the run's lock file ``<root>/<name>.lock`` (:func:`vqcore.io.locks.exclusive_lock`: ``flock``
    on POSIX, ``msvcrt`` on Windows, else a lock file with stale detection; released when the holder
    exits, however it exits), and reads the record again once it holds it.
    """

    LOCK_SUFFIX = ".lock"

    def __init__(self, root: str | os.PathLike, run_format: str) -> None:
        self.root = Path(root)
        self.run_format = run_format
        self._reported: set[tuple[str, str]] = set()

    def path(self, key: Any, suffix: str = ".json") -> Path:
        """``<root>/<name><suffix>``: the record, or with another suffix a companion file of the run."""
        return self.root / f"{_name(key)}{suffix}"

    def _damaged(self, path: Path, problem: str) -> None:
        """Log (once per file and problem, as a warning) that ``path`` is damaged and will be recomputed."""
        if (str(path), problem) in self._reported:
            logger.debug("ignoring damaged %s (%s)", path, problem)
            return
        self._reported.add((str(path), problem))
        logger.warning("ignoring damaged %s (%s); the run will be recomputed", path, problem)

    def get(self, key: Any, settings: Mapping[str, Any], companions: Sequence[str] = (),
            fields: Mapping[str, FieldSpec] | None = None) -> dict[str, Any] | None:
        """The stored record of ``key`` if it was made with ``settings``, its ``companions`` (suffixes)
        exist and it has the ``fields`` (name -> :data:`FieldSpec`, e.g. ``{"mse": float}``), else None.
        A record that cannot be read, is not a JSON object or lacks a field is logged with its path."""
        path = self.path(key)
        if not path.is_file() or not all(self.path(key, suffix).is_file() for suffix in companions):
            return None
        try:
            record = json.loads(path.read_bytes().decode("utf-8"))
        except DAMAGE_ERRORS as exc:  # bad UTF-8 or JSON, 5,000-digit numbers, deep nesting, I/O
            self._damaged(path, f"unreadable: {type(exc).__name__}: {str(exc)[:200]}")
            return None
        if not isinstance(record, dict):
            self._damaged(path, f"a run record must be a JSON object, got {type(record).__name__}")
            return None
        if record.get("format") != self.run_format or record.get("settings") != settings:
            logger.info("stored run %s was made with other settings; it will be recomputed", _name(key))
            return None
        problem = field_problem(record, dict(fields or {}), "")
        if problem:
            self._damaged(path, problem)
            return None
        return record

    def put(self, key: Any, settings: Mapping[str, Any], record: Mapping[str, Any]) -> Path:
        """Store ``record`` for ``key`` (atomically); write its companion files first."""
        head: dict[str, Any] = {"format": self.run_format}
        if dataclasses.is_dataclass(key):
            head["key"] = dataclasses.asdict(key)
        full = {**head, "settings": settings, **record}
        return atomic_write_text(self.path(key), json.dumps(full, indent=1, allow_nan=False) + "\n")

    @contextmanager
    def claim(self, key: Any, *, wait: bool = True) -> Iterator[bool]:
        """Hold the lock of run ``key`` for the ``with`` block: yields True once held (waiting for another
        runner that holds it, unless ``wait`` is False: then yields False at once when it is held).

        Inside, read the record again (another runner may have just stored it) and compute the run only
        when it is still missing. Re-entrant within a thread; the lock file is removed on exit.
        """
        held: set[str] | None = getattr(_HELD, "paths", None)
        if held is None:
            held = _HELD.paths = set()
        name = os.path.abspath(self.path(key, self.LOCK_SUFFIX))
        if name in held:  # nested claim of the same run
            yield True
            return
        with exclusive_lock(self.path(key, self.LOCK_SUFFIX), wait=wait) as got:
            if not got:  # held elsewhere (wait False): False; no lock can be made here (None): run unlocked
                yield got is None
                return
            held.add(name)
            try:
                yield True
            finally:
                held.discard(name)


class RunCache(RunRecords):
    """:class:`RunRecords` whose runs may keep tensors: ``<name>.safetensors`` beside ``<name>.json``.

    The companion is written before its record, so a record always vouches for a complete file. It
    holds either a quantizer (:meth:`put_quantizer`, the :func:`vqcore.save` format) or named tensors
    (:meth:`put_tensors`: model weights, codebooks, ranks) tagged with this cache's format and the
    run's settings. Every stored model is safetensors; nothing is pickled. A companion that cannot be
    read, or does not fit what the caller expects, is logged with its path and the run recomputed.
    """

    SUFFIX = ".safetensors"

    def tensors_path(self, key: Any) -> Path:
        return self.path(key, self.SUFFIX)

    def put_tensors(self, key: Any, settings: Mapping[str, Any], record: Mapping[str, Any],
                    tensors: Mapping[str, torch.Tensor]) -> Path:
        """Store ``tensors`` and then ``record`` for ``key``; returns the record's path."""
        write_safetensors(self.tensors_path(key), tensors, self.run_format,
                          {"settings": json.dumps(settings, sort_keys=True)})
        return self.put(key, settings, record)

    def get_stored(self, key: Any, settings: Mapping[str, Any], *, fields: Mapping[str, FieldSpec] | None = None,
                   like: Mapping[str, torch.Tensor] | None = None, only: bool = False
                   ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """The record and tensors stored for ``key`` with ``settings``, or None: when either is missing, the
        record lacks ``fields`` (see :meth:`get`) or the tensors do not fit ``like`` (names, shapes,
        dtypes; with ``only`` no other names: see :func:`tensors_problem`), e.g. a model's ``state_dict()``."""
        record = self.get(key, settings, companions=(self.SUFFIX,), fields=fields)
        if record is None:
            return None
        path = self.tensors_path(key)
        try:
            meta, tensors = read_safetensors(path, self.run_format)
        except DAMAGE_ERRORS as exc:
            self._damaged(path, f"unreadable: {str(exc)[:200]}")
            return None
        if meta.get("settings") != json.dumps(settings, sort_keys=True):
            logger.info("%s was made with other settings; it will be recomputed", path.name)
            return None
        problem = tensors_problem(tensors, like, only) if like is not None else None
        if problem:
            self._damaged(path, problem)
            return None
        return record, tensors

    def get_tensors(self, key: Any, settings: Mapping[str, Any], *, like: Mapping[str, torch.Tensor] | None = None,
                    only: bool = False) -> dict[str, torch.Tensor] | None:
        """The tensors stored for ``key`` with ``settings`` (record and file both present, the tensors
        fitting ``like``: see :meth:`get_stored`), else None."""
        stored = self.get_stored(key, settings, like=like, only=only)
        return None if stored is None else stored[1]

    def load_state(self, key: Any, settings: Mapping[str, Any], module: torch.nn.Module, *,
                   fields: Mapping[str, FieldSpec] | None = None, extra: Mapping[str, torch.Tensor] | None = None
                   ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """Load the weights stored for ``key`` into ``module`` and return ``(record, tensors)``; None (and
        ``module`` untouched) when the run is missing or damaged, or its tensors are not exactly
        ``module``'s state (names, shapes, dtypes) plus ``extra`` (name -> tensor of its shape and dtype)."""
        state = module.state_dict()
        like = {**state, **(extra or {})}
        stored = self.get_stored(key, settings, fields=fields, like=like, only=True)
        if stored is None:
            return None
        try:
            module.load_state_dict({k: v for k, v in stored[1].items() if k in state})
        except DAMAGE_ERRORS as exc:
            self._damaged(self.tensors_path(key), f"does not load: {str(exc)[:200]}")
            return None
        return stored

    # -- the state of an unfinished run ---------------------------------------------------------
    PARTIAL = ".partial"

    def partial_name(self, key: Any) -> str:
        """The name under which the unfinished state of run ``key`` is kept (``<name>.partial``)."""
        return f"{_name(key)}{self.PARTIAL}"

    def put_partial(self, key: Any, settings: Mapping[str, Any], record: Mapping[str, Any],
                    tensors: Mapping[str, torch.Tensor]) -> Path:
        """Keep the state of run ``key`` part way through (``<name>.partial.json`` and ``.safetensors``,
        atomically), so that a killed run resumes from it (:meth:`get_partial`)."""
        return self.put_tensors(self.partial_name(key), settings, record, tensors)

    def get_partial(self, key: Any, settings: Mapping[str, Any], *, fields: Mapping[str, FieldSpec] | None = None,
                    like: Mapping[str, torch.Tensor] | None = None
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """The state kept by :meth:`put_partial` for ``key`` with ``settings`` (see :meth:`get_stored`;
        the tensors must be exactly ``like``'s names, shapes and dtypes), else None."""
        return self.get_stored(self.partial_name(key), settings, fields=fields, like=like, only=like is not None)

    def drop_partial(self, key: Any) -> None:
        """Remove the unfinished state of ``key`` (once its run is stored); nothing when there is none."""
        name = self.partial_name(key)
        for path in (self.path(name), self.tensors_path(name)):  # the record first: it vouches for the tensors
            path.unlink(missing_ok=True)

    def put_quantizer(self, key: Any, quantizer: Quantizer) -> Path:
        """Store a trained quantizer (atomically, :func:`vqcore.save`); write it before its record."""
        return save_quantizer(quantizer, self.tensors_path(key))

    def get_quantizer(self, key: Any, settings: Mapping[str, Any], device: torch.device | str = "cpu", *,
                      expect: Mapping[str, Any] | None = None) -> Quantizer | None:
        """The stored quantizer of ``key`` if its record matches ``settings`` and it has what ``expect``
        says (``"class"``: its class name, and entries of its ``config()``, e.g. ``{"dim": 64}``) and
        finite codebooks, else None (a file that does not load or fit is logged with its path)."""
        if self.get(key, settings, companions=(self.SUFFIX,)) is None:
            return None
        path = self.tensors_path(key)
        try:
            quantizer = load_quantizer(path, device=device)
            have = {"class": type(quantizer).__name__, **quantizer.config()}
            finite = bool(torch.isfinite(quantizer.codebooks).all())
        except DAMAGE_ERRORS as exc:
            self._damaged(path, f"model does not load: {type(exc).__name__}: {str(exc)[:200]}")
            return None
        wrong = {k: have.get(k) for k, v in (expect or {}).items() if have.get(k) != v}
        if wrong or not finite:
            self._damaged(path, f"model has {wrong}, expected {dict(expect or {})}" if wrong
                          else "model has NaN or inf codebooks")
            return None
        return quantizer
