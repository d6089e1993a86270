"""Every quantizer by name, and the one factory that builds a quantizer from a method and a bit budget.

Serialization, the speech codec, the experiments and the benchmarks all build quantizers here,
so a method name means the same class everywhere.
"""
from __future__ import annotations

from typing import Any

from .additive import AdditiveVQ
from .base import Quantizer
from .checks import check_positive_int
from .product import ProductVQ
from .residual import ResidualVQ
from .space_filling import SpaceFillingVQ
from .vq import VQ

__all__ = ["METHODS", "QUANTIZERS", "build_quantizer", "quantizer_class"]

#: class name -> class (the names stored by :func:`vqcore.save`)
QUANTIZERS: dict[str, type[Quantizer]] = {c.__name__: c for c in (VQ, ResidualVQ, AdditiveVQ, ProductVQ, SpaceFillingVQ)}
#: the papers' method names -> class
METHODS: dict[str, type[Quantizer]] = {"VQ": VQ, "RVQ": ResidualVQ, "AVQ": AdditiveVQ, "PVQ": ProductVQ,
                                       "SFVQ": SpaceFillingVQ}
_MULTI = (ResidualVQ, AdditiveVQ, ProductVQ)


def quantizer_class(name: str) -> type[Quantizer]:
    """The class named ``name``: a method (``"AVQ"``, ``"rvq"``, ...; any case) or a class name
    (``"AdditiveVQ"``); a ``ValueError`` naming ``name`` otherwise.

    >>> quantizer_class("avq").__name__, quantizer_class("ResidualVQ").__name__
    ('AdditiveVQ', 'ResidualVQ')
    """
    if isinstance(name, str):
        if name in QUANTIZERS:
            return QUANTIZERS[name]
        if name.upper() in METHODS:
            return METHODS[name.upper()]
    raise ValueError(f"name must be a method ({', '.join(METHODS)}) or a class ({', '.join(QUANTIZERS)}), "
                     f"got {name!r}")


def build_quantizer(method: str, dim: int, bits: int, *, stages: int = 1, beam_width: int = 16,
                    ordered_track: bool = True, **options: Any) -> Quantizer:
    """A fresh quantizer of ``method`` for ``dim``-dimensional vectors at ``bits`` bits per vector.

    Args:
        method: ``"VQ"``, ``"RVQ"``, ``"AVQ"``, ``"PVQ"``, ``"SFVQ"`` (any case) or a class name.
        dim: vector dimension.
        bits: bits per vector, split evenly over the ``stages`` codebooks of RVQ, AVQ and PVQ
            (``bits`` must be divisible by ``stages``); VQ and SFVQ have one codebook (``stages=1``).
        beam_width, ordered_track: AVQ's beam search (:class:`AdditiveVQ`, the same defaults);
            the other methods have no beam and do not use them.
        options: further constructor arguments (``estimator``, ``beta``, ``init_std``, ...).

    >>> q = build_quantizer("RVQ", dim=8, bits=12, stages=3)   # 3 codebooks of 2**4 entries
    >>> type(q).__name__, q.num_stages, q.bits_per_stage, q.bits
    ('ResidualVQ', 3, 4, 12)
    """
    cls = quantizer_class(method)
    check_positive_int("bits", bits)
    check_positive_int("stages", stages)
    if cls not in _MULTI:
        if stages != 1:
            raise ValueError(f"stages must be 1 for {cls.__name__} (one codebook), got {stages}")
        return cls(dim, bits, **options)
    if bits % stages:
        raise ValueError(f"bits ({bits}) must be divisible by stages ({stages})")
    if cls is AdditiveVQ:
        return cls(dim, stages, bits // stages, beam_width=beam_width, ordered_track=ordered_track, **options)
    return cls(dim, stages, bits // stages, **options)
