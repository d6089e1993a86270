"""The quantizers and their machinery.

One module per quantizer family (:mod:`.vq`, :mod:`.residual`, :mod:`.additive`,
:mod:`.product`, :mod:`.space_filling`) on the shared :mod:`.base`; the searches they use
(:mod:`.nearest`, :mod:`.beam_search`, and :mod:`.beam_search_native`, the same beam search in C,
built on first use); the gradient estimators (:mod:`.estimators`), codebook
replacement (:mod:`.replacement`), bit packing (:mod:`.packing`), save/load
(:mod:`.serialization`) and input checks (:mod:`.checks`). :mod:`.registry` maps names to
classes and builds a quantizer from a method name and a bit budget; everything above this
package builds quantizers through it.
"""
from .additive import AdditiveVQ
from .base import Quantizer, QuantizerOutput
from .checks import validation
from .packing import pack_codes, pack_message, packed_size, unpack_codes, unpack_message
from .product import ProductVQ
from .registry import METHODS, QUANTIZERS, build_quantizer, quantizer_class
from .residual import ResidualVQ
from .serialization import load, save
from .space_filling import SpaceFillingVQ
from .vq import VQ

__all__ = [
    "METHODS", "QUANTIZERS", "AdditiveVQ", "ProductVQ", "Quantizer", "QuantizerOutput", "ResidualVQ",
    "SpaceFillingVQ", "VQ", "build_quantizer", "load", "pack_codes", "packed_size", "quantizer_class",
    "save", "unpack_codes", "validation", "pack_message", "unpack_message",
]
