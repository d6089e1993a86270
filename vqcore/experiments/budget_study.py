"""The budget study: does each gap to the papers close with compute?

Every experiment family (:data:`FAMILIES`: toy, images, speech, ann, interspeech, and the NSVQ
paper's image and speech figures, nsvq3 and nsvq1) is run with the
``quick`` preset's training budget multiplied by a factor (1/4, 1, 4, 16, ...) on a small subset of its
settings (a few rates, one seed), by its own registry runner, and each factor is compared with the
published files by the fidelity report (:func:`vqcore.eval.fidelity.figure_report`).

- :func:`scaled_preset`: the base preset with every budget field of the family times the factor
  (rounded to a whole number of steps, at least 1), the family's subset and seed 0, named
  ``<base>-x<factor>`` (``quick-x0.25``) so that no run cache mixes budgets. A factor below 1 asks
  the other question: how much of the quick preset's result its budget buys, and whether a smaller
  one would give the same.
- :func:`run_budget_study`: runs each (family, factor) into ``<results_dir>/.budget/<family>/x<factor>/``
  (the runner's own run cache under that folder makes a killed study resume where it stopped) and,
  after each, rewrites ``<results_dir>/.budget/<family>.json`` atomically
  (:func:`~vqcore.experiments.budget_summary.summarize`: everything but the seconds is recomputed
  from the files each time).

The folder is hidden (``.budget``) because every JSON file under ``Results/`` outside a hidden
folder is read as a result of record (:func:`vqcore.io.results.load_dir`), and the budget runs'
files name the same figures as the results of record: the figure pages would count them.

Only step counts scale. The schedules are fractions of the steps (codebook replacement until
``replace_until``, the last ``finetune_fraction`` at a lower rate), so they stretch with them;
the replacement interval, the batch sizes, the learning rates and the data stay the quick preset's.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch

from . import registry
from .common import Preset, get_preset

logger = logging.getLogger(__name__)

__all__ = ["BUDGET_FOLDER", "DEFAULT_FACTORS", "FAMILIES", "Family", "factor_dir", "factor_label", "factor_value",
           "family", "parse_factors",
           "parse_families", "run_budget_study", "scaled_preset", "summary_path"]

#: the study's folder under the results folder (hidden: see the module's docstring)
BUDGET_FOLDER = ".budget"
#: the factors of the quick budget the study runs by default
DEFAULT_FACTORS: tuple[int, ...] = (1, 4, 16)


@dataclass(frozen=True)
class Family:
    """One experiment family of the study.

    Attributes:
        name: ``"toy"``, ``"images"``, ...
        figures: the registry's figure ids it runs (one runner makes them all).
        presets: ``"module:NAME"`` of its presets mapping (``smoke``, ``quick``, ``paper``).
        budget: the preset fields that make up its training budget (each multiplied by the factor;
            a field that is None in the base preset stays None).
        subset: preset fields replaced for the study (fewer rates, one seed).
        compare: what the distance to the paper is computed on: ``"scale_free"`` (the curves divided
            by their value at the lowest rate: the data sets differ in scale), ``"ratio"`` (ours/paper
            at matched points) or None (no published files).
        runner_kwargs: keyword arguments of its runner besides the runner signature's.
    """

    name: str
    figures: tuple[str, ...]
    presets: str
    budget: tuple[str, ...]
    subset: Mapping[str, Any] = field(default_factory=dict)
    compare: str | None = "ratio"
    runner_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def preset_table(self) -> Mapping[str, Preset]:
        """The family's presets mapping (imported now)."""
        module, _, name = self.presets.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def runner(self) -> str:
        """``"module:function"`` of the runner of its figures (the registry's)."""
        runners = {registry.figure(f).runner for f in self.figures}
        if len(runners) != 1:
            raise ValueError(f"family {self.name!r}: its figures have several runners {sorted(runners)}")
        return runners.pop()


