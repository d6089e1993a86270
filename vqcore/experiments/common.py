"""What every experiment runner shares: the device, figure names, presets, seeds and the runner
signature (the run cache is :mod:`vqcore.experiments.run_cache`).

A runner is ``run(figures, preset, results_dir, device, *, progress=True) -> list[Path]``: it
computes (or resumes) the runs that ``figures`` need at ``preset``, writes their result files
under ``results_dir`` and returns the paths written. :mod:`vqcore.experiments.registry` names the
runner of every figure.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch

__all__ = ["PRESET_NAMES", "Preset", "Runner", "device_problem", "get_preset", "parse_figures", "resolve_device",
           "run_seeds", "stable_seed"]

#: the scales every experiment has
PRESET_NAMES: tuple[str, ...] = ("smoke", "quick", "paper")


def device_problem(device: str | torch.device | None) -> str | None:
    """Why ``device`` cannot run the experiments here (a sentence naming ``device``), or None:
    ``"auto"`` (or None), ``cpu``, an available ``cuda[:N]`` or an available ``mps``."""
    if device is None or str(device) == "auto":
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as err:
        return f"device {str(device)!r} is not a device ({err}); use auto, cpu, cuda or cuda:N"
    if dev.type == "cpu":
        return None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"device {str(device)!r}: CUDA is not available on this machine; use auto or cpu"
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            return f"device {str(device)!r}: no CUDA device {dev.index} (this machine has {count})"
        return None
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return None if mps is not None and mps.is_available() else f"device {str(device)!r}: MPS is not available"
    return f"device {str(device)!r}: device type {dev.type!r} cannot run the experiments; use auto, cpu or cuda[:N]"


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None): ``cuda`` when available, else ``cpu``; anything else as given, checked
    (:func:`device_problem`: a ``ValueError`` naming ``device`` when it cannot run here)."""
    problem = device_problem(device)
    if problem is not None:
        raise ValueError(problem)
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
