"""vqcore: GPU-first vector quantizers trained with noise substitution.

Quantizers (all ``torch.nn.Module``, inputs ``(..., dim)`` channel-last):

- :class:`VQ` — one codebook, nearest codeword.
- :class:`ResidualVQ` — greedy residual stages.
- :class:`AdditiveVQ` — sum of one codeword per codebook, beam search.
- :class:`ProductVQ` — independent codebooks for contiguous parts.
- :class:`SpaceFillingVQ` — a piecewise-linear curve through ordered vertices.

The package's layers, from the bottom: :mod:`vqcore.io` (files), :mod:`vqcore.quantizers` (the
quantizers and their machinery), :mod:`vqcore.training`, :mod:`vqcore.eval`, :mod:`vqcore.data`,
:mod:`vqcore.speech`, :mod:`vqcore.models`, :mod:`vqcore.experiments` (the papers' figures) and
:mod:`vqcore.plotting`; :mod:`vqcore.cli` on top.
"""
from .quantizers import (
    AdditiveVQ,
    ProductVQ,
    Quantizer,
    QuantizerOutput,
    ResidualVQ,
    SpaceFillingVQ,
    VQ,
    load,
    pack_codes,
    pack_message,
    packed_size,
    save,
    unpack_codes,
    unpack_message,
    validation,
)
from . import training  # noqa: E402  (vqcore.training.fit_quantizer, as the docs write it)

__version__ = "0.1.0"

__all__ = [
    "VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ", "SpaceFillingVQ",
    "Quantizer", "QuantizerOutput", "save", "load", "pack_codes", "unpack_codes", "packed_size",
    "pack_message", "unpack_message",
    "validation", "training", "__version__",
]
