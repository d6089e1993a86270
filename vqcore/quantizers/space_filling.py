"""Space-filling vector quantization (SFVQ): a piecewise-linear curve through ordered vertices.

Vertices ``c_0 .. c_{E'-1}`` joined in order form a curve; a fractional index ``f`` decodes to
``(1 - t) c_n + t c_{n+1}`` with ``n = clamp(floor(f), 0, E' - 2)`` and ``t = f - n``. Training
starts from 4 vertices and doubles them (see :meth:`SpaceFillingVQ.grow`) until ``2 ** bits``;
because every new vertex is born between two old neighbours, neighbouring indices keep holding
similar content.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import torch

from . import distributed, estimators
from .checks import MAX_CODEBOOK_VALUES, check_bits_per_codebook, check_float, check_positive_int, check_vectors
from .base import Quantizer, QuantizerOutput, perplexity
from .estimators import DEFAULT_DIVEQ_NOISE_STD, Segment
from .nearest import nearest

logger = logging.getLogger(__name__)


def decode_curve(vertices: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Points on the curve through ``vertices`` ``(E, D)`` at fractional indices ``(...)`` -> ``(..., D)``."""
    n = index.floor().clamp(0, vertices.shape[0] - 2)
    t = (index - n).unsqueeze(-1).to(vertices.dtype)
    n = n.long()
    return (1 - t) * vertices[n] + t * vertices[n + 1]


