"""Additive vector quantization: the sum of one codeword from each codebook, found by beam search."""
from __future__ import annotations

from typing import Any

import torch

from .checks import MAX_CODEBOOK_VALUES, check_bits_per_codebook, check_positive_int
from .base import Quantizer
from .estimators import DEFAULT_DIVEQ_NOISE_STD
from .beam_search import SearchTables, additive_beam_search

#: the largest Gram table (elements) an AdditiveVQ keeps between encode calls (64 M: 4 x 1024 entries)
_KEEP_GRAM = 1 << 26


class AdditiveVQ(Quantizer):
    """``stages`` full-dimensional codebooks; ``x`` is approximated by the sum of one entry of each.

    Unlike :class:`~vqcore.ResidualVQ`, codebooks may be picked in any order: encoding is a beam
    search of width ``beam_width`` over partial tuples (see :mod:`vqcore.quantizers.beam_search`).

    Args:
        dim: vector dimension ``D``.
        stages: number of codebooks ``M``.
        bits_per_stage: ``log2`` of each codebook's size ``K``.
        beam_width: ``B >= 1`` partial tuples kept per vector.
        ordered_track: also search the codebooks in their fixed order with the same beam and keep,
            per vector, the better tuple (see :func:`vqcore.quantizers.beam_search.additive_beam_search`).
            On by default: the error is then never above that of a residual quantizer's beam search
            (faiss's ``ResidualQuantizer``) with the same codebooks, which the free-order search
            alone can exceed on codebooks trained for a fixed order (by up to 75 % at beam 1 on
            faiss's own codebooks, ``benchmarks/README.md``), at about 1.2 to 1.5 times the
            encoding cost for ``M = 4``. ``False`` is the paper's search (free order only), which
            the experiments of the papers use.
        estimator: ``"nsvq"`` (default), ``"ste"``, ``"diveq"``, ``"diveq_detach"`` or ``"rotation"``,
            on the sum of the chosen entries.
        beta, init_std, diveq_noise_std: as for :class:`~vqcore.VQ`.

    Integer arguments accept Python and numpy integers; ``bits_per_stage`` is at most 24.
    Dtypes: see :class:`~vqcore.Quantizer` (float16/bfloat16 inputs give float32 outputs).

    Shapes: ``encode`` ``(..., D) -> (..., M)``; ``decode`` ``(..., M) -> (..., D)``.
    """

    def __init__(self, dim: int, stages: int, bits_per_stage: int, beam_width: int = 16, *,
                 ordered_track: bool = True, estimator: str = "nsvq", beta: float = 0.25,
                 init_std: float = 1.0, diveq_noise_std: float = DEFAULT_DIVEQ_NOISE_STD) -> None:
        dim = check_positive_int("dim", dim, maximum=MAX_CODEBOOK_VALUES)
        stages = check_positive_int("stages", stages, maximum=MAX_CODEBOOK_VALUES)
        bits_per_stage = check_bits_per_codebook("bits_per_stage", bits_per_stage)
        beam_width = check_positive_int("beam_width", beam_width)
        super().__init__(dim, stages, bits_per_stage, dim, estimator=estimator, beta=beta, init_std=init_std,
                         diveq_noise_std=diveq_noise_std)
        if not isinstance(ordered_track, bool):
            raise ValueError(f"ordered_track must be True or False, got {ordered_track!r}")
        self.beam_width = beam_width
        self.ordered_track = ordered_track

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "stages": self.num_stages, "bits_per_stage": self.bits_per_stage,
                "beam_width": self.beam_width, "ordered_track": self.ordered_track,
                "estimator": self.estimator, "beta": self.beta, "init_std": self.init_std,
                "diveq_noise_std": self.diveq_noise_std}

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        books = self._codebooks_as(x.dtype).detach()
        tables = self.__dict__.get("_search_tables")
        if tables is None or not tables.matches(books, x.dtype):
            # the Gram blocks are kept while the codebooks stay the same (not when they are very large)
            tables = SearchTables(books, x.dtype)
            self.__dict__["_search_tables"] = tables if tables.gram_rows * tables.codebook_size <= _KEEP_GRAM else None
        return additive_beam_search(x, books, self.beam_width, ordered=self.ordered_track, tables=tables)

    def _decode_flat(self, codes: torch.Tensor) -> torch.Tensor:
        return self._decode_sum(codes)

    def init_from_data(self, x: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Codebook ``m`` starts from random residuals left by a greedy pass through codebooks ``0..m-1``."""
        self._init_greedy_residual(x, generator)
