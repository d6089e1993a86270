"""Product vector quantization: independent codebooks for contiguous parts of the vector."""
from __future__ import annotations

from typing import Any

import torch

from . import distributed
from .checks import MAX_CODEBOOK_VALUES, check_bits_per_codebook, check_positive_int, check_vectors
from .base import Quantizer
from .estimators import DEFAULT_DIVEQ_NOISE_STD
from .nearest import nearest


class ProductVQ(Quantizer):
    """``x`` is split into ``stages`` contiguous parts of ``dim / stages`` values, each with its own codebook.

    Args:
        dim: vector dimension ``D`` (divisible by ``stages``).
        stages: number of parts and codebooks ``M``.
        bits_per_stage: ``log2`` of each codebook's size ``K``.
        estimator: ``"nsvq"`` (default), ``"ste"``, ``"diveq"``, ``"diveq_detach"`` or ``"rotation"``,
            on the concatenated parts (the whole vector, as the ``diveq`` package's ``ProductDIVEQ`` does).
        beta, init_std, diveq_noise_std: as for :class:`~vqcore.VQ`.

    Integer arguments accept Python and numpy integers; ``bits_per_stage`` is at most 24.
    Dtypes: see :class:`~vqcore.Quantizer` (float16/bfloat16 inputs give float32 outputs).

    Shapes: ``encode`` ``(..., D) -> (..., M)``; ``decode`` ``(..., M) -> (..., D)``; ``codebooks`` ``(M, K, D/M)``.
    """

    def __init__(self, dim: int, stages: int, bits_per_stage: int, *, estimator: str = "nsvq",
                 beta: float = 0.25, init_std: float = 1.0, diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        dim = check_positive_int("dim", dim, maximum=MAX_CODEBOOK_VALUES)
        stages = check_positive_int("stages", stages, maximum=MAX_CODEBOOK_VALUES)
        bits_per_stage = check_bits_per_codebook("bits_per_stage", bits_per_stage)
        if dim % stages:
            raise ValueError(f"dim must be divisible by stages for ProductVQ, got dim={dim}, stages={stages}")
        super().__init__(dim, stages, bits_per_stage, dim // stages, estimator=estimator, beta=beta, init_std=init_std,
                         diveq_noise_std=diveq_noise_std)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "stages": self.num_stages, "bits_per_stage": self.bits_per_stage,
                "estimator": self.estimator, "beta": self.beta, "init_std": self.init_std,
                "diveq_noise_std": self.diveq_noise_std}

    def _parts(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, D) -> (M, N, D/M)``."""
        return x.reshape(x.shape[0], self.num_stages, self.sub_dim).transpose(0, 1)

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        return nearest(self._parts(x), self._codebooks_as(x.dtype)).T.contiguous()

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        stage = torch.arange(self.num_stages, device=codes.device)
        # contiguous codes: torch.compile mispredicts the strides of this gather for strided codes
        return self.codebooks[stage, codes.contiguous()].reshape(codes.shape[0], self.dim)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Each part's codebook starts from random samples of that part (under torch.distributed: rank 0's, broadcast)."""
        flat, _ = check_vectors(x, self.dim)
        parts = self._parts(flat)
        for m in range(self.num_stages):
            pick = torch.randint(flat.shape[0], (self.codebook_size,), generator=generator).to(flat.device)
            self.codebooks.data[m] = parts[m][pick].to(self.codebooks)
        distributed.broadcast(self.codebooks.data)
