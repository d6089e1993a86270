"""vqcore.experiments.rerun_check: a re-run against the record, in tmp folders with made-up result files:
how far the numbers moved, the cost of each side, the call's span, what is kept, and the errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vqcore.cli import main
from vqcore.experiments import registry, rerun_check
from vqcore.io import results

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
X = ["12 bits", "16 bits"]


def _write(root: Path, figure_id: str, scale: float = 1.0, *, seconds: float = 60.0, wall: float = 100.0,
           date: str = "2026-12-04T10:00:00+00:00") -> Path:
    """Figure ``figure_id``'s result file: AVQ at [3, 1.5], RVQ at [4, 2] (both times ``scale``) and PVQ at [8, 4]."""
    series = {"AVQ": results.Series(mean=[3.0 * scale, 1.5 * scale], low=[2.0, 1.0], high=[4.0, 2.0]),
              "RVQ": results.Series(mean=[4.0 * scale, 2.0 * scale], low=[3.0, 1.0], high=[5.0, 3.0]),
              "PVQ": results.Series(mean=[8.0, 4.0], low=[7.0, 3.0], high=[9.0, 5.0])}
    meta = {"preset": "quick", "device": "cpu", "seeds": [0, 1], "compute_seconds": seconds, "wall_time_s": wall,
            "date": date, "data": {"figure": figure_id}, "settings": {"bitrates": [12, 16]},
            "versions": {"torch": "2.13.0+cpu"}, "figure": figure_id, "paper": "icassp2023"}
    result = results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=list(X), series=series, meta=meta)
    return results.write(result, registry.result_path(root, figure_id))


@pytest.fixture
def folders(tmp_path):
    record, rerun = tmp_path / "record", tmp_path / "rerun"
    _write(record, "2a", seconds=600.0)
    _write(record, "2b", seconds=300.0)
    _write(rerun, "2a", 1.02, seconds=240.0, wall=250.0, date="2026-12-04T10:05:00+00:00")
    _write(rerun, "2b", seconds=120.0, wall=60.0, date="2026-12-04T10:01:00+00:00")
    return record, rerun


def test_moved_is_the_median_and_largest_log_ratio_over_the_matched_points(folders):
    record, rerun = folders
    before = {"f": results.load(registry.result_path(record, "2a"))}
    after = {"f": results.load(registry.result_path(rerun, "2a"))}
    out = rerun_check.moved(before, after)
    # AVQ and RVQ moved by 2 % at both rates, PVQ not at all: the median of (0, 0, and four times ln 1.02)
    assert out["points"] == 6
    assert out["max"] == pytest.approx(math.log(1.02))
    assert out["median"] == pytest.approx(math.log(1.02))
    assert rerun_check.moved(after, before)["max"] == pytest.approx(math.log(1.02))
    assert rerun_check.moved(before, {"other": after["f"]}) == {"median": None, "max": None, "points": 0}


def test_compare_costs_each_side_and_spans_the_rerun_call(folders):
    record, rerun = folders
    summary = rerun_check.compare(record, rerun, machine_info={"processor": "test", "cores": 2}, command="made up")
    assert summary["meta"]["figures"] == ["2a", "2b"]  # 3 and the rest have no files
    fig = summary["figures"]["2a"]
    assert fig["compute_seconds"] == {"record": 600.0, "rerun": 240.0}
    assert fig["runs"] == {"record": 2 * 3 * 2, "rerun": 12}  # seeds x methods x rates
    assert fig["findings"] is None  # no reference folder given
    assert summary["figures"]["2b"]["moved"]["max"] == 0.0
    assert summary["total"]["rerun"]["compute_seconds"] == 360.0
    # 2b's file was written at 10:01:00 after 60 s, 2a's at 10:05:00 after 250 s: from 2b's start to 2a's end
    call = summary["meta"]["call"]
    assert call == {"started": "2026-12-04T10:00:00+00:00", "finished": "2026-12-04T10:05:00+00:00",
                    "wall_seconds": 300.0}
    assert summary["meta"]["machine"] == {"processor": "test", "cores": 2}
    assert summary["meta"]["versions"] == {"torch": "2.13.0+cpu"} and summary["meta"]["command"] == "made up"
    table = rerun_check.markdown(summary)
    assert "| 2a | icassp2023 | 10.0 | 4.0 | 0.0198 | 0.0198 | – | – |" in table
    assert "**15.0**" in table and "**6.0**" in table


def test_findings_of_both_sides_come_from_the_fidelity_report(folders):
    record, rerun = folders
    fig = rerun_check.compare(record, rerun, REFERENCE, figures=["2a"])["figures"]["2a"]
    held, checked = fig["findings"]["record"]
    assert checked >= 1 and 0 <= held <= checked
    assert fig["findings"]["rerun"] == fig["findings"]["record"]  # 2 % on AVQ and RVQ keeps every order


def test_store_keeps_the_rerun_files_so_the_comparison_can_be_made_again(folders):
    record, rerun = folders
    path = rerun_check.store(record, rerun, "quick", machine_info={"processor": "test"})
    assert path == record / ".rerun" / "quick.json"
    kept = record / ".rerun" / "quick"
    for fid in ("2a", "2b"):
        assert registry.result_path(kept, fid).read_bytes() == registry.result_path(rerun, fid).read_bytes()
    again = rerun_check.compare(record, kept, machine_info={"processor": "test"})
    stored = rerun_check.read(path)
    assert stored["figures"] == json.loads(json.dumps(again["figures"]))
    # the kept files are in a hidden folder: the record's loader does not see them
    assert not any(rel.startswith(".rerun") for rel in results.load_dir(record))


def test_bad_input_is_named(folders, tmp_path):
    record, rerun = folders
    with pytest.raises(ValueError, match="rerun_dir"):
        rerun_check.compare(record, tmp_path / "nowhere")
    with pytest.raises(ValueError, match="figures: 3 lack result files"):
        rerun_check.compare(record, rerun, figures=["2a", "3"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no figure"):
        rerun_check.compare(record, tmp_path / "empty")
    with pytest.raises(ValueError, match="name must be a plain file name"):
        rerun_check.rerun_path(record, "../quick")
    bad = tmp_path / "bad.json"
    bad.write_text('{"meta": {"format": "other"}}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not a re-run comparison"):
        rerun_check.read(bad)
    assert rerun_check.read(tmp_path / "none.json") == {}
    date = registry.result_path(rerun, "2b")
    data = json.loads(date.read_text(encoding="utf-8"))
    data["meta"]["date"] = "yesterday"
    date.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="Figure 2/uncorrelated_dataset_Fig2-b.json: meta.date 'yesterday'"):
        rerun_check.compare(record, rerun)


def test_cli_writes_the_comparison_and_prints_the_table(folders, capsys):
    record, rerun = folders
    code = main(["rerun-check", str(rerun), "--results-dir", str(record), "--reference-dir", str(REFERENCE),
                 "--figures", "2a", "--command", "vqcore reproduce --jobs 2", "--notes", "caches kept"])
    out = capsys.readouterr().out
    assert code == 0 and "| 2a | icassp2023 | 10.0 | 4.0 |" in out
    meta = rerun_check.read(record / ".rerun" / "quick.json")["meta"]
    assert meta["command"] == "vqcore reproduce --jobs 2" and meta["notes"] == "caches kept"
    assert main(["rerun-check", str(rerun / "missing"), "--results-dir", str(record)]) == 2
    assert "rerun_dir" in capsys.readouterr().err
    assert main(["rerun-check", str(rerun), "--results-dir", str(record), "--figures", "3"]) == 2
    assert "figures: 3 lack result files" in capsys.readouterr().err
