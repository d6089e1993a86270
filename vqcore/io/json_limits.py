"""Limits that keep a JSON document carried back unchanged: no integer beyond a float (counted,
never converted, so Python's digit limit is never met), no non-finite number, no nesting deeper
than :data:`MAX_DEPTH`. :mod:`vqcore.io.results` applies them to every result file;
:func:`loads_limited` applies them, with tighter limits of the caller's choosing (a size cap, fewer
digits), to small untrusted documents such as a stored quantizer's configuration
(:mod:`vqcore.quantizers.serialization`)."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "LongInt", "loads_limited", "parse_int", "tree_problem"]

#: The deepest nesting of objects and lists a result file may have; the top-level object's values
#: are at depth 1 (our files need 6).
MAX_DEPTH = 64
#: An integer with more digits is at least 1e309, beyond the largest float. It is also below the
#: least limit Python may set on converting digit strings (640), so parsing never meets that limit.
MAX_INT_DIGITS = 309


class LongInt:
    """A JSON integer with more than :data:`MAX_INT_DIGITS` digits, kept as its digit count: it
    is never converted (it cannot be a float, and Python refuses to convert 4,300 digits or more)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


def parse_int(text: str) -> int | LongInt:
    """The JSON parser's ``parse_int``: an :class:`int`, or a :class:`LongInt` for too many digits."""
    digits = len(text) - text.startswith("-")
    return LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def tree_problem(value: object, max_depth: int = MAX_DEPTH) -> str | None:
    """What ``value`` holds at any depth that cannot be written as JSON and read back the same (a
    sentence), or None: a non-finite float, an integer too large for a float, a key that is not a
    string, or nesting deeper than ``max_depth`` (default :data:`MAX_DEPTH`). No recursion, so a
    deep or cyclic Python object is refused by the depth rule too."""
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        v, depth, at = stack.pop()
        where = f" at {at}" if at else ""
        if isinstance(v, LongInt):
            return f"holds an integer of {v.digits} digits{where}; numbers must fit a float"
        if isinstance(v, float):
            if not math.isfinite(v):
                what = "nan" if math.isnan(v) else f"{v!r} (or a number too large for a float)"
                return f"holds {what}{where}; numbers must be finite (null marks a missing point)"
        elif isinstance(v, int) and not isinstance(v, bool):
            try:
                float(v)
            except OverflowError:
                return f"holds an integer too large for a float{where}"
        elif isinstance(v, (dict, list, tuple)):
            if depth > max_depth:
                return f"is nested more than {max_depth} levels deep"
            children = list(v.items()) if isinstance(v, dict) else list(enumerate(v))
            if isinstance(v, dict):
                for k in v:
                    if not isinstance(k, str):
                        return f"holds a key {k!r} that is not a string{where}"
            stack.extend((child, depth + 1, f"{at}[{k!r}]") for k, child in reversed(children))
    return None


class _Refused(ValueError):
    """Raised from inside the JSON parser by a limit; its message is the sentence to report."""


def _int_parser(max_digits: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        digits = len(text) - text.startswith("-")
        if digits > max_digits:
            raise _Refused(f"holds an integer of {digits} digits (at most {max_digits})")
        return int(text)
    return parse


def _refuse_constant(text: str) -> float:
    raise _Refused(f"holds {text}; numbers must be finite")


def loads_limited(text: str, *, max_chars: int | None = None, max_int_digits: int = MAX_INT_DIGITS,
                  max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` within limits, for an untrusted document; a ``ValueError`` whose message is
    a sentence without a subject (``"holds an integer of 5000 digits (at most 19)"``), for the caller
    to prefix with the file and key it read ``text`` from.

    Refused: more than ``max_chars`` characters (checked before parsing); an integer of more than
    ``max_int_digits`` digits (19 admits every int64; never more than :data:`MAX_INT_DIGITS`, so
    Python's digit limit is never met); ``NaN`` and ``Infinity``; nesting deeper than ``max_depth``;
    text that is not JSON. A number such as ``1e999`` parses to ``inf``: the caller checks the
    ranges of the values it reads (and so names the key).
    """
    if not isinstance(text, str):
        raise ValueError(f"must be JSON text, got {type(text).__name__}")
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"holds {len(text)} characters, more than the {max_chars} allowed")
    try:
        value = json.loads(text, parse_int=_int_parser(min(max_int_digits, MAX_INT_DIGITS)),
                           parse_constant=_refuse_constant)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:  # deeper than the interpreter's stack, so far deeper than max_depth
        raise ValueError(f"is nested too deeply (more than {max_depth} levels)") from None
    except ValueError as exc:  # json.JSONDecodeError
        raise ValueError(f"is not valid JSON ({exc})") from exc
    if _deeper_than(value, max_depth):
        raise ValueError(f"is nested too deeply (more than {max_depth} levels)")
    return value


def _deeper_than(value: object, max_depth: int) -> bool:
    """Whether parsed JSON nests objects and lists more than ``max_depth`` levels (top-level values: 1)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > max_depth:
                return True
            stack.extend((child, depth + 1) for child in (v.values() if isinstance(v, dict) else v))
    return False
