"""Finished runs of an experiment, kept on disk so that an interrupted experiment resumes."""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["RunRecords"]


def _name(key: Any) -> str:
    return key if isinstance(key, str) else key.name


class RunRecords:
    """One JSON record per finished run, ``<root>/<name>.json``, written atomically.

    A run is named by a string or by a key with a ``name`` (a dataclass key is also stored in the
    record). A record holds the cache's ``run_format``, the ``settings`` that made the run and what
    the run measured; :meth:`get` returns it only when both match and every companion file (a model
    written before the record, say) exists, so a run made with other settings is recomputed.
    """

    def __init__(self, root: str | Path, run_format: str) -> None:
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
