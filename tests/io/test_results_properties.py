"""Property-based tests of the results loader: any text or bytes either loads, and then equals the
document and round-trips through write and load unchanged, or is a ResultsError naming the file.

The example budget is small by default (the whole module runs in a few seconds); set
VQCORE_FUZZ_EXAMPLES for a deeper run, e.g. ``VQCORE_FUZZ_EXAMPLES=5000 pytest tests/io/test_results_properties.py``.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vqcore.io import result_format, results
from vqcore.io.results import ResultsError

EXAMPLES = int(os.environ.get("VQCORE_FUZZ_EXAMPLES", 40))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# files go to memory where there is a tmpfs: every write fsyncs, which costs ~10 ms per write on a disk
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None

# -- strategies ----------------------------------------------------------------------------------

KEY_NAMES = ["Metric", *results.X_KEYS, "meta", "Data", "notes", "A", "B", "Mean (A)", "Quantile Low (A)",
             "Quantile High (A)", "Mean (B)", "NSVQ (w/o CBR)"]
RESERVED = {"Metric", "meta", *results.X_KEYS}
texts = st.text(max_size=8) | st.text(st.characters(exclude_categories=()), max_size=4)  # lone surrogates too
keys = st.sampled_from(KEY_NAMES) | texts
scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10 ** 320, 10 ** 320)
           | st.floats() | texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
# what a valid file may hold in its context, extra and meta keys: finite numbers that fit a float
finite_scalars = (st.none() | st.booleans() | st.integers(-10 ** 300, 10 ** 300)
                  | st.floats(allow_nan=False, allow_infinity=False) | texts)
finite_values = st.recursive(finite_scalars, lambda inner: st.lists(inner, max_size=4)
                             | st.dictionaries(keys, inner, max_size=4), max_leaves=12)
# raw JSON text that the standard library reads into something no result may hold, or cannot read
hostile = (st.sampled_from(["NaN", "-Infinity", "Infinity", "1e400", "-2e308", "[NaN]", "{\"a\": Infinity}"])
           | st.integers(300, 6000).map(lambda n: "-" * (n % 2) + "7" * n)
           | st.integers(60, 3000).map(lambda n: "[" * n + "]" * n)
           | st.integers(60, 1500).map(lambda n: '{"k": ' * n + "0" + "}" * n))
raw_values = json_values.map(json.dumps) | hostile


def _values(n: int) -> st.SearchStrategy[str]:
    number = st.none() | st.integers(-10 ** 6, 10 ** 6) | st.floats(allow_nan=False, allow_infinity=False)
    return st.lists(number, min_size=n, max_size=n).map(json.dumps)


@st.composite
def valid_pairs(draw) -> list[tuple[str, str]]:
    """The (key, raw JSON value) pairs of a valid result file, in a random order."""
    n = draw(st.integers(1, 4))
    labels = draw(st.lists(st.text(max_size=6), min_size=n, max_size=n, unique=True))
    pairs = [("Metric", json.dumps(draw(st.sampled_from(["MSE", "pSNR"]) | st.text(min_size=1, max_size=5)
                                        .filter(str.strip)))),
             (draw(st.sampled_from(results.X_KEYS)), json.dumps(labels))]
    names = st.sampled_from(["A", "B", "AVQ baseline", "NSVQ (w/o CBR)", "Ω"]) | st.text(min_size=1, max_size=5)
    methods = draw(st.lists(names.filter(lambda m: m not in RESERVED and not result_format._BAND_KEY.match(m)),
                            max_size=4, unique=True))
    for method in methods:
        if draw(st.booleans()):
            band = ["Mean"] + (["Quantile Low", "Quantile High"] if draw(st.booleans()) else [])
            pairs += [(f"{prefix} ({method})", draw(_values(n))) for prefix in band]
        else:
            pairs.append((method, draw(_values(n))))
    taken = {k for k, _ in pairs} | set(methods) | RESERVED
    context = st.dictionaries(
        (st.sampled_from(["Data", "notes", "Comment"]) | texts).filter(
            lambda k: k not in taken and not result_format._BAND_KEY.match(k)),
        finite_scalars | st.dictionaries(keys, finite_values, max_size=3), max_size=3)
    pairs += [(k, json.dumps(v)) for k, v in draw(context).items()]
    if draw(st.booleans()):
        pairs.append(("meta", json.dumps(draw(st.dictionaries(keys, finite_values, max_size=4)))))
    return draw(st.permutations(pairs))


def _text(pairs: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


@st.composite
def documents(draw) -> str:
    """A valid result file's text, then some damage: a value replaced by random or hostile JSON, a
    key dropped, added or repeated, or the text cut short."""
    pairs = draw(valid_pairs())
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["replace", "drop", "add", "repeat"]))
        i = draw(st.integers(0, len(pairs) - 1))
        if action == "replace":
            pairs[i] = (pairs[i][0], draw(raw_values))
        elif action == "drop":
            del pairs[i]
            if not pairs:
                break
        elif action == "add":
            pairs.insert(i, (draw(keys), draw(raw_values)))
        else:
            pairs.insert(i, pairs[i])
    text = _text(pairs)
    if draw(st.integers(0, 9)) == 0:
        text = text[:draw(st.integers(0, len(text)))]
    return text


# -- checks --------------------------------------------------------------------------------------

def _expected_methods(doc: dict) -> list[str]:
    """The methods in the order the loader promises: bands, then plain lists, each in file order."""
    bands, plain = [], []
    for key, value in doc.items():
        band = result_format._BAND_KEY.match(key)
        if band and band.group(2) not in bands:
            bands.append(band.group(2))
        elif not band and isinstance(value, list) and key not in results.X_KEYS:
            plain.append(key)
    return bands + plain


def _load_or_refuse(data: str | bytes, folder: Path) -> results.ResultFile | None:
    """Load ``data`` from a file; None if it is refused, which must be a ResultsError by the file's name."""
    path = folder / "Figure 1" / "fuzzed.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    try:
        loaded = results.load(path)
    except ResultsError as exc:
        assert exc.name == str(path) and str(path) in str(exc)
        return None
    return loaded


