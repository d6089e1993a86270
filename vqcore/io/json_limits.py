"""Limits that keep a JSON document carried back unchanged: no integer beyond a float (counted,
never converted, so Python's digit limit is never met), no non-finite number, no nesting deeper
than :data:`MAX_DEPTH`. :mod:`vqcore.io.results` applies them to every result file."""
from __future__ import annotations

import math

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "LongInt", "parse_int", "tree_problem"]

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


def tree_problem(value: object) -> str | None:
    """What ``value`` holds at any depth that cannot be written as JSON and read back the same (a
    sentence), or None: a non-finite float, an integer too large for a float, a key that is not a
    string, or nesting deeper than :data:`MAX_DEPTH`. No recursion, so a deep or cyclic Python
    object is refused by the depth rule too."""
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
            if depth > MAX_DEPTH:
                return f"is nested more than {MAX_DEPTH} levels deep"
            children = list(v.items()) if isinstance(v, dict) else list(enumerate(v))
            if isinstance(v, dict):
                for k in v:
                    if not isinstance(k, str):
                        return f"holds a key {k!r} that is not a string{where}"
            stack.extend((child, depth + 1, f"{at}[{k!r}]") for k, child in reversed(children))
    return None
