"""vqcore.io.json_limits: the limits shared by result files and stored configurations."""
from __future__ import annotations

import pytest

from vqcore.io import json_limits
from vqcore.io.json_limits import MAX_DEPTH, MAX_INT_DIGITS, LongInt, loads_limited, parse_int, tree_problem


def test_loads_limited_parses_valid_json_as_json_does():
    text = '{"dim": 64, "bits": -3, "beta": 0.25, "name": "x", "flags": [true, null], "nested": {"a": [1, 2]}}'
    assert loads_limited(text) == {"dim": 64, "bits": -3, "beta": 0.25, "name": "x", "flags": [True, None],
                                   "nested": {"a": [1, 2]}}
    assert loads_limited("9" * 19, max_int_digits=19) == int("9" * 19)  # every int64 fits
    assert loads_limited("[" * MAX_DEPTH + "]" * MAX_DEPTH) == eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)  # noqa: S307


@pytest.mark.parametrize(("text", "kwargs", "words"), [
    ("1" * 20, {"max_int_digits": 19}, ("integer of 20 digits", "at most 19")),
    ("-" + "1" * 20, {"max_int_digits": 19}, ("integer of 20 digits",)),
    ("9" * 5000, {}, ("integer of 5000 digits", f"at most {MAX_INT_DIGITS}")),  # never converted
    ("9" * 400, {"max_int_digits": 10 ** 6}, (f"at most {MAX_INT_DIGITS}",)),  # the cap cannot be raised past a float
    ("[NaN]", {}, ("NaN", "finite")),
    ('{"a": -Infinity}', {}, ("-Infinity",)),
    ("[" * 20000 + "]" * 20000, {}, ("nested too deeply", str(MAX_DEPTH))),
    ("[" * 5 + "]" * 5, {"max_depth": 4}, ("nested too deeply", "4 levels")),
    ('{"a": {"b": {"c": 1}}}', {"max_depth": 2}, ("nested too deeply",)),
    ('"' + "x" * 100 + '"', {"max_chars": 50}, ("102 characters", "50")),
    ("{", {}, ("not valid JSON",)),
    ("", {}, ("not valid JSON",)),
])
def test_loads_limited_refuses_with_a_sentence(text, kwargs, words):
    with pytest.raises(ValueError) as info:
        loads_limited(text, **kwargs)
    assert type(info.value) is ValueError  # not json.JSONDecodeError, RecursionError or the private class
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_loads_limited_refuses_what_is_not_text():
    with pytest.raises(ValueError, match="JSON text"):
        loads_limited(b"{}")  # type: ignore[arg-type]


def test_a_float_overflow_is_left_to_the_caller_who_names_the_key():
    assert loads_limited('{"beta": 1e999}') == {"beta": float("inf")}


def test_the_result_file_rules_are_unchanged():
    assert isinstance(parse_int("9" * (MAX_INT_DIGITS + 1)), LongInt) and parse_int("12") == 12
    assert tree_problem({"a": [1.5, None]}) is None
    assert "nested more than 64 levels" in tree_problem(eval("[" * 70 + "]" * 70))  # noqa: S307
    assert "nested more than 3 levels" in tree_problem([[[[1]]]], max_depth=3)
    assert tree_problem([[[1]]], max_depth=3) is None
    assert "finite" in tree_problem({"x": float("nan")})
    assert json_limits.MAX_DEPTH == 64
