"""Plain vector quantization: one codebook, nearest codeword."""
from __future__ import annotations

from typing import Any

import torch

from . import distributed
from .checks import MAX_CODEBOOK_VALUES, check_bits_per_codebook, check_positive_int, check_vectors
from .base import Quantizer
from .estimators import COMMON, DEFAULT_DIVEQ_NOISE_STD
from .nearest import nearest


class VQ(Quantizer):
    """A single codebook of ``2 ** bits`` entries; the code of ``x`` is its nearest codeword.

    Args:
        dim: vector dimension ``D``.
        bits: bits per vector (codebook size ``2 ** bits``), at most 24.
        estimator: ``"nsvq"`` (default), ``"ste"``, ``"ema"``, ``"diveq"``, ``"diveq_detach"`` or
            ``"rotation"`` (see :class:`~vqcore.Quantizer`).
        beta: commitment weight for ``"ste"``/``"ema"``/``"rotation"``, finite and ``>= 0``.
        ema_decay: decay of the EMA codebook update, in ``(0, 1)``.
        init_std: standard deviation of the random initial codebook, finite and ``>= 0``.
        diveq_noise_std: standard deviation of DiVeQ's direction noise (``"diveq"``), finite and ``>= 0``;
            default ``1e-3``, what the ``diveq`` package draws by default
            (see :func:`vqcore.quantizers.estimators.diveq`).

    Integer arguments accept Python and numpy integers. Dtypes: see :class:`~vqcore.Quantizer`
    (float16/bfloat16 inputs give float32 outputs).

    Shapes: ``encode`` ``(..., D) -> (..., 1)``; ``decode`` ``(..., 1) -> (..., D)``.
    """

    estimators = COMMON + ("ema",)

    def __init__(self, dim: int, bits: int, *, estimator: str = "nsvq", beta: float = 0.25,
                 ema_decay: float = 0.99, init_std: float = 1.0,
                 diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        dim = check_positive_int("dim", dim, maximum=MAX_CODEBOOK_VALUES)
        bits = check_bits_per_codebook("bits", bits)
        super().__init__(dim, 1, bits, dim, estimator=estimator, beta=beta, ema_decay=ema_decay, init_std=init_std,
                         diveq_noise_std=diveq_noise_std)

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "bits": self.bits, "estimator": self.estimator, "beta": self.beta,
                "ema_decay": self.ema_decay, "init_std": self.init_std, "diveq_noise_std": self.diveq_noise_std}

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        return nearest(x, self._codebooks_as(x.dtype)[0]).unsqueeze(-1)

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        return self.codebooks[0][codes[:, 0]]

    def _ema_targets(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        flat, _ = check_vectors(x, self.dim)
        pick = torch.randint(flat.shape[0], (self.codebook_size,), generator=generator).to(flat.device)
        self.codebooks.data[0] = flat[pick].to(self.codebooks)
        distributed.broadcast(self.codebooks.data)  # under torch.distributed: rank 0's samples
        if self.estimator == "ema":
            self.ema_cluster_size.fill_(1.0)
            self.ema_embed_sum.copy_(self.codebooks.data)
