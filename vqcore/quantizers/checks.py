"""Input validation shared by every quantizer.

Every check raises ``ValueError`` naming the argument and what was expected.
Checks that must read a value back from the device (finiteness, magnitude, code range) can be
switched off with :func:`vqcore.validation` for the last bit of GPU speed; the switch is
context-local (a :class:`contextvars.ContextVar`), so it affects only the thread or asyncio
task that sets it. Inside code traced by ``torch.compile`` (:func:`torch.compiler.is_compiling`)
the value checks are skipped whatever the setting, since reading values back would break the
graph; the static checks (type, shape, dtype, device, emptiness) still run while tracing (with
``fullgraph=True`` torch.compile reports their ``ValueError`` as its own error, the message in the
chain of causes). Check suspect inputs eagerly, before the compiled call.

Magnitude bound: an input whose largest absolute value ``a`` has ``16 * D * a**2`` above the
largest finite value of its compute dtype (float32: about ``3.4e38``) is refused, so that every
squared norm and distance the quantizers form (``||x - c||^2 <= 4 D a**2``, with codewords of
the data's scale) stays finite. For float32 and ``D = 8`` that is ``|x| <= 1.6e18``.
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import operator
from typing import Iterator

import torch

_VALIDATE: contextvars.ContextVar[bool] = contextvars.ContextVar("vqcore_validation", default=True)

#: bits per codebook: ``2 ** 24`` entries is the largest codebook any quantizer builds
MAX_BITS_PER_CODEBOOK = 24
#: values in all codebooks of one quantizer (``M * K * d``): 2**32 float32 values is 16 GiB
MAX_CODEBOOK_VALUES = 2 ** 32


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Turn the value checks (NaN/inf/huge inputs, code range) on or off inside a ``with`` block.

    Shape, dtype, device and emptiness checks always run: they cost no device round-trip.
    The setting is context-local: other threads (and other asyncio tasks) keep their own.
    """
    if not (isinstance(enabled, bool) or type(enabled).__name__ in ("bool_", "bool")
            or (isinstance(enabled, int) and enabled in (0, 1))):
        raise ValueError(f"enabled must be True or False, got {enabled!r}")
    token = _VALIDATE.set(bool(enabled))
    try:
        yield
    finally:
        _VALIDATE.reset(token)


def value_checks_enabled() -> bool:
    """Whether the value checks run in the current context (see :func:`validation`)."""
    return _VALIDATE.get()


#: ``torch.compiler.is_compiling`` (torch >= 2.3; on older versions the checks are traced, a graph break)
_is_compiling = getattr(torch.compiler, "is_compiling", lambda: False)