#: every family, with the subset it runs at (one seed; the rates where the gaps to the papers are)
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("toy", ("2a", "3"), "vqcore.experiments.toy_presets:TOY_PRESETS", ("steps", "avq_steps"),
           {"bitrates": (12, 40), "fig3_dims": (64, 256)}, compare="scale_free"),
    Family("images", ("4a", "4b"), "vqcore.experiments.image_presets:IMAGE_PRESETS",
           ("pretrain_steps", "steps", "avq_steps"), {"bitrates": (12, 28, 40)}),
    Family("speech", ("1",), "vqcore.experiments.speech_presets:PRESETS", ("steps", "avq_steps"),
           {"bitrates": (8.0, 24.4)}, runner_kwargs={"audio": False}),
    Family("ann", ("5", "6a"), "vqcore.experiments.ann_presets:PRESETS", ("steps", "avq_steps")),
    Family("interspeech", registry.figure_ids("vqcore.experiments.interspeech:run_interspeech"),
           "vqcore.experiments.interspeech_presets:PRESETS", ("steps", "steps_2d"), compare=None),
    Family("nsvq3", ("nsvq3",), "vqcore.experiments.nsvq2022_presets:IMAGE_PRESETS", ("pretrain_steps", "steps"),
           {"bitrates": (6, 11)}),
    Family("nsvq1", ("nsvq1",), "vqcore.experiments.nsvq2022_presets:SPEECH_PRESETS", ("steps",),
           {"bitrates": (8.0, 32.0)}),
)}


def family(name: str) -> Family:
    """The :class:`Family` called ``name``; a ValueError naming it and the families otherwise."""
    key = str(name).strip().lower()
    if key not in FAMILIES:
        raise ValueError(f"family: unknown family {name!r}; choose from {', '.join(FAMILIES)}")
    return FAMILIES[key]


def parse_families(families: str | Iterable[str] | None) -> list[str]:
    """``"toy,images"`` or ``["toy"]`` -> checked names in :data:`FAMILIES`' order; None -> all."""
    if families is None:
        return list(FAMILIES)
    items = families.split(",") if isinstance(families, str) else list(families)
    wanted = {family(item).name for item in items if str(item).strip()}
    if not wanted:
        raise ValueError("families: no family given")
    return [name for name in FAMILIES if name in wanted]


def _check_factor(factor: object) -> Fraction:
    """``factor`` as a Fraction: an int >= 1, or a positive Fraction with an exact decimal form (1/4, 1/2,
    5/2; not 1/3, whose folder name would not read back); a ValueError naming the factor otherwise."""
    if isinstance(factor, bool) or not isinstance(factor, (int, Fraction)) or factor <= 0:
        shown = str(factor) if isinstance(factor, Fraction) else repr(factor)
        raise ValueError(f"factor must be a positive number (an int, or a Fraction such as 1/4), got {shown}")
    value = Fraction(factor)
    if Fraction(format(float(value), "g")) != value:
        raise ValueError(f"factor {factor} has no exact decimal form (use 1/4, 1/2, 2, 4, ...)")
    return value


def factor_label(factor: int | Fraction) -> str:
    """The factor as written in folder names, summary keys and preset names: ``"4"``, ``"0.25"``."""
    value = _check_factor(factor)
    return str(value.numerator) if value.denominator == 1 else format(float(value), "g")


def factor_value(factor: int | Fraction) -> int | float:
    """The factor as stored in JSON: an int when it is whole, else its (exact) decimal float."""
    value = _check_factor(factor)
    return value.numerator if value.denominator == 1 else float(value)


def parse_factors(factors: str | Iterable[int | Fraction]) -> list[Fraction]:
    """``"1/4,1,4,16"`` (or ``"0.25"``), or ``(1, 4)`` -> sorted distinct factors (:func:`_check_factor`);
    a ValueError naming ``factors``."""
    items = factors.split(",") if isinstance(factors, str) else list(factors)
    out = set()
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                continue
            try:
                item = Fraction(item.strip())
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"factors: {item.strip()!r} is not a number (1, 4, 1/4, 0.25)") from None
        try:
            out.add(_check_factor(item))
        except ValueError as err:
            raise ValueError(f"factors: {err}") from None
    if not out:
        raise ValueError("factors: no factor given")
    return sorted(out)