def _project_segment(x: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest point of each segment ``[start, end]`` to ``x`` (all ``(N, D)``): ``(point (N, D), t (N,))``."""
    direction = end - start
    length2 = (direction * direction).sum(-1).clamp_min(torch.finfo(x.dtype).tiny)
    t = (((x - start) * direction).sum(-1) / length2).clamp(0, 1)
    return start + t.unsqueeze(-1) * direction, t


class SpaceFillingVQ(Quantizer):
    """A space-filling vector quantizer of ``2 ** bits`` vertices in dimension ``dim``.

    Args:
        dim: vector dimension ``D``.
        bits: final bits per vector (``E = 2 ** bits`` vertices); at least 2.
        estimator: ``"nsvq"`` (default; noise substitution around the dithered curve point), ``"ste"``,
            ``"diveq"``, ``"diveq_detach"``, ``"rotation"`` (each on the dithered point, as for the other
            quantizers), or ``"sf_diveq"`` / ``"sf_diveq_detach"`` (SF-DiVeQ: the error vectors to both
            vertices of the dithered point's segment, see :func:`vqcore.quantizers.estimators.sf_diveq`).
            Inference (:meth:`project`, :meth:`quantize`) is the projection onto the curve for all of them.
        eps: how far along the curve each vertex's twin is born when the curve doubles, in ``(0, 0.5)``
            (so that the doubled vertices stay in curve order).
        init_std: standard deviation of the random start (replace it by :meth:`init_from_data`).
        beta, diveq_noise_std: as for :class:`~vqcore.VQ` (the noise of ``"diveq"`` and ``"sf_diveq"``).

    Integer arguments accept Python and numpy integers. Dtypes: see :class:`~vqcore.Quantizer`;
    :meth:`project` and :meth:`quantize` also return float32 for float16/bfloat16 input.

    Shapes: ``encode`` ``(..., D) -> (..., 1)`` (nearest vertex); ``decode`` ``(..., 1) -> (..., D)``;
    :meth:`project` ``(..., D) -> ((..., D), (...))`` with the fractional index.
    ``codebooks`` holds room for all ``E`` vertices; the first :attr:`num_active` are in use.
    """

    estimators = estimators.COMMON + estimators.CURVE

    def __init__(self, dim: int, bits: int, *, estimator: str = "nsvq", beta: float = 0.25,
                 eps: float = 0.01, init_std: float = 1.0, diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        dim = check_positive_int("dim", dim, maximum=MAX_CODEBOOK_VALUES)
        bits = check_bits_per_codebook("bits", bits, minimum=2, maximum=20)
        eps = check_float("eps", eps, low=0.0, high=0.5, low_open=True, high_open=True)
        super().__init__(dim, 1, bits, dim, estimator=estimator, beta=beta, init_std=init_std,
                         diveq_noise_std=diveq_noise_std)
        self.eps = eps
        self.register_buffer("_num_active", torch.tensor(4, dtype=torch.long))
        self._active_cache: int | None = None

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "bits": self.bits, "estimator": self.estimator, "beta": self.beta,
                "eps": self.eps, "init_std": self.init_std, "diveq_noise_std": self.diveq_noise_std}

    # -- the curve -------------------------------------------------------------
    @property
    def num_active(self) -> int:
        """Vertices in use now: 4, 8, ..., ``2 ** bits``."""
        if self._active_cache is None:  # read once from the buffer (it may live on a GPU)
            self._active_cache = int(self._num_active)
        return self._active_cache

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._active_cache = None

    @property
    def num_codes(self) -> int:
        return self.num_active

    @property
    def vertices(self) -> torch.Tensor:
        """Active vertices ``(E', D)``, in curve order."""
        return self.codebooks[0, : self.num_active]

    @property
    def fully_grown(self) -> bool:
        return self.num_active >= self.codebook_size

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """The 4 starting vertices: means of 4 equal groups of ``x`` ``(..., D)`` sorted by norm.

        Under torch.distributed every rank must call it; the vertices become rank 0's (computed
        from rank 0's ``x`` and broadcast).
        """
        flat, _ = check_vectors(x, self.dim)
        if flat.shape[0] < 4:
            raise ValueError(f"x must hold at least 4 vectors to initialise SpaceFillingVQ, got {flat.shape[0]}")
        order = torch.linalg.vector_norm(flat, dim=-1).argsort()
        groups = torch.tensor_split(flat[order], 4)
        self.codebooks.data[0, :4] = torch.stack([g.mean(0) for g in groups]).to(self.codebooks)
        distributed.broadcast(self.codebooks.data)
        self._set_active(4)

    def _set_active(self, n: int) -> None:
        self._num_active.fill_(n)
        self._active_cache = n

    @torch.no_grad()
    def grow(self, optimizer: torch.optim.Optimizer | None = None) -> int:
        """Double the vertices ``E' -> 2E'``; each old vertex gets a twin ``eps`` along the curve towards its middle.

        The new vertices are the current curve at indices ``0, eps, 1, 1+eps, ..., E'/2-1+eps`` and then
        ``E'/2-eps, E'/2, ..., E'-1-eps, E'-1``. Pass the optimizer to clear its state for the
        codebook (its moments belonged to other vertices). Returns the new number of vertices.

        Growth is deterministic, so ranks with equal vertices grow equal curves; under
        torch.distributed every rank must call it, and rank 0's new vertices are broadcast as well.
        """
        e = self.num_active
        if e >= self.codebook_size:
            raise ValueError(f"SpaceFillingVQ already has all {self.codebook_size} vertices (bits={self.bits})")
        base = torch.arange(e, dtype=torch.float64)
        first = torch.stack([base[: e // 2], base[: e // 2] + self.eps], 1).reshape(-1)
        second = torch.stack([base[e // 2:] - self.eps, base[e // 2:]], 1).reshape(-1)
        index = torch.cat([first, second]).to(self.codebooks.device)
        new = decode_curve(self.vertices.detach().double(), index)
        self.codebooks.data[0, : 2 * e] = new.to(self.codebooks)
        distributed.broadcast(self.codebooks.data)
        self._set_active(2 * e)
        if optimizer is not None and self.codebooks in optimizer.state:
            del optimizer.state[self.codebooks]
        logger.info("SpaceFillingVQ grew from %d to %d vertices", e, 2 * e)
        return 2 * e

    # -- hard quantizer: nearest vertex ------------------------------------------
    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        return nearest(x, self.vertices.detach().to(x.dtype)).unsqueeze(-1)

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        return self.codebooks[0][codes[:, 0]]

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project onto the curve (inference).

        The nearest vertex ``n`` (clamped to ``1 .. E'-2``) names two segments; ``x`` is projected on
        both with the coefficient clamped to ``[0, 1]`` and the closer projection is returned.

        Returns:
            ``(quantized (..., D), fractional_index (...))``, float64 for float64 input, else float32
            (float16/bfloat16 inputs included).
        """
        flat, lead = check_vectors(x, self.dim, device=self.codebooks.device)
        verts = self.vertices.to(flat.dtype)
        with torch.no_grad():
            n = nearest(flat, verts).clamp(1, self.num_active - 2)
        p1, t1 = _project_segment(flat, verts[n - 1], verts[n])
        p2, t2 = _project_segment(flat, verts[n], verts[n + 1])
        second = ((flat - p2) ** 2).sum(-1) < ((flat - p1) ** 2).sum(-1)
        point = torch.where(second.unsqueeze(-1), p2, p1)
        index = torch.where(second, n + t2, n - 1 + t1)
        return point.reshape(*lead, self.dim), index.reshape(lead)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Projection onto the curve (see :meth:`project`): ``(..., D)`` -> ``(..., D)``, float64 for float64 input, else float32."""
        return self.project(x)[0]

    # -- training: dithered points on the curve -------------------------------------
    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Training pass with dithering.

        For every segment ``j`` a point ``p_j = decode(j + u_j)``, ``u_j ~ U(0, 1)``, is drawn; each input
        goes to its nearest ``p_j``. ``quantized`` is that point (the gradient reaches ``c_j`` and
        ``c_{j+1}``; use ``mse(quantized, x)`` for standalone training); ``output`` applies the estimator.
        ``"sf_diveq"`` uses the point's segment ``c_j, c_{j+1}`` and ``u_j`` (the dither ``lambda``).
        ``codes`` holds the vertex nearest to the point along the curve, and
        ``extras["fractional_index"]`` the point's index ``j + u_j``. Float outputs are float64 for
        float64 input, else float32 (float16/bfloat16 inputs included).
        """
        flat, lead = check_vectors(x, self.dim, device=self.codebooks.device)
        verts = self.vertices.to(flat.dtype)
        e = verts.shape[0]
        u = torch.rand(e - 1, device=flat.device, dtype=flat.dtype)
        points = (1 - u).unsqueeze(-1) * verts[:-1] + u.unsqueeze(-1) * verts[1:]  # (E'-1, D)
        with torch.no_grad():
            seg = nearest(flat.detach(), points.detach())
        quantized = points[seg]
        index = seg.to(flat.dtype) + u[seg]
        codes = (seg + (u[seg] >= 0.5).long()).unsqueeze(-1)
        segment = (Segment(verts[seg], verts[seg + 1], u[seg].unsqueeze(-1))
                   if self.estimator in estimators.CURVE else None)
        output, loss = estimators.apply_estimator(self.estimator, flat, quantized, beta=self.beta,
                                                  noise_std=self.diveq_noise_std, segment=segment)
        return QuantizerOutput(
            output=output.reshape(*lead, self.dim),
            quantized=quantized.reshape(*lead, self.dim),
            codes=codes.reshape(*lead, 1),
            loss=loss,
            perplexity=perplexity(codes, self.codebook_size),
            extras={"fractional_index": index.reshape(lead)},
        )

    def replace_unused_codebooks(self, *args: Any, **kwargs: Any) -> int:
        """Not defined for SFVQ: copying a vertex elsewhere would break the curve's order."""
        raise RuntimeError("codebook replacement would break the SFVQ curve's order; SpaceFillingVQ does not use it")

    @property
    def growth_phases(self) -> int:
        """Training phases from 4 vertices to ``2 ** bits``: ``bits - 1``."""
        return int(math.log2(self.codebook_size)) - 1
