"""The interface every quantizer shares, and the training bookkeeping they have in common."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import distributed, estimators
from .checks import check_codebook_values, check_codes, check_float, check_positive_int, check_vectors
from .estimators import DEFAULT_DIVEQ_NOISE_STD
from .replacement import replace_unused
from .nearest import full_precision, nearest

logger = logging.getLogger(__name__)


@dataclass
class QuantizerOutput:
    """What ``forward`` returns.

    Attributes:
        output: ``(..., D)`` the estimator's output, to feed the rest of the network.
        quantized: ``(..., D)`` the hard quantization, differentiable with respect to the codebooks.
        codes: ``(..., M)`` long, one index per codebook.
        loss: scalar auxiliary loss (codebook and commitment for STE and the rotation trick, commitment
            for EMA, zero for NSVQ and the DiVeQ family).
        perplexity: ``(M,)`` codebook usage perplexity in this batch (``K`` when all entries are used evenly).
        extras: quantizer-specific tensors (SFVQ: ``"fractional_index"``).
    """

    output: torch.Tensor
    quantized: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor
    perplexity: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


def perplexity(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """Usage perplexity ``exp(entropy)`` per stage. codes: ``(N, M)`` -> ``(M,)``."""
    n, m = codes.shape
    counts = torch.zeros(m, codebook_size, device=codes.device, dtype=torch.float32)
    counts.scatter_add_(1, codes.T, torch.ones_like(codes.T, dtype=torch.float32))
    p = counts / n
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum(-1))


class Quantizer(nn.Module):
    """Base class: ``M`` codebooks of ``K`` entries of dimension ``d`` in ``self.codebooks`` ``(M, K, d)``.

    Subclasses implement ``_encode_flat`` ``(N, D) -> (N, M)`` and ``_decode_flat`` ``(N, M) -> (N, D)``.

    Dtypes: inputs may be any floating dtype. float64 inputs are computed in and returned as
    float64; every other floating dtype (float16, bfloat16, float32) is computed in float32 and
    the float outputs of :meth:`quantize` and :meth:`forward` come back as **float32** (cast them
    back with ``.to(x.dtype)`` if needed). :meth:`encode` returns ``long`` codes and
    :meth:`decode` returns the codebooks' dtype (float32 unless the module was converted).

    Mixed precision: inside ``torch.autocast`` (CPU bfloat16; CUDA float16 or bfloat16) the
    nearest-codeword and beam searches run with autocast off, in float32
    (:func:`vqcore.quantizers.nearest.full_precision`), so the codes of :meth:`encode`,
    :meth:`quantize` and :meth:`forward` equal the float32 codes. The dtypes above hold under
    autocast too: float32 (float64 for float64 input) from :meth:`quantize`, :meth:`forward`
    and SFVQ's ``project``; the codebooks' dtype from :meth:`decode`; ``long`` codes. Autocast
    still lowers the matrix products of the layers around the quantizer as usual.

    Memory: the nearest-codeword search holds at most
    :data:`vqcore.quantizers.nearest.MAX_SCORE_ELEMENTS` scores (``2**26``, 256 MiB in float32) at
    once, searching large batches in chunks of rows; AVQ's beam search bounds its own working set
    (:mod:`vqcore.quantizers.beam_search`).

    ``torch.compile``: :meth:`encode`, :meth:`decode`, :meth:`quantize` and :meth:`forward` of
    VQ, RVQ, PVQ and SFVQ compile with ``fullgraph=True``. The value checks (NaN/inf, magnitude,
    code range) read values back, so they are skipped while compiled code is traced (see
    :mod:`vqcore.quantizers.checks`); the shape and dtype checks still run. SFVQ's vertex count
    is a Python int to the compiled code: growing the curve or loading a state dict recompiles.

    Bad input raises ``ValueError`` naming the argument: non-tensors, meta-device, sparse or
    wrong-device tensors, wrong shapes or dtypes, empty batches, and (while
    :func:`vqcore.validation` is on) NaN/inf values, values too large for the squared
    distances (see :mod:`vqcore.quantizers.checks`), and codes out of range.

    Constructor floats are checked: ``beta >= 0``, ``0 < ema_decay < 1``, ``init_std >= 0``,
    ``diveq_noise_std >= 0``, all finite; the codebooks may hold at most ``2**32`` values in all.

    Estimators (``estimator=``, see :mod:`vqcore.quantizers.estimators`): ``"nsvq"`` (noise
    substitution), ``"ste"`` (straight-through with the VQ-VAE losses), ``"diveq"`` (DiVeQ, with
    direction noise of standard deviation ``diveq_noise_std``), ``"diveq_detach"`` (DiVeQ without
    noise) and ``"rotation"`` (the rotation trick, with the VQ-VAE losses) on every quantizer;
    ``"ema"`` on :class:`~vqcore.VQ` and :class:`~vqcore.ResidualVQ`; ``"sf_diveq"`` and
    ``"sf_diveq_detach"`` on :class:`~vqcore.SpaceFillingVQ`. For RVQ and AVQ they act on the sum
    of the chosen entries, for PVQ on the concatenated parts. Each class lists its own in
    ``estimators``.
    """

    #: estimators this quantizer accepts
    estimators: tuple[str, ...] = estimators.COMMON

    def __init__(self, dim: int, num_stages: int, bits_per_stage: int, sub_dim: int, *,
                 estimator: str = "nsvq", beta: float = 0.25, ema_decay: float = 0.99,
                 init_std: float = 1.0, diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        super().__init__()
        beta = check_float("beta", beta, low=0.0)
        diveq_noise_std = check_float("diveq_noise_std", diveq_noise_std, low=0.0)
        ema_decay = check_float("ema_decay", ema_decay, low=0.0, high=1.0, low_open=True, high_open=True)
        init_std = check_float("init_std", init_std, low=0.0)
        check_codebook_values(num_stages, 2 ** bits_per_stage, sub_dim)
        self.dim = dim
        self.num_stages = num_stages
        self.bits_per_stage = bits_per_stage
        self.codebook_size = 2 ** bits_per_stage
        self.sub_dim = sub_dim
        self.estimator = estimators.check_estimator(estimator, self.estimators)
        self.beta = float(beta)
        self.ema_decay = float(ema_decay)
        self.init_std = float(init_std)
        self.diveq_noise_std = float(diveq_noise_std)
        init = torch.randn(num_stages, self.codebook_size, sub_dim) * init_std
        self.codebooks = nn.Parameter(init, requires_grad=estimator != "ema")
        # batches (since the last replacement) in which each entry was chosen at least once
        self.register_buffer("usage_batches", torch.zeros(num_stages, self.codebook_size), persistent=False)
        if estimator == "ema":
            # every initial entry counts as one vector: an entry unused in the first batches keeps its
            # place instead of being divided by the smoothing constant
            self.register_buffer("ema_cluster_size", torch.ones(num_stages, self.codebook_size))
            self.register_buffer("ema_embed_sum", init.clone())

    # -- description ---------------------------------------------------------
    @property
    def bits(self) -> int:
        """Bits per vector: ``M * log2(K)``."""
        return self.num_stages * self.bits_per_stage

    @property
    def num_codes(self) -> int:
        """Valid code values per stage (``K``; SFVQ: the vertices in use)."""
        return self.codebook_size

    def config(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild this quantizer (see :func:`vqcore.save`)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    # -- the hard quantizer ----------------------------------------------------
    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _codebooks_as(self, dtype: torch.dtype) -> torch.Tensor:
        return self.codebooks if self.codebooks.dtype == dtype else self.codebooks.to(dtype)

    def _decode_sum(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the chosen entry of every codebook: ``(N, M) -> (N, D)`` (RVQ and AVQ)."""
        stage = torch.arange(self.num_stages, device=codes.device)
        return self.codebooks[stage, codes].sum(-2)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of ``x``: ``(..., D)`` (any floating dtype) -> ``(..., M)`` long."""
        flat, lead = check_vectors(x, self.dim, device=self.codebooks.device)
        with full_precision(flat.device):
            return self._encode_flat(flat).reshape(*lead, self.num_stages)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstruction of integer codes: ``(..., M)`` -> ``(..., D)`` in the codebooks' dtype (float32 by default)."""
        flat, lead = check_codes(codes, self.num_stages, self.num_codes)
        return self._decode_flat(flat.to(self.codebooks.device)).reshape(*lead, self.dim)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Hard quantization for inference: ``(..., D)`` -> ``(..., D)``, float64 for float64 input, else float32."""
        flat, lead = check_vectors(x, self.dim, device=self.codebooks.device)
        with torch.no_grad(), full_precision(flat.device):
            codes = self._encode_flat(flat)
        return self._decode_flat(codes).to(flat.dtype).reshape(*lead, self.dim)

    # -- training --------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Training pass: ``(..., D)`` -> :class:`QuantizerOutput` (output, quantized, codes, loss, perplexity).

        ``output``, ``quantized`` and ``loss`` are float64 for float64 input, else float32
        (float16/bfloat16 inputs included).
        """
        flat, lead = check_vectors(x, self.dim, device=self.codebooks.device)
        with torch.no_grad(), full_precision(flat.device):
            codes = self._encode_flat(flat.detach())
        if self.training:
            self._count_usage(codes)
            if self.estimator == "ema":
                self._ema_update(flat.detach(), codes)
        quantized = self._decode_flat(codes).to(flat.dtype)
        output, loss = estimators.apply_estimator(self.estimator, flat, quantized, beta=self.beta,
                                                  noise_std=self.diveq_noise_std)
        return QuantizerOutput(
            output=output.reshape(*lead, self.dim),
            quantized=quantized.reshape(*lead, self.dim),
            codes=codes.reshape(*lead, self.num_stages),
            loss=loss,
            perplexity=perplexity(codes, self.codebook_size),
        )

    def _count_usage(self, codes: torch.Tensor) -> None:
        """Count the batch (every rank's part of it, under torch.distributed) in which each entry was chosen."""
        used = torch.zeros_like(self.usage_batches)
        used.scatter_(1, codes.T, 1.0)
        if distributed.is_distributed():
            used = distributed.all_reduce_sum(used).clamp_(max=1.0)  # chosen on any rank
        self.usage_batches += used

    def _ema_targets(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Per-stage vectors that each stage's chosen entry approximates: ``(M, N, d)``."""
        raise NotImplementedError(f"{type(self).__name__} has no EMA update")

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, codes: torch.Tensor, eps: float = 1e-5) -> None:
        targets = self._ema_targets(x, codes).float()  # (M, N, d)
        onehot = torch.zeros(self.num_stages, codes.shape[0], self.codebook_size, device=x.device)
        onehot.scatter_(2, codes.T.unsqueeze(-1), 1.0)
        counts = onehot.sum(1)  # (M, K)
        with full_precision(x.device):
            sums = onehot.transpose(1, 2) @ targets  # (M, K, d)
        if distributed.is_distributed():  # the statistics of the batch concatenated over the ranks, in one all-reduce
            stats = distributed.all_reduce_sum(torch.cat([counts.unsqueeze(-1), sums], -1))
            counts, sums = stats[..., 0], stats[..., 1:]
        decay = self.ema_decay
        self.ema_cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_embed_sum.mul_(decay).add_(sums, alpha=1 - decay)
        total = self.ema_cluster_size.sum(-1, keepdim=True)
        smoothed = (self.ema_cluster_size + eps) / (total + self.codebook_size * eps) * total
        self.codebooks.data.copy_(self.ema_embed_sum / smoothed.unsqueeze(-1))

    @torch.no_grad()
    def replace_unused_codebooks(self, num_batches: int, discard_threshold: float = 0.01,
                                 noise_std: float = 1e-12, generator: torch.Generator | None = None) -> int:
        """Codebook replacement (the papers' behaviour), per codebook.

        Call every ``num_batches`` training batches. Entries chosen in fewer than
        ``discard_threshold * num_batches`` of those batches are overwritten by a random used
        entry of the same codebook plus ``N(0, noise_std^2)`` noise; if none was used, all are
        perturbed. Counts are then reset. Returns the number of entries replaced.

        Under torch.distributed every rank must call it: the usage counts are already summed over
        the ranks, every rank draws its replacements, and rank 0's codebooks are then broadcast, so
        all ranks hold rank 0's choices (and return the same count).
        """
        num_batches = check_positive_int("num_batches", num_batches)
        discard_threshold = check_float("discard_threshold", discard_threshold, low=0.0)
        noise_std = check_float("noise_std", noise_std, low=0.0)
        replaced = 0
        for m in range(self.num_stages):
            replaced += replace_unused(self.codebooks.data[m], self.usage_batches[m], num_batches,
                                       discard_threshold, noise_std, generator)
        distributed.broadcast(self.codebooks.data)
        if self.estimator == "ema":
            for m in range(self.num_stages):
                self.ema_embed_sum[m] = self.codebooks.data[m] * self.ema_cluster_size[m].clamp_min(1e-5).unsqueeze(-1)
        self.usage_batches.zero_()
        logger.info("%s: replaced %d unused codebook entries", type(self).__name__, replaced)
        return replaced

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Initialise the codebooks from data ``(..., D)`` (random samples of what each stage sees).

        Under torch.distributed every rank must call it; the codebooks become rank 0's (computed
        from rank 0's ``x`` and broadcast; see :mod:`vqcore.quantizers.distributed`).
        """
        raise NotImplementedError

    @torch.no_grad()
    def _init_greedy_residual(self, x: torch.Tensor, generator: torch.Generator | None) -> None:
        """Codebook ``m`` from random residuals left by a greedy pass through codebooks ``0..m-1``.

        Under torch.distributed every rank computes its own and rank 0's codebooks are broadcast.
        """
        flat, _ = check_vectors(x, self.dim)
        residual = flat.clone()
        for m in range(self.num_stages):
            pick = torch.randint(residual.shape[0], (self.codebook_size,), generator=generator).to(flat.device)
            book = residual[pick].clone()
            self.codebooks.data[m] = book.to(self.codebooks)
            if m + 1 < self.num_stages:  # the last stage's residual is not used
                residual -= book[nearest(residual, book)]
        distributed.broadcast(self.codebooks.data)
        if self.estimator == "ema":
            self.ema_cluster_size.fill_(1.0)
            self.ema_embed_sum.copy_(self.codebooks.data)

    # -- transmission ------------------------------------------------------------
    def pack(self, codes: torch.Tensor) -> bytes:
        """Codes ``(N, M)`` -> bytes holding exactly ``bits`` bits per vector (padded to a byte at the end)."""
        from .packing import pack_codes
        flat, _ = check_codes(codes, self.num_stages, self.num_codes)
        return pack_codes(flat, [self.bits_per_stage] * self.num_stages)

    def unpack(self, data: bytes, num_vectors: int) -> torch.Tensor:
        """Inverse of :meth:`pack`: bytes -> codes ``(num_vectors, M)`` long."""
        from .packing import unpack_codes
        return unpack_codes(data, num_vectors, [self.bits_per_stage] * self.num_stages)

