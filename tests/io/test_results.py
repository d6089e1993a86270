"""Result files: the authors' files load and round-trip, malformed ones are refused by name, writes are atomic."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vqcore.io import result_meta, results
from vqcore.io.results import ResultFile, ResultsError, Series

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
REFERENCE_FILES = sorted(REFERENCE.rglob("*.json")) if REFERENCE.is_dir() else []


def _ref_id(path: Path) -> str:
    return path.relative_to(REFERENCE).as_posix()


def sample() -> dict:
    """A small valid file in our layout (made-up numbers)."""
    return {
        "Data": "Toy",
        "Metric": "MSE",
        "VQ Bitrate": ["4 bits", "8 bits", "12 bits"],
        "Mean (A)": [3.0, 2.0, 1.0],
        "Quantile Low (A)": [2.5, 1.5, 0.5],
        "Quantile High (A)": [3.5, 2.5, 1.5],
        "B": [10.0, None, 30.0],
        "meta": {"preset": "smoke", "seeds": [0]},
    }


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# -- the authors' files --------------------------------------------------------------------------

@pytest.mark.skipif(not REFERENCE_FILES, reason="reference/ is not present")
@pytest.mark.parametrize("path", REFERENCE_FILES, ids=_ref_id)
def test_reference_file_round_trips(path, tmp_path):
    text = path.read_text(encoding="utf-8")
    original = json.loads(text)
    r = results.load(path)
    assert path.read_text(encoding="utf-8") == text  # loading leaves the file alone
    assert r.path == path and r.meta == {} and r.extra == {}
    out = r.to_dict()
    assert out == original
    assert list(out) == list(original)  # same key order too
    xs = r.x_values()
    assert len(xs) == len(r.x) and all(math.isfinite(v) for v in xs)
    frame = r.to_frame()
    assert len(frame) == len(r.x) * len(r.methods)
    # and through our writer and back
    written = results.write(r, tmp_path / "copy.json")
    assert results.load(written).to_dict() == original


@pytest.mark.skipif(not REFERENCE_FILES, reason="reference/ is not present")
def test_load_dir_and_find_on_reference():
    tree = results.load_dir(REFERENCE)
    assert sorted(tree) == sorted(_ref_id(p) for p in REFERENCE_FILES)
    for rel in tree:
        paper = rel.split("/")[0]
        fig = rel.split("/")[1]
        stem = Path(rel).stem
        assert results.find(REFERENCE / paper, fig, stem).to_dict() == tree[rel].to_dict()


# -- our layout ----------------------------------------------------------------------------------

def test_parse_sample_and_helpers():
    r = results.validate(sample(), "sample.json")
    assert r.metric == "MSE" and r.x_key == "VQ Bitrate"
    assert r.methods == ["A", "B"]
    assert r.series["A"] == Series(mean=[3.0, 2.0, 1.0], low=[2.5, 1.5, 0.5], high=[3.5, 2.5, 1.5])
    assert r.series["B"].values == [10.0, None, 30.0] and not r.series["B"].is_band
    assert r.context == {"Data": "Toy"} and r.meta == {"preset": "smoke", "seeds": [0]}
    assert r.x_values() == [4.0, 8.0, 12.0]
    out = r.to_dict()
    assert out == sample() and list(out) == list(sample())


@pytest.mark.parametrize("label,value", [
    ("12 bits", 12.0), ("8 kbits/sec", 8.0), ("9.6 kbits/sec", 9.6), ("512", 512.0), ("1e3 items", 1000.0),
    ("bits", None), ("", None),
])
def test_parse_label(label, value):
    assert results.parse_label(label) == value


def test_x_values_names_key_on_unparsable_label():
    obj = sample()
    obj["VQ Bitrate"] = ["low", "mid", "high"]
    r = results.validate(obj, "cat.json")
    assert r.x == ["low", "mid", "high"]
    with pytest.raises(ResultsError, match="VQ Bitrate"):
        r.x_values()


def test_nsvq_lowercase_bitrate_key_and_nested_parentheses():
    obj = {"Metric": "SSIM", "VQ bitrate": ["6 bits", "7 bits"],
           "Mean (NSVQ (w/o CBR))": [0.5, 0.6], "Quantile Low (NSVQ (w/o CBR))": [0.4, 0.5],
           "Quantile High (NSVQ (w/o CBR))": [0.6, 0.7]}
    r = results.validate(obj)
    assert r.x_key == "VQ bitrate" and r.methods == ["NSVQ (w/o CBR)"]
    assert r.to_dict() == obj


def test_to_frame_long_format():
    frame = results.validate(sample()).to_frame()
    assert list(frame.columns) == ["x", "method", "mean", "low", "high"]
    assert len(frame) == 6
    a = frame[frame.method == "A"]
    assert a.x.tolist() == ["4 bits", "8 bits", "12 bits"] and a["mean"].tolist() == [3.0, 2.0, 1.0]
    b = frame[frame.method == "B"]
    assert b["mean"].iloc[0] == 10.0 and math.isnan(b["mean"].iloc[1])
    assert b["low"].isna().all() and b["high"].isna().all()
    assert frame.attrs == {"metric": "MSE", "x_key": "VQ Bitrate"}


def test_null_points_allowed_in_bands():
    obj = sample()
    obj["Mean (A)"][1] = None
    obj["Quantile Low (A)"][1] = None
    r = results.validate(obj)
    assert r.series["A"].mean == [3.0, None, 1.0]


def test_mean_without_quantiles_is_a_band():
    obj = {"Metric": "M", "T": ["1", "2"], "Mean (A)": [0.1, 0.2]}
    r = results.validate(obj)
    assert r.series["A"].is_band and r.series["A"].low is None
    assert r.to_dict() == obj


def test_canonical_key_order_on_rewrite():
    obj = {"meta": {"preset": "smoke"}, "B": [1.0], "Quantile High (A)": [3.0], "Metric": "M",
           "notes": {"k": "v"}, "Quantile Low (A)": [1.0], "T": ["1"], "Mean (A)": [2.0], "Data": "D"}
    out = results.validate(obj).to_dict()
    assert out == obj
    assert list(out) == ["Data", "Metric", "T", "Mean (A)", "Quantile Low (A)", "Quantile High (A)", "B",
                         "notes", "meta"]


def test_unknown_keys_are_kept(tmp_path):
    obj = sample()
    obj["notes"] = {"source": "hand-made", "list": [1, "two", None]}
    obj["Comment"] = "free text"
    obj["Flag"] = True
    r = results.validate(obj, "u.json")
    assert r.extra == {"notes": obj["notes"]}
    assert r.context == {"Data": "Toy", "Comment": "free text", "Flag": True}
    path = results.write(r, tmp_path / "u.json")
    back = json.loads(path.read_text())
    assert back == obj
    assert list(back)[-1] == "meta" and list(back)[-2] == "notes"


def test_to_dict_does_not_alias():
    r = results.validate(sample())
    out = r.to_dict()
    out["Mean (A)"][0] = 99.0
    out["meta"]["preset"] = "paper"
    assert r.series["A"].mean[0] == 3.0 and r.meta["preset"] == "smoke"


# -- malformed inputs ----------------------------------------------------------------------------

DELETE = object()


def _with(**changes):
    obj = sample()
    for key, value in changes.items():
        key = key.replace("_", " ")
        if value is DELETE:
            del obj[key]
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize("obj,key", [
    pytest.param(_with(Metric=DELETE), "Metric", id="no-metric"),
    pytest.param(_with(Metric=3), "Metric", id="metric-not-string"),
    pytest.param(_with(Metric=""), "Metric", id="metric-empty"),
    pytest.param(_with(VQ_Bitrate=DELETE), "VQ Bitrate", id="no-x-axis"),
    pytest.param({**sample(), "T": ["1", "2", "3"]}, "T", id="two-x-axes"),
    pytest.param(_with(VQ_Bitrate=[4, 8, 12]), "VQ Bitrate", id="x-labels-not-strings"),
    pytest.param(_with(VQ_Bitrate=[]), "VQ Bitrate", id="x-empty"),
    pytest.param(_with(VQ_Bitrate=["4 bits", "4 bits", "8 bits"]), "VQ Bitrate", id="x-duplicate-labels"),
    pytest.param({**sample(), "Mean (A)": [1.0, 2.0]}, "Mean (A)", id="length-mismatch"),
    pytest.param({**sample(), "B": [1.0, 2.0, 3.0, 4.0]}, "'B'", id="plain-length-mismatch"),
    pytest.param({**sample(), "Mean (A)": [1.0, "2.0", 3.0]}, "Mean (A)", id="string-value"),
    pytest.param({**sample(), "B": ["a", "b", "c"]}, "'B'", id="plain-strings"),
    pytest.param({**sample(), "Quantile Low (A)": [1.0, True, 3.0]}, "Quantile Low (A)", id="bool-value"),
    pytest.param({**sample(), "Mean (A)": [1.0, float("nan"), 3.0]}, "Mean (A)", id="nan-value"),
    pytest.param({**sample(), "Mean (A)": [1.0, [2.0], 3.0]}, "Mean (A)", id="nested-list"),
    pytest.param({**sample(), "Mean (A)": 2.0}, "Mean (A)", id="band-not-a-list"),
    pytest.param({**sample(), "Quantile Low (C)": [1.0, 2.0, 3.0], "Quantile High (C)": [1.0, 2.0, 3.0]},
                 "Quantile Low (C)", id="quantile-without-mean"),
    pytest.param({k: v for k, v in sample().items() if k != "Quantile High (A)"}, "Quantile High (A)",
                 id="unpaired-quantile"),
    pytest.param({**sample(), "A": [1.0, 2.0, 3.0]}, "'A'", id="method-both-plain-and-band"),
    pytest.param(_with(meta=[1, 2]), "meta", id="meta-not-object"),
])
def test_malformed_object_names_file_and_key(obj, key):
    with pytest.raises(ResultsError) as info:
        results.validate(obj, "Results/x/Figure 9/bad.json")
    message = str(info.value)
    assert "Results/x/Figure 9/bad.json" in message
    assert key in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text,key", [
    pytest.param('{"Metric": "M", "T": ["1"], "A": [1.0],}', None, id="bad-json"),
    pytest.param('[1, 2, 3]', None, id="not-an-object"),
    pytest.param('{"Metric": "M", "T": ["1"], "A": [1.0], "A": [2.0]}', "A", id="duplicate-key"),
    pytest.param('{"Metric": "M", "T": ["1"], "A": [NaN]}', "A", id="json-nan"),
    pytest.param('{"Metric": "M", "T": ["1"], "A": [Infinity]}', "A", id="json-infinity"),
])
def test_malformed_text_names_file(text, key):
    with pytest.raises(ResultsError) as info:
        results.loads(text, "some/file.json")
    assert "some/file.json" in str(info.value)
    assert info.value.name == "some/file.json" and info.value.key == key
    if key is not None:
        assert repr(key) in str(info.value)


def test_load_names_path(tmp_path):
    bad = tmp_path / "Figure 1" / "broken.json"
    bad.parent.mkdir()
    bad.write_text('{"Metric": "M", "T": ["1", "2"], "Mean (A)": [1.0]}')
    with pytest.raises(ResultsError, match=r"broken\.json.*Mean \(A\)"):
        results.load(bad)
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ResultsError, match="binary.json"):
        results.load(tmp_path / "binary.json")
    with pytest.raises(FileNotFoundError):
        results.load(tmp_path / "absent.json")


def test_empty_series_object_is_refused():
    r = results.validate(sample())
    r.series["C"] = Series()
    with pytest.raises(ResultsError, match="'C'"):
        results.validate(r, "r.json")


# -- writing -------------------------------------------------------------------------------------

def test_write_creates_folders_indent_1_and_no_temporaries(tmp_path):
    target = tmp_path / "Results" / "icassp2023" / "Figure 2" / "toy.json"
    assert results.write(sample(), target) == target
    assert target.read_text().startswith('{\n "Data": "Toy",\n "Metric": "MSE",\n "VQ Bitrate": [\n  "4 bits"')
    assert json.loads(target.read_text()) == sample()
    assert leftovers(target.parent, {"toy.json"}) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_write_uses_result_path(tmp_path):
    r = results.validate(sample())
    r.path = tmp_path / "own.json"
    results.write(r)
    assert results.load(tmp_path / "own.json").to_dict() == sample()
    with pytest.raises(ValueError):
        results.write(sample())


def test_invalid_write_leaves_existing_file(tmp_path):
    target = tmp_path / "keep.json"
    results.write(sample(), target)
    before = target.read_bytes()
    bad = {**sample(), "Mean (A)": [1.0, "x", 3.0]}
    with pytest.raises(ResultsError, match=r"keep\.json.*Mean \(A\)"):
        results.write(bad, target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path, {"keep.json"}) == []


def test_unserializable_meta_is_refused_before_writing(tmp_path):
    target = tmp_path / "keep.json"
    results.write(sample(), target)
    before = target.read_bytes()
    bad = {**sample(), "meta": {"device": object()}}
    with pytest.raises(ResultsError, match="'meta'"):
        results.write(bad, target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path, {"keep.json"}) == []


def test_crash_during_replace_leaves_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.json"
    results.write(sample(), target)
    before = target.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    changed = {**sample(), "Metric": "Other"}
    with pytest.raises(OSError, match="simulated crash"):
        results.write(changed, target)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert leftovers(tmp_path, {"keep.json"}) == []


def test_overwrite_keeps_mode(tmp_path):
    target = tmp_path / "m.json"
    results.write(sample(), target)
    os.chmod(target, 0o600)
    results.write({**sample(), "Metric": "Other"}, target)
    assert target.stat().st_mode & 0o777 == 0o600
    assert results.load(target).metric == "Other"


# -- load_dir and find ---------------------------------------------------------------------------

def test_load_dir_and_find(tmp_path):
    root = tmp_path / "Results"
    results.write(sample(), root / "icassp2023" / "Figure 2" / "toy.json")
    results.write({**sample(), "Metric": "Other"}, root / "icassp2023" / "Figure 3" / "toy.json")
    results.write(sample(), root / "nsvq2022" / "Figure 3" / "toy.json")
    (root / "icassp2023" / "Figure 2" / ".hidden.json").write_text("not json")
    tree = results.load_dir(root)
    assert list(tree) == ["icassp2023/Figure 2/toy.json", "icassp2023/Figure 3/toy.json", "nsvq2022/Figure 3/toy.json"]
    assert tree["icassp2023/Figure 3/toy.json"].metric == "Other"
    assert results.find(root, 2, "toy").path == root / "icassp2023" / "Figure 2" / "toy.json"
    assert results.find(root / "icassp2023", "Figure 3", "toy.json").metric == "Other"
    assert results.find(root / "icassp2023", "3", "toy").metric == "Other"
    with pytest.raises(ValueError, match="ambiguous"):
        results.find(root, 3, "toy")
    with pytest.raises(FileNotFoundError):
        results.find(root, 7, "toy")
    with pytest.raises(NotADirectoryError):
        results.load_dir(tmp_path / "absent")


def test_load_dir_refuses_a_broken_file(tmp_path):
    results.write(sample(), tmp_path / "Figure 1" / "good.json")
    (tmp_path / "Figure 1" / "bad.json").write_text('{"Metric": "M"}')
    with pytest.raises(ResultsError, match="bad.json"):
        results.load_dir(tmp_path)


# -- summarize and make_meta ---------------------------------------------------------------------

def test_summarize_pooled():
    s = result_meta.summarize(list(range(101)))
    assert s == (50.0, 5.0, 95.0)
    assert all(type(v) is float for v in s)
    s = result_meta.summarize(np.arange(101.0), quantiles=(0.25, 0.75))
    assert (s.low, s.high) == (25.0, 75.0)


def test_summarize_along_axis_feeds_a_series():
    items = np.stack([np.arange(101.0), 2 * np.arange(101.0)], axis=1)  # 101 items x 2 bitrates
    s = result_meta.summarize(items, axis=0)
    assert s.mean == [50.0, 100.0] and s.low == [5.0, 10.0] and s.high == [95.0, 190.0]
    r = ResultFile(metric="M", x_key="VQ Bitrate", x=["4 bits", "8 bits"],
                   series={"A": Series(mean=s.mean, low=s.low, high=s.high)})
    assert results.validate(r).series["A"].high == [95.0, 190.0]


def test_summarize_accepts_tensor():
    torch = pytest.importorskip("torch")
    assert result_meta.summarize(torch.arange(101.0)).mean == 50.0


@pytest.mark.parametrize("samples,quantiles", [
    ([], (0.05, 0.95)), ([1.0, float("nan")], (0.05, 0.95)), ([1.0, 2.0], (0.9, 0.1)), ([1.0], (0.5,)),
    ([1.0], (-0.1, 0.5)),
])
def test_summarize_refuses_bad_input(samples, quantiles):
    with pytest.raises(ValueError):
        result_meta.summarize(samples, quantiles=quantiles)


def test_make_meta():
    meta = result_meta.make_meta("smoke", range(3), "cpu", (0.05, 0.95), "test items", data="toy", wall_time_s=1.5)
    assert meta["preset"] == "smoke" and meta["seeds"] == [0, 1, 2] and meta["device"] == "cpu"
    assert meta["quantiles"] == [0.05, 0.95] and meta["over"] == "test items"
    assert meta["data"] == "toy" and meta["wall_time_s"] == 1.5
    versions = meta["versions"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["numpy"] == np.__version__ and versions["vqcore"]
    assert set(versions) >= {"python", "torch", "numpy", "vqcore"}
    date = dt.datetime.fromisoformat(meta["date"])
    assert date.utcoffset() == dt.timedelta(0)
    json.dumps(meta)  # writable as it is
    r = results.validate({**sample(), "meta": meta})
    assert r.meta == meta
    with pytest.raises(ValueError, match="date"):
        result_meta.make_meta("smoke", [0], "cpu", date="yesterday")
    with pytest.raises(ValueError):
        result_meta.make_meta("smoke", [0], "cpu", quantiles=(0.95, 0.05))


def test_module_imports_no_pandas_until_needed():
    """Loading and validating results does not import pandas (only to_frame needs it)."""
    code = (
        "import sys, vqcore.io.results as r\n"
        "r.loads('{\"Metric\": \"M\", \"T\": [\"1\"], \"A\": [1.0]}', 'x')\n"
        "assert 'pandas' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- hostile files (issue 13): every class is a ResultsError naming the file and the key -----------

BASE = '{"Metric": "M", "T": ["1", "2"], "A": [1.0, 2.0]'


def _refused(text: str, tmp_path: Path, key: str | None) -> ResultsError:
    """``text`` written to a file is refused by load and by loads, naming the file and ``key``."""
    path = tmp_path / "Figure 9" / "hostile.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        results.load(path)
    assert info.value.name == str(path) and str(path) in str(info.value)
    assert info.value.key == key
    if key is not None:
        assert repr(key) in str(info.value)
    with pytest.raises(ResultsError) as again:
        results.loads(text, "named.json")
    assert again.value.name == "named.json" and again.value.key == key
    return info.value


@pytest.mark.parametrize("text,key", [
    pytest.param(BASE + ', "B": [1' + "0" * 400 + ', 2]}', "B", id="series-400-digits"),
    pytest.param(BASE + ', "B": [' + "9" * 309 + ', 2]}', "B", id="series-309-digits-over-float-max"),
    pytest.param(BASE + ', "Data": -' + "7" * 350 + '}', "Data", id="context"),
    pytest.param(BASE + ', "meta": {"n": [' + "1" * 320 + ']}}', "meta", id="meta"),
])
def test_an_integer_too_large_for_a_float_is_refused(text, key, tmp_path):
    assert "integer" in str(_refused(text, tmp_path, key))
    with pytest.raises(ResultsError, match="'B'"):  # and the same from Python objects
        results.validate({"Metric": "M", "T": ["1"], "B": [10 ** 400]}, "obj.json")


@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
@pytest.mark.parametrize("where,key", [("series", "B"), ("extra", "notes")])
def test_more_than_4300_digits_are_refused_by_name(digits, where, key, tmp_path):
    number = "3" * digits
    text = BASE + (f', "B": [{number}, 1]}}' if where == "series" else f', "notes": {{"n": -{number}}}}}')
    error = _refused(text, tmp_path, key)
    assert f"{digits} digits" in str(error)


@pytest.mark.parametrize("text,key", [
    pytest.param("[" * 100_000 + "]" * 100_000, None, id="parser-recursion-list"),
    pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, None, id="parser-recursion-object"),
    pytest.param(BASE + ', "meta": ' + "[" * 200 + "]" * 200 + "}", "meta", id="meta-200-deep"),
    pytest.param(BASE + ', "notes": ' + '{"a": ' * 65 + "1" + "}" * 65 + "}", "notes", id="extra-65-deep"),
])
def test_deep_nesting_is_refused_by_name(text, key, tmp_path):
    assert f"more than {results.MAX_DEPTH} levels" in str(_refused(text, tmp_path, key))


def test_deep_and_cyclic_python_objects_are_refused_by_name(tmp_path):
    ok = {"Metric": "M", "T": ["1"], "B": [1.0], "meta": {"a": [[[[[[{"b": 1}]]]]]]}}
    assert results.validate(ok).meta == ok["meta"]  # our own files nest 6 levels: well inside
    deep: list = []
    node = deep
    for _ in range(5000):
        node.append([])
        node = node[0]
    cyclic: dict = {}
    cyclic["self"] = cyclic
    for bad in (deep, cyclic):
        with pytest.raises(ResultsError, match=r"c\.json: key 'meta'.*levels deep"):
            results.validate({**ok, "meta": {"x": bad}}, "c.json")
        r = results.validate(ok)
        r.meta = {"x": bad}
        with pytest.raises(ResultsError, match=r"w\.json: key 'meta'.*levels deep"):
            results.write(r, tmp_path / "w.json")
    assert not (tmp_path / "w.json").exists()


@pytest.mark.parametrize("text,key", [
    pytest.param(BASE + ', "notes": {"a": NaN}}', "notes", id="nan-in-extra"),
    pytest.param(BASE + ', "notes": {"a": [1, {"b": -Infinity}]}}', "notes", id="deep-infinity-in-extra"),
    pytest.param(BASE + ', "Data": Infinity}', "Data", id="infinity-in-context"),
    pytest.param(BASE + ', "meta": {"wall_time_s": NaN}}', "meta", id="nan-in-meta"),
    pytest.param(BASE + ', "meta": {"x": 1e400}}', "meta", id="float-overflow-in-meta"),
    pytest.param(BASE + ', "B": [2e308, 1]}', "B", id="float-overflow-in-series"),
])
def test_non_finite_numbers_are_refused_anywhere_at_load(text, key, tmp_path):
    error = _refused(text, tmp_path, key)
    assert "finite" in str(error)


def test_what_loads_can_be_written_back_and_non_finite_objects_are_refused_before_writing(tmp_path):
    target = tmp_path / "keep.json"
    results.write(sample(), target)
    before = target.read_bytes()
    for bad in ({**sample(), "notes": {"a": math.nan}}, {**sample(), "Data": math.inf},
                {**sample(), "meta": {"x": [-math.inf]}}):
        with pytest.raises(ResultsError, match=r"keep\.json: key '(notes|Data|meta)'.*finite"):
            results.validate(bad, str(target))
        with pytest.raises(ResultsError, match=r"keep\.json: key '(notes|Data|meta)'.*finite"):
            results.write(bad, target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path, {"keep.json"}) == []


def test_the_methods_keep_their_order_through_write_and_load(tmp_path):
    # a plain list before a band, bands in the file's order C, A, plain lists Z, B
    text = json.dumps({"Metric": "M", "T": ["1", "2"], "Z": [1, 2], "Mean (C)": [1, 2], "B": [3, None],
                       "Quantile High (A)": [3, 4], "Mean (A)": [2, 3], "Quantile Low (A)": [1, 2]})
    (tmp_path / "f.json").write_text(text)
    first = results.load(tmp_path / "f.json")
    assert first.methods == ["C", "A", "Z", "B"]
    second = results.load(results.write(first, tmp_path / "g.json"))
    assert second.methods == first.methods and second.series == first.series
    third = results.load(results.write(second, tmp_path / "h.json"))
    assert (tmp_path / "g.json").read_bytes() == (tmp_path / "h.json").read_bytes()
    assert third.methods == first.methods
    # a ResultFile made in code: validate gives the order that write and load keep
    made = ResultFile(metric="M", x_key="T", x=["1"], series={"P": Series(values=[1.0]), "Q": Series(mean=[2.0])})
    order = results.validate(made).methods
    assert order == ["Q", "P"] and results.load(results.write(made, tmp_path / "m.json")).methods == order


def test_write_removes_stale_temporaries_of_that_result(tmp_path):
    pytest.importorskip("fcntl")
    target = tmp_path / "toy.json"
    stale = tmp_path / ".toy.json.0123456789abcdef.tmp"
    stale.write_text('{"Metric": "M", "T": ["1"], "A": [1')  # cut short by a kill
    os.utime(stale, (0, 0))
    fresh = tmp_path / ".toy.json.fedcba9876543210.tmp"
    fresh.write_text("{")  # a writer may be between creating and locking it
    results.write(sample(), target)
    assert not stale.exists() and fresh.exists()
    assert results.load(target).to_dict() == sample()


@pytest.mark.parametrize("change,key", [
    pytest.param({"x": "4 bits"}, None, id="x-not-a-list"),
    pytest.param({"x_key": ["VQ Bitrate"]}, None, id="x-key-not-a-string"),
    pytest.param({"series": [("A", Series(values=[1.0]))]}, None, id="series-not-a-dict"),
    pytest.param({"series": {"A": [1.0, 2.0, 3.0]}}, "A", id="series-item-not-a-series"),
    pytest.param({"series": {"A": Series(values="123")}}, "A", id="values-a-string"),
    pytest.param({"context": ["Toy"]}, None, id="context-not-a-dict"),
    pytest.param({"context": {"Data": [1.0, 2.0, 3.0]}}, "Data", id="context-holding-a-list"),
    pytest.param({"context": {"B": "shadowed"}}, "B", id="context-key-is-a-method"),
    pytest.param({"context": {"Metric": "other"}}, "Metric", id="context-key-is-metric"),
    pytest.param({"extra": {"notes": "not an object"}}, "notes", id="extra-not-an-object"),
    pytest.param({"extra": {"Mean (A)": {"k": 1}}}, "Mean (A)", id="extra-key-is-a-band"),
    pytest.param({"meta": {"seeds": {1: "int key"}}}, "meta", id="meta-int-key"),
    pytest.param({"meta": ("not", "a", "dict")}, None, id="meta-not-a-dict"),
])
def test_a_result_file_with_wrong_fields_is_refused_by_name(change, key, tmp_path):
    r = results.validate(sample())
    for attr, value in change.items():
        setattr(r, attr, value)
    target = tmp_path / "rf.json"
    for call in (lambda: results.validate(r, str(target)), lambda: results.write(r, target)):
        with pytest.raises(ResultsError) as info:
            call()
        assert info.value.name == str(target) and str(target) in str(info.value)
        assert info.value.key == key
    assert not target.exists()


def test_an_x_label_too_large_for_a_float_is_refused_by_x_values():
    r = results.validate({"Metric": "M", "T": ["1e999 bits", "2 bits"], "A": [1.0, 2.0]})
    with pytest.raises(ResultsError, match="'T'.*label 0.*too large"):
        r.x_values()


@pytest.mark.parametrize("path", [5, b"bytes.json", "", ["a.json"]])
def test_write_refuses_a_path_that_is_not_one(path):
    with pytest.raises(ValueError, match="path"):
        results.write(sample(), path)


@pytest.mark.parametrize("text", [b'{"Metric": "M", "T": ["1"], "A": [\xff]}', 3.5, None])
def test_loads_refuses_what_is_not_text_by_name(text):
    with pytest.raises(ResultsError, match="given.json"):
        results.loads(text, "given.json")


def test_the_format_and_the_file_functions_live_in_two_modules_and_import_as_before():
    from vqcore.io import result_format

    for name in ("ResultFile", "ResultsError", "Series", "X_KEYS", "parse_label", "validate", "METRIC_KEY", "META_KEY"):
        assert getattr(results, name) is getattr(result_format, name), name
    for name in results.__all__:
        assert hasattr(results, name), name
    assert not hasattr(result_format, "write") and not hasattr(result_format, "load")
    assert "atomic" not in vars(result_format) and "json" not in vars(result_format)  # it reads and writes nothing
