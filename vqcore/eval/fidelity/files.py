"""Which files belong to a figure: ours by the ``"figure"`` their ``meta`` names, the paper's by name.

The figure registry lives above this layer (:mod:`vqcore.experiments.registry`), so the report
does not ask it: every result file of ours records in ``meta["figure"]`` the figure id that made
it, and the authors' file of a panel has the same path relative to its folder as ours (the
registry's names are the authors'). So no file name is written here.

The NSVQ paper's runners record the paper's own figure number (``"1"``, ``"3"``) with
``meta["paper"] = "nsvq2022"``; the registry's ids for them are prefixed (``"nsvq1"``), so
:data:`ID_PREFIX` maps such a paper to its prefix and keeps its files apart from the ICASSP
figures of the same number.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ...io import results
from ...io.results import ResultFile
from .model import Panel

__all__ = ["ID_PREFIX", "FigureData", "figure_data", "load_ours", "panel_of", "reference_file"]

#: context values that may name a panel: short words and numbers (not a sentence, a path or an item code)
_SHORT_CONTEXT = re.compile(r"^[\w .+-]{1,16}$")

#: ``meta["paper"]`` -> the prefix the registry's figure ids of that paper carry before ``meta["figure"]``
ID_PREFIX: Mapping[str, str] = {"nsvq2022": "nsvq"}


@dataclass(frozen=True)
class FigureData:
    """The panels of one figure: ours and, where published, the paper's (matched by file)."""

    figure: str
    ours: tuple[Panel, ...]
    paper: tuple[Panel, ...]

    def pairs(self) -> list[tuple[Panel, Panel]]:
        """``[(ours, paper)]`` for the panels both sides have."""
        by_rel = {p.rel: p for p in self.paper}
        return [(o, by_rel[o.rel]) for o in self.ours if o.rel in by_rel]


def panel_of(result: ResultFile, rel: str = "") -> Panel:
    """A :class:`~.model.Panel` of ``result``: label and tags from its metric and short context values."""
    short = {k: v for k, v in result.context.items()
             if isinstance(v, (str, int, float)) and not isinstance(v, bool) and _SHORT_CONTEXT.match(str(v))
             and "_" not in str(v)}
    tags = frozenset({result.metric, *(f"{k}={v}" for k, v in short.items())})
    label = result.metric + (" (" + ", ".join(f"{k} {v}" for k, v in short.items()) + ")" if short else "")
    return Panel(label=label, result=result, tags=tags, rel=rel)


def _figure_id(meta: object, prefixes: Mapping[str, str]) -> str | None:
    """The registry's figure id a file's ``meta`` names (its paper's prefix, if any, before the figure)."""
    if not isinstance(meta, Mapping):
        return None
    fid = meta.get("figure")
    if not isinstance(fid, str) or not fid:
        return None
    paper = meta.get("paper")
    prefix = prefixes.get(paper, "") if isinstance(paper, str) else ""
    return fid if fid.startswith(prefix) else prefix + fid


def load_ours(results_dir: str | os.PathLike,
              prefixes: Mapping[str, str] = ID_PREFIX) -> dict[str, dict[str, ResultFile]]:
    """Every result file under ``results_dir``, grouped by the figure its ``meta`` names:
    ``{figure id: {relative path: ResultFile}}``, the id prefixed by ``prefixes[meta["paper"]]``
    where the paper has one (:data:`ID_PREFIX`). Files without ``meta["figure"]`` are left out."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ValueError(f"results_dir: {str(root)!r} is not a folder")
    out: dict[str, dict[str, ResultFile]] = {}
    for rel, result in results.load_dir(root).items():
        fid = _figure_id(result.meta, prefixes)
        if fid is not None:
            out.setdefault(fid, {})[rel] = result
    return out


def reference_file(reference_dir: str | os.PathLike | None, rel: str) -> ResultFile | None:
    """The paper's file at ``rel`` (``"icassp2023/Figure 2/x.json"``) under ``reference_dir``, which
    may be the whole reference folder or one paper's (``reference/icassp2023``); None if absent."""
    if reference_dir is None or str(reference_dir) == "":
        return None
    root = Path(reference_dir)
    parts = Path(rel).parts
    candidates = [root / rel]
    if len(parts) > 1 and root.name == parts[0]:
        candidates.append(root.joinpath(*parts[1:]))
    for path in candidates:
        if path.is_file():
            return results.load(path)
    return None


def _natural(text: str) -> list:
    """Sort key with numbers compared as numbers (``Data_Dimension_64`` before ``_128``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def figure_data(figure_id: str, ours: Mapping[str, Mapping[str, ResultFile]],
                reference_dir: str | os.PathLike | None, metrics: Sequence[str] | None = None) -> FigureData:
    """The :class:`FigureData` of ``figure_id`` from :func:`load_ours`'s grouping and the reference
    folder; with ``metrics``, only our files of those metrics are its panels."""
    files = {rel: r for rel, r in ours.get(figure_id, {}).items() if metrics is None or r.metric in metrics}
    our_panels, paper_panels = [], []
    for rel in sorted(files, key=_natural):
        our_panels.append(panel_of(files[rel], rel))
        published = reference_file(reference_dir, rel)
        if published is not None:
            paper_panels.append(panel_of(published, rel))
    return FigureData(figure_id, tuple(our_panels), tuple(paper_panels))
