"""The presets of ICASSP 2023 Figures 5 and 6a (nearest-neighbour search on SIFT): :class:`AnnPreset`."""
from __future__ import annotations

from dataclasses import dataclass

from ..data.sift import DEFAULT_C_DOG
from .fit_presets import FitPreset

__all__ = ["PRESETS", "AnnPreset"]

_SMOKE_IMAGES = ("brick", "camera", "chelsea", "coffee", "coins", "moon", "page", "text")


@dataclass(frozen=True, kw_only=True)
class AnnPreset(FitPreset):
    """The settings of the nearest-neighbour runs at one scale.

    Attributes:
        images: the photographs (None: all of :func:`vqcore.data.images.list_images`).
        scales, c_dog, query_fraction: SIFT extraction and the image split
            (:func:`vqcore.data.sift.build_sift_sets`).
        n_base, n_query, n_learn: set sizes (``n_base=None``: every descriptor the base images give).
        stages, bits_per_stage: ``stages`` codebooks of ``2 ** bits_per_stage`` entries.
        beam_width: AVQ's beam-search width.
        steps, batch_size, lr, finetune_fraction, finetune_lr_factor, replace_every, replace_until:
            NSVQ training of RVQ and PVQ (and of AVQ from data) with
            :func:`vqcore.training.fit_quantizer`.
        avq_init: ``"rvq"`` (AVQ starts from the RVQ codebooks of its seed) or ``"scratch"``.
        avq_steps, avq_batch_size, avq_lr: AVQ's training.
        faiss_beam, rq_niter: faiss ``ResidualQuantizer`` beam and k-means iterations.
        lsq_train_iters, lsq_encode_ils_iters: faiss ``LocalSearchQuantizer`` iterations.
        pq_niter: faiss ``ProductQuantizer`` k-means iterations.
    """

    images: tuple[str, ...] | None
    scales: tuple[float, ...]
    c_dog: float
    query_fraction: float
    n_base: int | None
    n_query: int
    n_learn: int
    stages: int
    bits_per_stage: int
    faiss_beam: int
    rq_niter: int
    lsq_train_iters: int
    lsq_encode_ils_iters: int
    pq_niter: int

    @property
    def code_bits(self) -> int:
        """Bits per code: ``stages * bits_per_stage``."""
        return self.stages * self.bits_per_stage


#: preset name -> settings
PRESETS: dict[str, AnnPreset] = {
    "smoke": AnnPreset(
        name="smoke", seeds=(0,),
        notes="pipeline check only: few images, 4-bit codebooks, a few steps; the numbers mean nothing",
        images=_SMOKE_IMAGES, scales=(0.5,), c_dog=DEFAULT_C_DOG, query_fraction=0.25,
        n_base=None, n_query=200, n_learn=700, stages=8, bits_per_stage=4, beam_width=4,
        steps=30, batch_size=128, lr=1e-2, finetune_fraction=0.2, finetune_lr_factor=0.1,
        replace_every=10, replace_until=0.9, avq_init="rvq", avq_steps=6, avq_batch_size=128, avq_lr=3e-3,
        faiss_beam=2, rq_niter=5, lsq_train_iters=2, lsq_encode_ils_iters=2, pq_niter=10),
    "quick": AnnPreset(
        name="quick", seeds=(0, 1),
        notes="minutes on a 2-core CPU: a base of 50 000 of the ~107 000 descriptors the base images give "
              "(the paper preset takes them all), two training seeds, far fewer training steps than the paper, "
              "fewer LocalSearchQuantizer training iterations (12) than faiss's default (25)",
        images=None, scales=(0.5, 1.0, 1.5), c_dog=0.005, query_fraction=0.2,
        n_base=50000, n_query=5000, n_learn=30000, stages=8, bits_per_stage=8, beam_width=8,
        steps=6000, batch_size=256, lr=1e-2, finetune_fraction=0.2, finetune_lr_factor=0.1,
        replace_every=50, replace_until=0.9, avq_init="rvq", avq_steps=200, avq_batch_size=512, avq_lr=3e-3,
        faiss_beam=5, rq_niter=10, lsq_train_iters=12, lsq_encode_ils_iters=16, pq_niter=25),
    "paper": AnnPreset(
        name="paper", seeds=(0, 1, 2),
        notes="the paper's scale as far as the bundled photographs go; a GPU is recommended",
        images=None, scales=(0.5, 1.0, 1.5), c_dog=0.005, query_fraction=0.2,
        n_base=None, n_query=10000, n_learn=30000, stages=8, bits_per_stage=8, beam_width=16,
        steps=30000, batch_size=512, lr=1e-2, finetune_fraction=0.2, finetune_lr_factor=0.1,
        replace_every=200, replace_until=0.9, avq_init="rvq", avq_steps=3000, avq_batch_size=512, avq_lr=1e-3,
        faiss_beam=16, rq_niter=25, lsq_train_iters=25, lsq_encode_ils_iters=16, pq_niter=25),
}
