"""The preset fields of the papers' training recipe, for experiments that train AVQ, RVQ and PVQ
with :func:`vqcore.training.fit_quantizer`.

:class:`FitPreset` holds the two-phase budget (``steps`` Adam steps of ``batch_size`` vectors at
``lr``, codebook replacement every ``replace_every`` steps until ``replace_until`` of the first
phase, the last ``finetune_fraction`` at ``lr * finetune_lr_factor`` without replacement) and
AVQ's own: ``avq_init`` ``"rvq"`` (start from the RVQ trained on the same data and seed) or
``"scratch"``, with ``avq_steps``, ``avq_batch_size`` and ``avq_lr`` (default: the others')
for its beam-search training at beam width ``beam_width``. An experiment's preset subclasses it
and adds what else determines its runs in :meth:`FitPreset.own_settings`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .common import Preset

__all__ = ["AVQ_INITS", "FitPreset"]

#: how AVQ starts: from the trained RVQ codebooks, or like the other methods
AVQ_INITS: tuple[str, ...] = ("scratch", "rvq")


@dataclass(frozen=True, kw_only=True)
class FitPreset(Preset):
    """A :class:`~vqcore.experiments.common.Preset` with the training budget of the papers' recipe."""

    steps: int
    batch_size: int
    lr: float
    replace_every: int
    replace_until: float
    finetune_fraction: float
    finetune_lr_factor: float
    beam_width: int
    avq_init: str = "rvq"
    avq_steps: int | None = None
    avq_batch_size: int | None = None
    avq_lr: float | None = None

    def __post_init__(self) -> None:
        if self.avq_init not in AVQ_INITS:
            raise ValueError(f"avq_init must be 'scratch' or 'rvq', got {self.avq_init!r}")

    def budget(self, method: str) -> tuple[int, int, float]:
        """``(steps, batch_size, lr)`` of ``method`` (``"AVQ"``, ``"RVQ"`` or ``"PVQ"``)."""
        if method.upper() == "AVQ":
            return (self.steps if self.avq_steps is None else self.avq_steps,
                    self.batch_size if self.avq_batch_size is None else self.avq_batch_size,
                    self.lr if self.avq_lr is None else self.avq_lr)
        return self.steps, self.batch_size, self.lr

    def own_settings(self) -> dict[str, Any]:
        """What else determines every run of the experiment (data, model); JSON-ready. None here."""
        return {}

    def training_settings(self, method: str) -> dict[str, Any]:
        """What determines one run of ``method`` besides its key: :meth:`own_settings`, the budget and,
        for AVQ, its beam width and start (with the settings of the RVQ it starts from). JSON-ready;
        a run cache compares it to decide whether a stored run still holds."""
        steps, batch_size, lr = self.budget(method)
        out: dict[str, Any] = {
            **self.own_settings(), "steps": steps, "batch_size": batch_size, "lr": lr,
            "replace_every": self.replace_every, "replace_until": self.replace_until,
            "finetune_fraction": self.finetune_fraction, "finetune_lr_factor": self.finetune_lr_factor,
        }
        if method.upper() == "AVQ":
            out["beam_width"] = self.beam_width
            out["avq_init"] = self.avq_init
            if self.avq_init == "rvq":
                out["warm_start"] = self.training_settings("RVQ")
        return out
