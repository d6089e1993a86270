"""vqcore.io.tagged_json: summaries tagged with their format, written atomically and refused when malformed."""
from __future__ import annotations

import pytest

from vqcore.io.tagged_json import read_tagged, write_tagged


def test_a_tagged_file_reads_back_what_was_written(tmp_path):
    data = {"meta": {"format": "demo/1"}, "values": [1.5, None, "x"]}
    path = write_tagged(tmp_path / "deep" / "demo.json", data)
    assert path == tmp_path / "deep" / "demo.json" and path.read_text(encoding="utf-8").endswith("\n")
    assert read_tagged(path, "demo/1", "demo summary") == data
    assert read_tagged(tmp_path / "none.json", "demo/1", "demo summary") == {}


@pytest.mark.parametrize("text, reason", [("{not json", "not a demo summary ("),
                                          ('{"meta": {"format": "other/1"}}', "meta.format is not 'demo/1'"),
                                          ('{"meta": "demo/1"}', "meta.format is not 'demo/1'"),
                                          ("[1, 2]", "meta.format is not 'demo/1'")])
def test_a_malformed_file_is_named(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not a demo summary") as err:
        read_tagged(path, "demo/1", "demo summary")
    assert reason in str(err.value)


def test_nan_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError):
        write_tagged(tmp_path / "nan.json", {"meta": {"format": "demo/1"}, "x": float("nan")})
    assert not (tmp_path / "nan.json").exists()
