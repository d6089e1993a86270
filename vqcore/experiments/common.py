"""What every experiment runner shares: the device, figure names, presets, the run cache and the
runner signature.

A runner is ``run(figures, preset, results_dir, device, *, progress=True) -> list[Path]``: it
computes (or resumes) the runs that ``figures`` need at ``preset``, writes their result files
under ``results_dir`` and returns the paths written. :mod:`vqcore.experiments.registry` names the
runner of every figure.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

from ..io.atomic import atomic_write_text
from ..io.tensors import read_safetensors, write_safetensors
from ..quantizers.base import Quantizer
from ..quantizers.serialization import load as load_quantizer
from ..quantizers.serialization import save as save_quantizer

logger = logging.getLogger(__name__)

__all__ = ["PRESET_NAMES", "Preset", "RunCache", "RunRecords", "Runner", "get_preset", "parse_figures",
           "resolve_device", "run_seeds", "stable_seed"]

#: the scales every experiment has
PRESET_NAMES: tuple[str, ...] = ("smoke", "quick", "paper")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): ``cuda`` when available, else ``cpu``; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def normalise_figure(name: object) -> str:
    """``"Figure 2a"``, ``"fig-2a"``, ``" 2A "`` -> ``"2a"`` (not checked against any list)."""
    key = str(name).strip().lower()
    for prefix in ("figure", "fig"):
        key = key.removeprefix(prefix)
    return key.strip().replace("-", "").replace(" ", "")


def parse_figures(figures: str | Iterable[str] | None, allowed: Sequence[str]) -> list[str]:
    """The figures named by ``figures`` (``"2a,2b,3"``, ``["Figure 2a", "3"]``; None: all of
    ``allowed``), checked against ``allowed``, without duplicates, in the order of ``allowed``."""
    if figures is None:
        return list(allowed)
    items = figures.split(",") if isinstance(figures, str) else list(figures)
    wanted = []
    for item in items:
        key = normalise_figure(item)
        if not key:
            continue
        if key not in allowed:
            raise ValueError(f"figures: unknown figure {item!r}; choose from {', '.join(allowed)}")
        wanted.append(key)
    if not wanted:
        raise ValueError("figures: no figure given")
    return [f for f in allowed if f in wanted]


@dataclass(frozen=True, kw_only=True)
class Preset:
    """The settings of one experiment at one scale. Each experiment subclasses it (a frozen
    dataclass) with its own fields; ``name`` is ``smoke``, ``quick`` or ``paper``, ``seeds`` the
    seeds of its runs, ``notes`` what the scale is for. The fields here are keyword-only, so a
    subclass may add fields without defaults."""

    name: str
    seeds: tuple[int, ...]
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        """All settings, JSON-ready (tuples as lists), for result metadata and the run cache."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


P = TypeVar("P", bound=Preset)


def get_preset(presets: Mapping[str, P], preset: str | P, overrides: Mapping[str, Any] | None = None) -> P:
    """The preset named ``preset`` in ``presets`` (or ``preset`` itself when it is one), with the
    fields in ``overrides`` replaced; a ``ValueError`` naming ``preset`` or the unknown override."""
    if isinstance(preset, str):
        key = preset.strip().lower()
        if key not in presets:
            raise ValueError(f"preset must be one of {tuple(presets)}, got {preset!r}")
        chosen = presets[key]
    elif isinstance(preset, Preset):
        chosen = preset
    else:
        raise ValueError(f"preset must be a preset name or a Preset, got {type(preset).__name__}")
    if overrides:
        names = {f.name for f in dataclasses.fields(chosen)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"overrides: unknown settings {unknown}")
        chosen = dataclasses.replace(chosen, **overrides)
    return chosen


def run_seeds(preset: Preset, seeds: Iterable[int] | None = None) -> tuple[int, ...]:
    """The seeds a runner uses: ``seeds`` when given, else the preset's; a ``ValueError`` naming
    ``seeds`` when there are none."""
    chosen = tuple(int(s) for s in (preset.seeds if seeds is None else seeds))
    if not chosen:
        raise ValueError("seeds: need at least one seed")
    return chosen


