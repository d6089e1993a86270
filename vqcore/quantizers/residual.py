"""Residual vector quantization: each stage quantizes what the stages before it left."""
from __future__ import annotations

from typing import Any

import torch

from .checks import MAX_CODEBOOK_VALUES, check_bits_per_codebook, check_positive_int
from .base import Quantizer
from .estimators import COMMON, DEFAULT_DIVEQ_NOISE_STD
from .nearest import nearest, scores_scratch


class ResidualVQ(Quantizer):
    """``stages`` full-dimensional codebooks of ``2 ** bits_per_stage`` entries, searched greedily.

    Stage ``m`` picks the codeword nearest to ``x - sum_{s<m} c_s``; the reconstruction is the sum.

    Args:
        dim: vector dimension ``D``.
        stages: number of codebooks ``M``.
        bits_per_stage: ``log2`` of the codebook size ``K``; ``bits = stages * bits_per_stage``.
        estimator: ``"nsvq"`` (default), ``"ste"``, ``"ema"``, ``"diveq"``, ``"diveq_detach"`` or
            ``"rotation"``; all but ``"ema"`` act on the sum of the stages' entries.
        beta, ema_decay, init_std, diveq_noise_std: as for :class:`~vqcore.VQ`.

    Integer arguments accept Python and numpy integers; ``bits_per_stage`` is at most 24.
    Dtypes: see :class:`~vqcore.Quantizer` (float16/bfloat16 inputs give float32 outputs).

    Shapes: ``encode`` ``(..., D) -> (..., M)``; ``decode`` ``(..., M) -> (..., D)``.
    """

    estimators = COMMON + ("ema",)

    def __init__(self, dim: int, stages: int, bits_per_stage: int, *, estimator: str = "nsvq",
                 beta: float = 0.25, ema_decay: float = 0.99, init_std: float = 1.0,
                 diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        dim = check_positive_int("dim", dim, maximum=MAX_CODEBOOK_VALUES)
        stages = check_positive_int("stages", stages, maximum=MAX_CODEBOOK_VALUES)
        bits_per_stage = check_bits_per_codebook("bits_per_stage", bits_per_stage)
        super().__init__(dim, stages, bits_per_stage, dim, estimator=estimator, beta=beta,
                         ema_decay=ema_decay, init_std=init_std, diveq_noise_std=diveq_noise_std)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "stages": self.num_stages, "bits_per_stage": self.bits_per_stage,
                "estimator": self.estimator, "beta": self.beta, "ema_decay": self.ema_decay,
                "init_std": self.init_std, "diveq_noise_std": self.diveq_noise_std}

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        books = self._codebooks_as(x.dtype).detach()  # codes carry no gradient
        residual = x.detach().clone()
        codes = torch.empty(x.shape[0], self.num_stages, dtype=torch.long, device=x.device)
        scratch = scores_scratch(residual, books[0])
        for m in range(self.num_stages):
            idx = nearest(residual, books[m], scratch=scratch)
            codes[:, m] = idx
            residual -= books[m].index_select(0, idx)
        return codes

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        return self._decode_sum(codes)

    def _ema_targets(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        chosen = self.codebooks.detach()[torch.arange(self.num_stages, device=codes.device), codes]  # (N, M, D)
        before = torch.cumsum(chosen, dim=1) - chosen  # sum of the earlier stages
        return (x.unsqueeze(1) - before).transpose(0, 1)

    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Codebook ``m`` starts from random residuals left by a greedy pass through codebooks ``0..m-1``."""
        self._init_greedy_residual(x, generator)
