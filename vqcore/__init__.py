"""vqcore: GPU-first vector quantizers trained with noise substitution.

Quantizers (all ``torch.nn.Module``, inputs ``(..., dim)`` channel-last):

- :class:`VQ` — one codebook, nearest codeword.
- :class:`ResidualVQ` — greedy residual stages.
- :class:`AdditiveVQ` — sum of one codeword per codebook, beam search.
- :class:`ProductVQ` — independent codebooks for contiguous parts.
- :class:`SpaceFillingVQ` — a piecewise-linear curve through ordered vertices.
"""
from ._checks import validation
from .additive import AdditiveVQ
from .base import Quantizer, QuantizerOutput
from .product import ProductVQ
from .residual import ResidualVQ
from .serialization import load, save
from .space_filling import SpaceFillingVQ
from .vq import VQ
from . import training  # noqa: F401,E402  (needs the quantizers above)

__version__ = "0.1.0"

__all__ = [
    "VQ", "ResidualVQ", "AdditiveVQ", "ProductVQ", "SpaceFillingVQ",
    "Quantizer", "QuantizerOutput", "save", "load", "validation", "__version__",
]