def _check_round_trip(loaded: results.ResultFile, text: str, folder: Path) -> None:
    """``loaded`` is the document ``text`` as the standard library reads it, and write/load keeps it."""
    doc = json.loads(text)
    if doc.get("meta") == {}:
        del doc["meta"]  # an empty meta is not written
    assert loaded.to_dict() == doc
    assert loaded.methods == _expected_methods(doc)
    first = results.write(loaded, folder / "first.json")
    again = results.load(first)
    for attr in ("metric", "x_key", "x", "series", "context", "meta", "extra"):
        assert getattr(again, attr) == getattr(loaded, attr), attr
    assert again.methods == loaded.methods
    second = results.write(again, folder / "second.json")
    assert first.read_bytes() == second.read_bytes()


# -- properties ----------------------------------------------------------------------------------

@FUZZ
@given(valid_pairs())
def test_a_valid_file_loads_and_round_trips_unchanged(pairs):
    text = _text(pairs)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as folder:
        loaded = _load_or_refuse(text, Path(folder))
        assert loaded is not None, text
        _check_round_trip(loaded, text, Path(folder))


@FUZZ
@given(documents())
def test_a_damaged_file_loads_as_written_or_is_refused_by_name(text):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as folder:
        loaded = _load_or_refuse(text, Path(folder))
        if loaded is not None:
            _check_round_trip(loaded, text, Path(folder))
        try:
            results.loads(text, "given name")
        except ResultsError as exc:
            assert loaded is None and exc.name == "given name"
        else:
            assert loaded is not None


@FUZZ
@given(json_values.map(json.dumps) | raw_values)
def test_any_json_document_loads_or_is_refused_by_name(text):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as folder:
        loaded = _load_or_refuse(text, Path(folder))
        if loaded is not None:
            _check_round_trip(loaded, text, Path(folder))


@st.composite
def damaged_bytes(draw) -> bytes:
    """A valid file's bytes with a few random bytes put in at one place."""
    data = _text(draw(valid_pairs())).encode()
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]


@FUZZ
@given(st.binary(max_size=300) | damaged_bytes())
def test_any_bytes_load_or_are_refused_by_name(data):
    with tempfile.TemporaryDirectory(dir=SCRATCH) as folder:
        _load_or_refuse(data, Path(folder))
