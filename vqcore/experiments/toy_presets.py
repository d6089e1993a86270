"""The scales of the Gaussian toy experiment (:mod:`vqcore.experiments.toy`): ``smoke`` (seconds,
what the tests run), ``quick`` (minutes on a 2-core CPU; the default and the results of record) and
``paper`` (the paper's scale; a GPU is recommended).

A preset fixes everything that determines a result except the run's own key (data kind,
dimension, method, bitrate, seed), so a cached run is reused only when its settings match. Look
one up with ``vqcore.experiments.common.get_preset(TOY_PRESETS, name)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fit_presets import FitPreset

__all__ = ["TOY_PRESETS", "ToyPreset"]


@dataclass(frozen=True, kw_only=True)
class ToyPreset(FitPreset):
    """Settings of the Gaussian toy experiment (ICASSP 2023 Figures 2 and 3).

    Training (the fields of :class:`~vqcore.experiments.fit_presets.FitPreset`): Adam on NSVQ's
    output error (:func:`vqcore.training.fit_quantizer`), codebook replacement every
    ``replace_every`` steps until ``replace_until`` of the first phase. The last
    ``finetune_fraction`` of the steps form a second phase at ``lr * finetune_lr_factor`` without
    replacement (a step learning-rate decay; ``finetune_fraction = 0`` disables it). ``stages``
    codebooks share the bits; ``num_train`` and ``num_test`` vectors per seed; ``bitrates`` in bits
    per vector; ``fig3_dims`` the dimensions of Figure 3.

    Initialisation (``init``): ``"uniform"`` draws every codebook entry from ``U(-1/K, 1/K)``, as
    the authors' published code does; ``"data"`` uses the quantizer's ``init_from_data`` (random
    training vectors, or residuals of a greedy pass, as codewords). On high-dimensional
    uncorrelated data, codewords drawn from the data start far from the optimum (their norm is
    about ``sqrt(D)``, the optimal codewords' far smaller), and at CPU budgets NSVQ does not
    recover: RVQ and AVQ stay well above PVQ. Hence ``"uniform"`` in all presets.

    AVQ: ``avq_init = "scratch"`` (the default here) starts like the others and trains with the
    same budget; ``avq_init = "rvq"`` starts from the codebooks of the RVQ trained on the same data
    with the same seed (a greedy RVQ solution is a valid set of AVQ codebooks) and then trains them
    with beam-search encoding. ``avq_steps``, ``avq_batch_size`` and ``avq_lr`` (default: ``steps``,
    ``batch_size``, ``lr``) set its budget: the beam search makes each AVQ step far dearer than an
    RVQ or PVQ step on a CPU.
    """

    bitrates: tuple[int, ...]
    fig3_dims: tuple[int, ...]
    stages: int
    num_train: int
    num_test: int
    init: str = "uniform"
    avq_init: str = "scratch"
    eval_batch_size: int = 4096
    quantiles: tuple[float, float] = (0.05, 0.95)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init not in ("uniform", "data"):
            raise ValueError(f"init must be 'uniform' or 'data', got {self.init!r}")

    def own_settings(self) -> dict[str, Any]:
        """The codebooks, the data sizes and the initialisation: shared by every run."""
        return {"stages": self.stages, "num_train": self.num_train, "num_test": self.num_test, "init": self.init}

    def as_dict(self) -> dict[str, Any]:
        """All settings, JSON-ready (for result metadata); the keys of ``extra`` at the top level."""
        out = super().as_dict()
        out.update(out.pop("extra"))
        return out


_BITRATES = (12, 16, 20, 24, 28, 32, 36, 40)

TOY_PRESETS: dict[str, ToyPreset] = {
    "smoke": ToyPreset(
        name="smoke", bitrates=(12, 16), seeds=(0,), fig3_dims=(64, 128, 256), stages=4,
        num_train=1024, num_test=256, steps=16, batch_size=64, lr=1e-2, replace_every=5,
        replace_until=0.9, finetune_fraction=0.25, finetune_lr_factor=0.1, beam_width=4,
        avq_init="rvq", avq_steps=8, avq_batch_size=128,
        notes="pipeline check only: two bitrates, one seed, a few steps; the numbers mean nothing",
    ),
    "quick": ToyPreset(
        name="quick", bitrates=_BITRATES, seeds=(0, 1, 2), fig3_dims=(64, 128, 256), stages=4,
        num_train=32768, num_test=4096, steps=500, batch_size=256, lr=1e-2, replace_every=50,
        replace_until=0.9, finetune_fraction=0.2, finetune_lr_factor=0.1, beam_width=16,
        avq_init="rvq", avq_steps=80, avq_batch_size=1024,
        notes="minutes on a 2-core CPU: far fewer training steps and less data than the paper; "
              "AVQ starts from the trained RVQ codebooks and trains 80 beam-search steps of 1024 vectors",
    ),
    "paper": ToyPreset(
        name="paper", bitrates=_BITRATES, seeds=(0, 1, 2, 3, 4), fig3_dims=(64, 128, 256), stages=4,
        num_train=2 ** 18, num_test=2 ** 16, steps=20000, batch_size=256, lr=1e-3, replace_every=1000,
        replace_until=0.9, finetune_fraction=0.1, finetune_lr_factor=0.1, beam_width=16,
        avq_init="scratch",
        notes="the paper's scale (tens of thousands of Adam steps, every method from scratch); a GPU is recommended",
    ),
}