def stable_seed(name: str) -> int:
    """The seed of the run called ``name``: CRC-32 of the name, 31 bits, the same on every machine."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


class Runner(Protocol):
    """The signature of every experiment runner."""

    def __call__(self, figures: Iterable[str], preset: Any, results_dir: str | os.PathLike,
                 device: str | torch.device | None, *, progress: bool = True) -> list[Path]: ...


def _name(key: Any) -> str:
    return key if isinstance(key, str) else key.name


class RunRecords:
    """One JSON record per finished run, ``<root>/<name>.json``, written atomically.

    A run is named by a string or by a key with a ``name`` (a dataclass key is also stored in the
    record). A record holds the cache's ``run_format``, the ``settings`` that made the run and what
    the run measured; :meth:`get` returns it only when both match and every companion file (a model
    written before the record, say) exists, so a run made with other settings is recomputed.
    """

    def __init__(self, root: str | os.PathLike, run_format: str) -> None:
        self.root = Path(root)
        self.run_format = run_format

    def path(self, key: Any, suffix: str = ".json") -> Path:
        """``<root>/<name><suffix>``: the record, or with another suffix a companion file of the run."""
        return self.root / f"{_name(key)}{suffix}"

    def get(self, key: Any, settings: Mapping[str, Any], companions: Sequence[str] = ()) -> dict[str, Any] | None:
        """The stored record of ``key`` if it was made with ``settings`` and its ``companions`` (suffixes)
        exist, else None."""
        path = self.path(key)
        if not path.is_file() or not all(self.path(key, suffix).is_file() for suffix in companions):
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable run record %s (%s)", path, exc)
            return None
        if record.get("format") != self.run_format or record.get("settings") != settings:
            logger.info("stored run %s was made with other settings; it will be recomputed", _name(key))
            return None
        return record

    def put(self, key: Any, settings: Mapping[str, Any], record: Mapping[str, Any]) -> Path:
        """Store ``record`` for ``key`` (atomically); write its companion files first."""
        head: dict[str, Any] = {"format": self.run_format}
        if dataclasses.is_dataclass(key):
            head["key"] = dataclasses.asdict(key)
        full = {**head, "settings": settings, **record}
        return atomic_write_text(self.path(key), json.dumps(full, indent=1, allow_nan=False) + "\n")


class RunCache(RunRecords):
    """:class:`RunRecords` whose runs may keep tensors: ``<name>.safetensors`` beside ``<name>.json``.

    The companion is written before its record, so a record always vouches for a complete file. It
    holds either a quantizer (:meth:`put_quantizer`, the :func:`vqcore.save` format) or named tensors
    (:meth:`put_tensors`: model weights, codebooks, ranks) tagged with this cache's format and the
    run's settings. Every stored model is safetensors; nothing is pickled.
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

    def get_tensors(self, key: Any, settings: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
        """The tensors stored for ``key`` with ``settings`` (record and file both present), else None."""
        if self.get(key, settings, companions=(self.SUFFIX,)) is None:
            return None
        path = self.tensors_path(key)
        try:
            meta, tensors = read_safetensors(path, self.run_format)
        except ValueError as exc:
            logger.warning("ignoring unreadable %s (%s)", path, exc)
            return None
        if meta.get("settings") != json.dumps(settings, sort_keys=True):
            logger.info("%s was made with other settings; it will be recomputed", path.name)
            return None
        return tensors

    def put_quantizer(self, key: Any, quantizer: Quantizer) -> Path:
        """Store a trained quantizer (atomically, :func:`vqcore.save`); write it before its record."""
        return save_quantizer(quantizer, self.tensors_path(key))

    def get_quantizer(self, key: Any, settings: Mapping[str, Any], device: torch.device | str = "cpu"
                      ) -> Quantizer | None:
        """The stored quantizer of ``key`` if its record matches ``settings``, else None."""
        if self.get(key, settings, companions=(self.SUFFIX,)) is None:
            return None
        path = self.tensors_path(key)
        try:
            return load_quantizer(path, device=device)
        except ValueError as exc:
            logger.warning("ignoring unreadable model %s (%s)", path, exc)
            return None