def _value_checks_now() -> bool:
    """Whether to run the value checks here: on in this context, and not while ``torch.compile`` traces."""
    return not _is_compiling() and _VALIDATE.get()


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other dtype (float16, bfloat16, float32) is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def check_positive_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as a Python ``int`` in ``[minimum, maximum]``.

    Python and numpy integers are accepted (anything with ``__index__`` except tensors);
    bools, floats, strings and tensors are refused.
    """
    bound = f">= {minimum}" if maximum is None else f">= {minimum} and <= {maximum}"
    if isinstance(value, (bool, torch.Tensor)) or type(value).__name__ in ("bool_", "bool"):
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        shown = number if abs(number) < 10 ** 30 else f"an integer of {len(str(abs(number)))} digits"
        raise ValueError(f"{name} must be an integer {bound}, got {shown}")
    return int(number)


def check_bits_per_codebook(name: str, value: object, minimum: int = 1,
                            maximum: int = MAX_BITS_PER_CODEBOOK) -> int:
    """Bits of one codebook (``2 ** value`` entries), at most ``maximum`` (24 by default)."""
    try:
        return check_positive_int(name, value, minimum, maximum)
    except ValueError as err:
        raise ValueError(f"{err} (bits per codebook are capped at {maximum}: a codebook holds 2**{name} "
                         "entries)") from None


def check_float(name: str, value: object, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite Python ``float`` in the given range (open or closed at either end).

    Python/numpy ints and floats are accepted; bools, strings, tensors, NaN and inf are refused.
    """
    lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
    hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
    where = f" in {lo}, {hi}" if low is not None and high is not None else (
        f" {'>' if low_open else '>='} {low:g}" if low is not None else (
            f" {'<' if high_open else '<='} {high:g}" if high is not None else ""))
    wanted = f"{name} must be a finite real number{where}"
    if isinstance(value, (bool, torch.Tensor)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{wanted}, got {value!r} ({type(value).__name__})")
    try:
        number = float(value)
    except (OverflowError, ValueError):
        raise ValueError(f"{wanted}, got a value too large for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"{wanted}, got {number!r}")
    if low is not None and (number < low or (low_open and number == low)):
        raise ValueError(f"{wanted}, got {number!r}")
    if high is not None and (number > high or (high_open and number == high)):
        raise ValueError(f"{wanted}, got {number!r}")
    return number


def check_codebook_values(num_stages: int, codebook_size: int, sub_dim: int) -> None:
    """Refuse codebooks of more than :data:`MAX_CODEBOOK_VALUES` values before allocating them."""
    total = num_stages * codebook_size * sub_dim
    if total > MAX_CODEBOOK_VALUES:
        raise ValueError(f"the codebooks would hold {num_stages} x {codebook_size} x {sub_dim} = {total} values "
                         "(codebooks x entries x dimension of each, set by stages, bits or bits_per_stage, and dim), "
                         f"more than the limit of {MAX_CODEBOOK_VALUES}")


def _check_tensor(x: object, name: str, expected: str, device: torch.device | None) -> torch.Tensor:
    """Refuse what is not a materialised, dense tensor (on ``device``, when given)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if x.device.type == "meta":
        raise ValueError(f"{name} is on the meta device (it holds no data); expected a materialised tensor")
    if x.layout != torch.strided or getattr(x, "is_nested", False):
        raise ValueError(f"{name} must be a dense (strided) tensor, got layout {x.layout}")
    if device is not None and x.device != device:
        raise ValueError(f"{name} is on {x.device} but the quantizer's codebooks are on {device}; "
                         "move one of them")
    return x


def check_vectors(x: object, dim: int, name: str = "x",
                  device: torch.device | None = None) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate ``x`` of shape ``(..., dim)`` and return it flattened to ``(N, dim)`` plus the leading shape.

    The flattened tensor is in the compute dtype (:func:`compute_dtype`: float64 stays, other
    floating dtypes become float32). With value checks on (and not while ``torch.compile``
    traces), NaN, inf and values too large for the squared distances (see the module docstring)
    are refused.
    """
    x = _check_tensor(x, name, f"(..., {dim})", device)
    if x.dim() == 0 or x.shape[-1] != dim:
        raise ValueError(f"{name} must have last dimension {dim} (shape (..., {dim})), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); expected at least one vector")
    if not (x.is_floating_point()):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    lead = tuple(x.shape[:-1])
    flat = x.reshape(-1, dim).to(compute_dtype(x.dtype))
    if _value_checks_now():
        # one reduction and one read-back; aminmax propagates NaN
        lo, hi = torch.stack(torch.aminmax(flat.detach())).tolist()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} contains NaN or inf values; expected finite inputs")
        largest = max(-lo, hi)
        bound = math.sqrt(torch.finfo(flat.dtype).max / (16 * dim))
        if largest > bound:
            raise ValueError(f"{name} holds a value of magnitude {largest:.3g}, above {bound:.3g}, the largest "
                             f"whose squared distances fit in {flat.dtype} (dimension {dim}); rescale the input")
    return flat, lead


def check_codes(codes: object, num_stages: int, codebook_size: int, name: str = "codes") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Validate integer codes of shape ``(..., num_stages)`` with entries in ``[0, codebook_size)``."""
    codes = _check_tensor(codes, name, f"(..., {num_stages})", None)
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"{name} must have an integer dtype, got {codes.dtype}")
    if codes.dim() == 0 or codes.shape[-1] != num_stages:
        raise ValueError(f"{name} must have last dimension {num_stages} (one code per stage), got shape {tuple(codes.shape)}")
    if codes.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(codes.shape)}); expected at least one code vector")
    flat = codes.reshape(-1, num_stages).long()  # uint64 values above 2**63 wrap to negative: refused below
    if _value_checks_now() and bool(((flat < 0) | (flat >= codebook_size)).any()):
        lo, hi = int(flat.min()), int(flat.max())
        raise ValueError(f"{name} out of range: expected values in [0, {codebook_size - 1}], got min {lo} and max {hi}")
    return flat, tuple(codes.shape[:-1])
