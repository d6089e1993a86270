"""Codebook usage over training, and the files both NSVQ-paper figures share.

:class:`UsageMonitor` is the ``monitor`` of :func:`vqcore.training.fit_quantizer` and
:func:`~vqcore.experiments.autoencoder_training.train_model`: it sees the codes of every training step
and, every ``every`` steps, logs per codebook the perplexity of the codes chosen in those steps
and the dead entries, those not chosen in any of the last ``window`` steps (none before step
``window``). :func:`usage_result` makes the companion file of a figure (``usage.json``, beside its
result files, itself a result file: the dead fraction at the end of training, the logs under
``"Usage"``) and :func:`read_usage` reads the logs back.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..io import results
from ..quantizers.base import QuantizerOutput

__all__ = ["USAGE_DEFINITION", "USAGE_FILE", "UsageMonitor", "read_usage", "usage_result", "usage_summary"]

#: the companion file of a figure, in its result folder
USAGE_FILE = "usage.json"


class UsageMonitor:
    """Codebook usage of one quantizer of ``num_stages`` codebooks of ``codebook_size`` entries.

    Call it with the quantizer's :class:`~vqcore.quantizers.base.QuantizerOutput` after every
    training step; :meth:`as_dict` gives the log.
    """

    def __init__(self, num_stages: int, codebook_size: int, every: int, window: int) -> None:
        if every < 1 or window < 1:
            raise ValueError(f"every and window must be positive, got {every} and {window}")
        self.num_stages, self.codebook_size, self.every, self.window = num_stages, codebook_size, every, window
        self.step = 0
        self._last_used = torch.zeros(num_stages, codebook_size)  # step of the last choice; 0: never
        self._counts = torch.zeros(num_stages, codebook_size)
        self.steps: list[int] = []
        self.perplexity: list[list[float]] = []
        self.dead: list[list[int]] = []

    def __call__(self, out: QuantizerOutput) -> None:
        codes = out.codes.detach().reshape(-1, self.num_stages).cpu().T  # (M, N)
        self.step += 1
        self._last_used.scatter_(1, codes, float(self.step))
        self._counts.scatter_add_(1, codes, torch.ones(codes.shape))
        if self.step % self.every == 0:
            p = self._counts / self._counts.sum(1, keepdim=True)
            entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(1)
            self.steps.append(self.step)
            self.perplexity.append([round(v, 3) for v in torch.exp(entropy).tolist()])
            dead = (self.step - self._last_used >= self.window).sum(1) if self.step >= self.window \
                else torch.zeros(self.num_stages, dtype=torch.long)
            self.dead.append([int(v) for v in dead.tolist()])
            self._counts.zero_()

    def as_dict(self) -> dict[str, Any]:
        """``{"codebook_size", "stages", "every", "window", "step": [S], "perplexity": [S][M], "dead": [S][M]}``."""
        return {"codebook_size": self.codebook_size, "stages": self.num_stages, "every": self.every,
                "window": self.window, "step": list(self.steps), "perplexity": self.perplexity, "dead": self.dead}


def usage_summary(log: Mapping[str, Any]) -> tuple[list[int], list[float], list[float]]:
    """``(steps, perplexity / K, dead fraction)`` of one monitor's log, averaged over its codebooks."""
    k = log["codebook_size"]
    perp = [sum(row) / len(row) / k for row in log["perplexity"]]
    dead = [sum(row) / len(row) / k for row in log["dead"]]
    return list(log["step"]), perp, dead


USAGE_DEFINITION = ("every `every` training steps, per codebook: `perplexity`, exp of the entropy of the codes "
                    "chosen in those steps (the codebook size K when all entries are used evenly), and `dead`, the "
                    "entries chosen in none of the last `window` steps (0 before step `window`)")


def _final_dead(runs: Mapping[str, Any], method: str, label: str) -> float | None:
    """The dead fraction at the end of training of ``method`` at ``label``: mean over seeds and quantizers."""
    values = [usage_summary(q)[2][-1] for r in runs.values() if r["method"] == method and r["x"] == label
              for q in r["quantizers"].values() if q["step"]]
    return float(sum(values) / len(values)) if values else None


def usage_result(x_key: str, x: Sequence[str], methods: Sequence[str], runs: Mapping[str, Any],
                 meta: Mapping[str, Any]) -> results.ResultFile:
    """A figure's codebook-usage file as a result file: per method, the fraction of dead entries at
    the end of training at every x label (plain values, mean over seeds and quantizers), and the
    whole logs under the extra key ``"Usage"``: ``{"definition", "runs"}``, ``runs`` mapping
    ``"<method>|<x label>|s<seed>"`` to ``{"method", "x", "seed", "quantizers": {name: UsageMonitor.as_dict()}}``."""
    for name, run in runs.items():
        for q in run["quantizers"].values():
            if not all(math.isfinite(v) for row in q["perplexity"] for v in row):
                raise ValueError(f"runs: {name} has a non-finite perplexity")
    series = {m: results.Series(values=[_final_dead(runs, m, label) for label in x]) for m in methods}
    return results.ResultFile(metric="Dead codes", x_key=x_key, x=list(x), series=series,
                              meta={**meta, "metric_definition": "fraction of the codebook entries chosen in none of "
                                    "the last `window` training steps, at the end of training (mean over seeds and "
                                    "the run's quantizers and stages); the logs over training are under `Usage`"},
                              extra={"Usage": {"definition": USAGE_DEFINITION, "runs": dict(runs)}})


def read_usage(path: str | Path) -> dict[str, Any]:
    """The ``"Usage"`` object of a usage file (:func:`usage_result`): ``{"definition", "runs"}``;
    ``ValueError`` naming ``path`` when the file has none."""
    usage = results.load(path).extra.get("Usage")
    if not isinstance(usage, dict) or not isinstance(usage.get("runs"), dict):
        raise ValueError(f"{path}: not a codebook-usage file (no 'Usage' object with 'runs')")
    return usage
