"""The papers' computational-complexity model: weighted operations per encoded vector.

This is the model behind the complexity plots of Vali & Bäckström (ICASSP 2023),
Fig. 4c and Fig. 6b, reproduced exactly (the tests compare :func:`complexity_table`
with the authors' published result files; the book's page "Computational complexity:
the WMOPS model", ``book/methods/complexity.md``, explains the building blocks). For
one input vector it counts additions ``A``, multiplications ``P``, moves ``V`` and
branches ``R`` and weighs them with the ITU-T STL 2009 basic-operator weights:

===========  ===  ===  ===  ===
precision     A    P    V    R
===========  ===  ===  ===  ===
single        1    1    1    4
double        2    2    2    4
===========  ===  ===  ===  ===

WMOPS is the weighted sum divided by 10**6; the figures plot ``log10`` of it.

The model is written as four building blocks (:func:`dist`, :func:`argmin`,
:func:`sort`, :func:`mse`) and one count per method (:func:`count_avq`,
:func:`count_rvq`, :func:`count_pvq`), each a direct transcription of the
published description, including its quirks (the RVQ count has ``M - 1``
searches; AVQ's sort still applies when the beam is wider than the candidates).
All arithmetic is exact (:class:`fractions.Fraction`); :func:`count_pvq` keeps ``D / M``
a real number, while :func:`operation_counts` and :func:`wmops` check their arguments
(PVQ's ``dim`` divisible by ``stages``, as ProductVQ requires) and raise
:class:`ComplexityArgumentError`, a ``ValueError`` naming the argument.

Example::

    >>> from vqcore.eval.complexity import wmops
    >>> round(wmops("rvq", dim=2, stages=2, bits_per_stage=1) * 1e6)
    16
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from fractions import Fraction
from numbers import Rational

__all__ = [
    "FIGURES",
    "MAX_BITS_PER_STAGE",
    "MAX_STAGES",
    "ComplexityArgumentError",
    "METHODS",
    "PRECISIONS",
    "WEIGHTS",
    "FigureSetting",
    "OperationCounts",
    "argmin",
    "complexity_table",
    "count_avq",
    "count_pvq",
    "count_rvq",
    "dist",
    "figure_settings",
    "mse",
    "operation_counts",
    "sort",
    "wmops",
]

METHODS = ("avq", "rvq", "pvq")
PRECISIONS = ("single", "double")
#: Weights (additions, multiplications, moves, branches) per precision: ITU-T STL 2009.
WEIGHTS: dict[str, tuple[int, int, int, int]] = {
    "single": (1, 1, 1, 4),
    "double": (2, 2, 2, 4),
}
FIGURES = ("4c", "6b")
#: Largest ``bits_per_stage``: the quantizers' cap on one codebook (``2**24`` entries).
MAX_BITS_PER_STAGE = 24
#: Largest ``stages``: the published counts loop over the stages (AVQ's branch count grows as
#: ``2**M``), so this keeps every count quick and AVQ's within the float range.
MAX_STAGES = 1024
_FIGURE_BITRATES = tuple(range(12, 41, 4))  # 12, 16, ..., 40 bits per vector


# -- operation counts ------------------------------------------------------------

class ComplexityArgumentError(ValueError):
    """A bad argument of the complexity model; ``arguments`` names the argument(s) at fault."""

    def __init__(self, message: str, *arguments: str) -> None:
        super().__init__(message)
        self.arguments: tuple[str, ...] = arguments


def _check_precision(precision: object) -> str:
    if not isinstance(precision, str) or precision.strip().lower() not in PRECISIONS:
        raise ComplexityArgumentError(f"precision must be one of {PRECISIONS}, got {precision!r}", "precision")
    return precision.strip().lower()


@dataclass(frozen=True)
class OperationCounts:
    """Basic-operation counts for encoding one vector (exact rationals).

    ``additions`` (A), ``multiplications`` (P), ``moves`` (V) and ``branches`` (R).
    Counts add with ``+``; :meth:`weighted` applies the ITU-T STL 2009 weights.
    """

    additions: Fraction = Fraction(0)
    multiplications: Fraction = Fraction(0)
    moves: Fraction = Fraction(0)
    branches: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, Rational):
                raise ValueError(f"{f.name} must be an int or a Fraction, got {value!r}")  # noqa: TRY004 (project convention)
            object.__setattr__(self, f.name, Fraction(value))

    def __add__(self, other: OperationCounts) -> OperationCounts:
        if not isinstance(other, OperationCounts):
            return NotImplemented
        return OperationCounts(
            self.additions + other.additions,
            self.multiplications + other.multiplications,
            self.moves + other.moves,
            self.branches + other.branches,
        )

    def __mul__(self, times: int) -> OperationCounts:
        if isinstance(times, bool) or not isinstance(times, Rational):
            return NotImplemented
        return OperationCounts(
            self.additions * times, self.multiplications * times,
            self.moves * times, self.branches * times,
        )

    __rmul__ = __mul__

    def weighted(self, precision: str = "single") -> Fraction:
        """Weighted operation count (not divided by 10**6) for ``precision`` ("single" or "double")."""
        a, p, v, r = WEIGHTS[_check_precision(precision)]
        return a * self.additions + p * self.multiplications + v * self.moves + r * self.branches

    def as_dict(self) -> dict[str, int | float]:
        """The four counts as plain numbers (ints where whole, floats otherwise), e.g. for JSON."""
        out: dict[str, int | float] = {}
        for f in fields(self):
            value: Fraction = getattr(self, f.name)
            out[f.name] = int(value) if value.denominator == 1 else float(value)
        return out


def _adds(n: Rational) -> OperationCounts:
    return OperationCounts(additions=n)


def _moves(n: Rational) -> OperationCounts:
    return OperationCounts(moves=n)


def _branches(n: Rational) -> OperationCounts:
    return OperationCounts(branches=n)


# -- building blocks ---------------------------------------------------------------

def dist(n: Rational, d: Rational, t: Rational = 1) -> OperationCounts:
    """Squared distances from ``t`` vectors to ``n`` codewords of dimension ``d``.

    ``A += t n (2d - 1)``, ``P += t n d``.
    """
    n, d, t = Fraction(n), Fraction(d), Fraction(t)
    return OperationCounts(additions=t * n * (2 * d - 1), multiplications=t * n * d)


def argmin(n: Rational) -> OperationCounts:
    """Index of the smallest of ``n`` values: ``A += n - 1``, ``V += n - 1``."""
    n = Fraction(n)
    return OperationCounts(additions=n - 1, moves=n - 1)


def sort(n: Rational, s: int, t: int = 1) -> OperationCounts:
    """Partial selection sort: ``t`` times, for ``j = 0 .. s-1``, :func:`argmin` of ``n - j`` values.

    Evaluated in closed form, ``t * (s (n - 1) - s (s - 1) / 2)`` additions and moves,
    which equals the published loop term by term (also when ``s > n``, where the
    published model keeps counting with non-positive sizes).
    """
    n = Fraction(n)
    per_pass = s * (n - 1) - Fraction(s * (s - 1), 2)
    return OperationCounts(additions=t * per_pass, moves=t * per_pass)


def mse(b: Rational, d: Rational) -> OperationCounts:
    """Errors of ``b * b`` candidate reconstructions of dimension ``d``.

    ``A += b^2 (2d - 1)``, ``P += b^2 (d + 1)``.
    """
    b, d = Fraction(b), Fraction(d)
    return OperationCounts(additions=b * b * (2 * d - 1), multiplications=b * b * (d + 1))


# -- methods -------------------------------------------------------------------------

def count_avq(dim: int, stages: int, codebook_size: int, beam_width: int) -> OperationCounts:
    """Operation counts of additive VQ with beam search (``D, M, K, B``) for one vector."""
    d, m, k, b = dim, stages, codebook_size, beam_width
    total = dist(m * k, d, 1) + sort(m * k, b, 1) + _moves(b)
    for i in range(1, m):
        total += _moves(i * b * d) + _adds(i * b * d) + _branches(math.comb(m, i) - 1)
        total += dist((m - i) * k, d, b)
        total += sort((m - i) * k, b, b)
        total += _moves(b * b)
        total += _moves(b * b * d) + _adds(b * b * i * d)
        total += mse(b, d)
        if i == m - 1:
            total += argmin(b * b)
        else:
            total += sort(b * b, b, 1) + _moves(b)
    return total


def count_rvq(dim: int, stages: int, codebook_size: int) -> OperationCounts:
    """Operation counts of residual VQ (``D, M, K``) for one vector.

    As published, the stage loop runs for ``i = 1 .. M-1`` (``M - 1`` searches).
    """
    d, m, k = dim, stages, codebook_size
    total = OperationCounts()
    for i in range(1, m):
        total += dist(k, d, 1) + argmin(k) + _moves(d)
        if i != m - 1:
            total += _adds(d)
    return total + _adds((m - 1) * d)


def count_pvq(dim: int, stages: int, codebook_size: int) -> OperationCounts:
    """Operation counts of product VQ (``D, M, K``) for one vector; ``D / M`` is kept exact."""
    m, k = stages, codebook_size
    part = Fraction(dim, m)
    total = _moves(dim)
    for _ in range(1, m):
        total += dist(k, part, 1) + argmin(k) + _moves(part)
    return total + _moves(dim)


# -- public entry points -------------------------------------------------------------

def _check_int(name: str, value: object, minimum: int, why: str = "", maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; else :class:`ComplexityArgumentError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ComplexityArgumentError(f"{name} must be an integer >= {minimum}{why}, got {value!r}", name)
    if maximum is not None and value > maximum:
        raise ComplexityArgumentError(f"{name} must be an integer <= {maximum}, got {value!r}", name)
    return value


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method.strip().lower() not in METHODS:
        raise ComplexityArgumentError(f"method must be one of {METHODS} (case-insensitive), got {method!r}", "method")
    return method.strip().lower()


def operation_counts(
    method: str, dim: int, stages: int, bits_per_stage: int, beam_width: int | None = None,
) -> OperationCounts:
    """Validated operation counts of ``method`` ("avq", "rvq" or "pvq") for one vector.

    ``codebook_size = 2 ** bits_per_stage``. ``beam_width`` is required (>= 1) for AVQ and
    ignored by RVQ and PVQ (if given it must still be a valid integer >= 1). ``stages``
    must be in ``[2, MAX_STAGES]``: the published RVQ count has ``M - 1`` searches, so one
    stage counts nothing. ``bits_per_stage`` must be in ``[1, MAX_BITS_PER_STAGE]``, the
    quantizers' cap. For PVQ, ``dim`` must be divisible by ``stages``, as
    :class:`~vqcore.quantizers.ProductVQ` requires (the building block :func:`count_pvq`
    itself keeps a fractional ``D / M``). Raises :class:`ComplexityArgumentError` (a
    ``ValueError``) naming the offending argument.
    """
    method = _check_method(method)
    dim = _check_int("dim", dim, 1)
    stages = _check_int("stages", stages, 2, " (the model describes multi-stage quantizers)",
                        maximum=MAX_STAGES)
    bits_per_stage = _check_int("bits_per_stage", bits_per_stage, 1, maximum=MAX_BITS_PER_STAGE)
    if beam_width is None:
        if method == "avq":
            raise ComplexityArgumentError(
                "beam_width is required for method 'avq': expected an integer >= 1, got None", "beam_width")
    else:
        beam_width = _check_int("beam_width", beam_width, 1)
    if method == "pvq" and dim % stages:
        raise ComplexityArgumentError(
            f"dim must be divisible by stages for method 'pvq' (ProductVQ splits the vector into equal "
            f"parts), got dim={dim}, stages={stages}", "dim")
    k = 2 ** bits_per_stage
    if method == "avq":
        assert beam_width is not None
        return count_avq(dim, stages, k, beam_width)
    if method == "rvq":
        return count_rvq(dim, stages, k)
    return count_pvq(dim, stages, k)


def wmops(
    method: str,
    dim: int,
    stages: int,
    bits_per_stage: int,
    beam_width: int | None = None,
    precision: str = "single",
) -> float:
    """Millions of weighted operations to encode one vector with the papers' complexity model.

    Args:
        method: "avq", "rvq" or "pvq" (case-insensitive).
        dim: vector dimension ``D`` (>= 1).
        stages: number of stages / codebooks ``M`` (>= 2).
        bits_per_stage: bits per stage; the codebook size is ``K = 2 ** bits_per_stage``.
        beam_width: AVQ beam width ``B`` (required for AVQ, >= 1; ignored otherwise).
        precision: "single" (A=P=V=1, R=4) or "double" (A=P=V=2, R=4).

    ``stages``, ``bits_per_stage`` and PVQ's ``dim`` are checked as in :func:`operation_counts`.

    Raises:
        ComplexityArgumentError: (a ``ValueError``) naming the argument and what was expected,
            also when the result is beyond the float range (a huge ``dim`` or ``beam_width``).
    """
    precision = _check_precision(precision)
    counts = operation_counts(method, dim, stages, bits_per_stage, beam_width)
    try:
        return float(counts.weighted(precision) / 10**6)
    except OverflowError:
        culprits = ("dim", "beam_width") if _check_method(method) == "avq" else ("dim",)
        raise ComplexityArgumentError(
            f"the operation count for method={method!r}, dim={dim}, stages={stages}, "
            f"bits_per_stage={bits_per_stage}, beam_width={beam_width} exceeds the float range; "
            f"reduce {' or '.join(culprits)}", *culprits) from None


# -- the published figures -------------------------------------------------------------

@dataclass(frozen=True)
class FigureSetting:
    """One bitrate of a published complexity figure; the last four fields are :func:`wmops` arguments."""

    bits: int
    dim: int
    stages: int
    bits_per_stage: int
    beam_width: int


def _normalize_figure(figure: object) -> str:
    if isinstance(figure, str):
        key = figure.strip().lower()
        for prefix in ("figure", "fig.", "fig"):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        key = key.replace("-", "").replace(" ", "").replace("_", "").replace(".", "")
        if key in FIGURES:
            return key
    raise ValueError(f"figure must be one of {FIGURES} (e.g. '4c', 'Fig4-c'), got {figure!r}")


def figure_settings(figure: str) -> list[FigureSetting]:
    """The published settings of a complexity figure, one per bitrate 12, 16, ..., 40 bits.

    - "4c" (ICASSP 2023 Fig. 4c): ``D = 64, M = 4, B = 16`` at every bitrate (also at
      12 bits, where ``K = 8 < B``).
    - "6b" (Fig. 6b): ``D = 128, M = 4, B = min(K, 64)`` with ``K = 2 ** bits_per_stage``.

    ``bits_per_stage = bits / 4``. Spellings such as "Fig4-c" or "figure 6b" are accepted.
    """
    key = _normalize_figure(figure)
    stages = 4
    out = []
    for bits in _FIGURE_BITRATES:
        bps = bits // stages
        if key == "4c":
            dim, beam = 64, 16
        else:
            dim, beam = 128, min(2 ** bps, 64)
        out.append(FigureSetting(bits=bits, dim=dim, stages=stages, bits_per_stage=bps, beam_width=beam))
    return out


def complexity_table(figure: str, precision: str = "single") -> dict:
    """The complexity figure as the authors' JSON layout: log10 WMOPS per method and bitrate.

    Returns ``{"Metric": "Complexity (log10 WMOPS)", "VQ Bitrate": ["12 bits", ...],
    "AVQ": [...], "RVQ": [...], "PVQ": [...]}``.
    """
    precision = _check_precision(precision)
    settings = figure_settings(figure)
    table: dict = {
        "Metric": "Complexity (log10 WMOPS)",
        "VQ Bitrate": [f"{s.bits} bits" for s in settings],
    }
    for method in METHODS:
        table[method.upper()] = [
            math.log10(wmops(method, s.dim, s.stages, s.bits_per_stage, s.beam_width, precision))
            for s in settings
        ]
    return table
