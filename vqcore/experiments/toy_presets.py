"""The scales of the Gaussian toy experiment (:mod:`vqcore.experiments.toy`): ``smoke`` (seconds,
what the tests run), ``quick`` (minutes on a 2-core CPU; the default and the results of record) and
``paper`` (the paper's scale; a GPU is recommended). :data:`AUTHORS_PRESET` (``"authors"``, not in
:data:`TOY_PRESETS`, whose names are the command line's ``--preset`` choices) follows the recipe of
the authors' published example scripts: fresh samples every batch, 20,000 batches of 64, Adam at
1e-3, replacement every 1,000 batches until 2,000 before the end, no second phase, 2^18 test vectors.

A preset fixes everything that determines a result except the run's own key (data kind,
dimension, method, bitrate, seed), so a cached run is reused only when its settings match. Look
one up with ``vqcore.experiments.common.get_preset(TOY_PRESETS, name)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.toy_sources import TOY_SOURCES, parse_source
from .fit_presets import FitPreset

__all__ = ["AUTHORS_PRESET", "FIG2A_SOURCE", "TOY_PRESETS", "ToyPreset"]


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

    Data: ``uncorrelated_source`` and ``correlated_source`` name the
    :data:`vqcore.data.toy_sources.TOY_SOURCES` entries (with their default parameters) of the
    figures' two data kinds; the defaults, ``"gaussian"`` and ``"factor"``, are the sources of
    :mod:`vqcore.data.gaussian` (the same numbers). With ``fresh_data`` every training batch is a
    fresh draw from the source (:class:`vqcore.data.toy_sources.SourceSampler`) and ``num_train``
    is unused; the test set is always a fixed seeded draw of ``num_test`` vectors. These three
    fields appear in :meth:`own_settings` and :meth:`as_dict` only when they differ from their
    defaults, so the runs and files of the presets that keep them are unchanged.
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
    uncorrelated_source: str = "gaussian"
    correlated_source: str = "factor"
    fresh_data: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init not in ("uniform", "data"):
            raise ValueError(f"init must be 'uniform' or 'data', got {self.init!r}")
        for label, name, kind in (("uncorrelated_source", self.uncorrelated_source, "uncorrelated"),
                                  ("correlated_source", self.correlated_source, "correlated")):
            base = name.partition("@")[0] if isinstance(name, str) else name
            if base not in TOY_SOURCES or TOY_SOURCES[base].kind != kind:
                known = tuple(n for n, s in TOY_SOURCES.items() if s.kind == kind)
                raise ValueError(f"{label} must be one of {known} (or a parse_source spec), got {name!r}")
            parse_source(name)
        if not isinstance(self.fresh_data, bool):
            raise ValueError(f"fresh_data must be True or False, got {self.fresh_data!r}")

    def data_settings(self) -> dict[str, Any]:
        """The data fields that differ from their defaults (empty for today's sources on fixed sets)."""
        defaults = {"uncorrelated_source": "gaussian", "correlated_source": "factor", "fresh_data": False}
        return {k: getattr(self, k) for k, v in defaults.items() if getattr(self, k) != v}

    def source_of(self, kind: str) -> str:
        """The source of a figure's data ``kind`` (``"correlated"`` or ``"uncorrelated"``)."""
        if kind == "correlated":
            return self.correlated_source
        if kind == "uncorrelated":
            return self.uncorrelated_source
        raise ValueError(f"kind must be 'correlated' or 'uncorrelated', got {kind!r}")

    def own_settings(self) -> dict[str, Any]:
        """The codebooks, the data sizes and the initialisation (and ``fresh_data`` when set): shared
        by every run. The source is a run's own (:func:`vqcore.experiments.toy.run_settings`), so a
        change of one figure's source leaves the other figures' runs valid."""
        out: dict[str, Any] = {"stages": self.stages, "num_train": self.num_train, "num_test": self.num_test,
                               "init": self.init}
        if self.fresh_data:
            out["fresh_data"] = True
        return out

    def as_dict(self) -> dict[str, Any]:
        """All settings, JSON-ready (for result metadata); the keys of ``extra`` at the top level,
        the data fields only where they are not their defaults."""
        out = super().as_dict()
        for key in ("uncorrelated_source", "correlated_source", "fresh_data"):
            out.pop(key)
        out.update(self.data_settings())
        out.update(out.pop("extra"))
        return out


_BITRATES = (12, 16, 20, 24, 28, 32, 36, 40)

#: the correlated source of Figure 2a in every preset. The paper does not say how its correlated
#: data were made; of the constructions compared by :mod:`vqcore.experiments.toy_sources` (factor
#: models, AR(1), power-law spectra), this factor model (12 latent factors, little noise) has the
#: falls MSE(40)/MSE(12) nearest the published ones (the study's page shows every construction).
FIG2A_SOURCE = "factor@rank=12,noise_var=0.002"

TOY_PRESETS: dict[str, ToyPreset] = {
    "smoke": ToyPreset(
        name="smoke", correlated_source=FIG2A_SOURCE, bitrates=(12, 16), seeds=(0,), fig3_dims=(64, 128, 256), stages=4,
        num_train=1024, num_test=256, steps=16, batch_size=64, lr=1e-2, replace_every=5,
        replace_until=0.9, finetune_fraction=0.25, finetune_lr_factor=0.1, beam_width=4,
        avq_init="rvq", avq_steps=8, avq_batch_size=128,
        notes="pipeline check only: two bitrates, one seed, a few steps; the numbers mean nothing",
    ),
    "quick": ToyPreset(
        name="quick", correlated_source=FIG2A_SOURCE, bitrates=_BITRATES, seeds=(0, 1, 2), fig3_dims=(64, 128, 256), stages=4,
        num_train=32768, num_test=4096, steps=500, batch_size=256, lr=1e-2, replace_every=50,
        replace_until=0.9, finetune_fraction=0.2, finetune_lr_factor=0.1, beam_width=16,
        avq_init="rvq", avq_steps=80, avq_batch_size=1024,
        notes="minutes on a 2-core CPU: far fewer training steps and less data than the paper; "
              "AVQ starts from the trained RVQ codebooks and trains 80 beam-search steps of 1024 vectors",
    ),
    "paper": ToyPreset(
        name="paper", correlated_source=FIG2A_SOURCE, bitrates=_BITRATES, seeds=(0, 1, 2, 3, 4), fig3_dims=(64, 128, 256), stages=4,
        num_train=2 ** 18, num_test=2 ** 16, steps=20000, batch_size=256, lr=1e-3, replace_every=1000,
        replace_until=0.9, finetune_fraction=0.1, finetune_lr_factor=0.1, beam_width=16,
        avq_init="scratch",
        notes="the paper's scale (tens of thousands of Adam steps, every method from scratch); a GPU is recommended",
    ),
}

#: the authors' published example recipe (their ``train_*_vq.py``): every batch freshly drawn, no
#: second phase, every method from scratch, 2^18 test vectors; one seed (``num_train`` is unused)
AUTHORS_PRESET = ToyPreset(
    name="authors", bitrates=_BITRATES, seeds=(0,), fig3_dims=(64, 128, 256), stages=4,
    num_train=1, num_test=2 ** 18, steps=20000, batch_size=64, lr=1e-3, replace_every=1000,
    replace_until=0.9, finetune_fraction=0.0, finetune_lr_factor=1.0, beam_width=16,
    avq_init="scratch", fresh_data=True, correlated_source=FIG2A_SOURCE,
    notes="the authors' example scripts: 20,000 fresh batches of 64, Adam 1e-3, replacement every 1,000 "
          "batches until 2,000 before the end, no finetune phase, evaluation on 2^18 vectors",
)