def scaled_preset(family_name: str, factor: int | Fraction, base: str = "quick") -> Preset:
    """The ``base`` preset of ``family_name`` with every budget field times ``factor`` (rounded, at least
    1), the family's subset and seed 0, named ``<base>-x<factor>`` (so the run caches of two budgets
    never mix).

    A ValueError names the family, the factor or the base when one is wrong."""
    fam = family(family_name)
    factor = _check_factor(factor)
    table = fam.preset_table()
    if not isinstance(base, str) or base.strip().lower() not in table:
        raise ValueError(f"base must be one of {tuple(table)} for family {fam.name!r}, got {base!r}")
    chosen = get_preset(table, base)
    scaled = {k: None if getattr(chosen, k) is None else max(1, round(int(getattr(chosen, k)) * factor))
              for k in fam.budget}
    names = {f.name for f in dataclasses.fields(chosen)}
    subset = {k: v for k, v in fam.subset.items() if k in names}
    notes = (f"budget study: the {chosen.name} preset with {', '.join(fam.budget)} times {factor_label(factor)}; "
             f"{', '.join(f'{k}={v}' for k, v in subset.items()) or 'its own settings'}, seed 0")
    return dataclasses.replace(chosen, name=f"{chosen.name}-x{factor_label(factor)}", seeds=(0,), notes=notes,
                               **scaled, **subset)


def budget_root(results_dir: str | os.PathLike) -> Path:
    """``<results_dir>/.budget``: the study's folder."""
    return Path(results_dir) / BUDGET_FOLDER


def factor_dir(results_dir: str | os.PathLike, family_name: str, factor: int | Fraction) -> Path:
    """``<results_dir>/.budget/<family>/x<factor>`` (``x0.25``): the results folder of one (family, factor) run."""
    return budget_root(results_dir) / family(family_name).name / f"x{factor_label(factor)}"


def summary_path(results_dir: str | os.PathLike, family_name: str) -> Path:
    """``<results_dir>/.budget/<family>.json``: the family's summary."""
    return budget_root(results_dir) / f"{family(family_name).name}.json"


def _run_factor(fam: Family, factor: Fraction, base: str, results_dir: str | os.PathLike,
                device: str | torch.device | None, progress: bool) -> dict[str, float]:
    """Run (or resume) one (family, factor); returns its measured wall and CPU seconds."""
    preset = scaled_preset(fam.name, factor, base)
    runner = registry.load_runner(fam.runner)
    out = factor_dir(results_dir, fam.name, factor)
    logger.info("budget study: %s at x%s (%s) into %s", fam.name, factor_label(factor), preset.name, out)
    wall, cpu = time.perf_counter(), time.process_time()
    runner(list(fam.figures), preset, out, device, progress=progress, **fam.runner_kwargs)
    return {"wall_seconds": round(time.perf_counter() - wall, 3), "cpu_seconds": round(time.process_time() - cpu, 3)}


def run_budget_study(families: str | Iterable[str] | None = None,
                     factors: str | Sequence[int | Fraction] = DEFAULT_FACTORS,
                     results_dir: str | os.PathLike = "Results", device: str | torch.device | None = "auto",
                     progress: bool = True, *, base: str = "quick",
                     reference_dir: str | os.PathLike | None = "reference") -> list[Path]:
    """Run the study for ``families`` (None: all) at ``factors`` of the ``base`` budget.

    Each (family, factor) is run by the family's registry runner into :func:`factor_dir`; a factor
    whose files were made with the same settings (and whose summary records its seconds) is not run again. After each, the family's
    summary (:func:`summary_path`) is rewritten atomically from the files
    (:func:`~vqcore.experiments.budget_summary.summarize`). Returns the summaries written.
    """
    from .budget_summary import factor_files, made_by, read_summary, write_summary

    names = parse_families(families)
    chosen = parse_factors(factors)
    for name in names:
        for factor in chosen:  # every argument checked before any work starts
            scaled_preset(name, factor, base)
    written = []
    for name in names:
        fam = FAMILIES[name]
        stored = read_summary(summary_path(results_dir, name))
        for factor in chosen:
            entry = stored.get("factors", {}).get(f"x{factor_label(factor)}")
            preset = scaled_preset(name, factor, base)
            first = factor_dir(results_dir, name, factor) / registry.figure(fam.figures[0]).files[0]
            done = made_by(factor_files(factor_dir(results_dir, name, factor), fam.figures), preset)
            if entry is not None and entry.get("seconds") and first.is_file() and done:
                logger.info("budget study: %s at x%s is done (%s); not run again", name, factor_label(factor),
                            preset.name)
                continue
            seconds = _run_factor(fam, factor, base, results_dir, device, progress)
            stored = write_summary(results_dir, name, reference_dir, {factor: seconds}, base=base)
        written.append(summary_path(results_dir, name))
        if not summary_path(results_dir, name).is_file():
            write_summary(results_dir, name, reference_dir, {}, base=base)
    return written
