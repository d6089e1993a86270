"""vqcore.experiments.toy_sources: the data-hypothesis study end to end at the smoke scale, resume,
the summary recomputed from the files, the Gaussian bound; the authors' preset and fresh data."""
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from vqcore.data.toy_sources import SourceSampler
from vqcore.experiments import toy, toy_sources
from vqcore.experiments.common import PRESET_NAMES, get_preset
from vqcore.experiments.toy_presets import AUTHORS_PRESET, FIG2A_SOURCE, TOY_PRESETS
from vqcore.io import results

REFERENCE = Path(__file__).resolve().parents[2] / "reference"
SMOKE = get_preset(TOY_PRESETS, "smoke")


def _study(tmp_path: Path, **kw) -> list[Path]:
    return toy_sources.run_study("smoke", tmp_path, sources=["uniform", "ar1"], rates=(12, 16),
                                 uncorrelated_dims=(64,), progress=False, **kw)


@pytest.mark.slow
def test_the_study_writes_files_resumes_and_its_summary_is_the_files_numbers(tmp_path, monkeypatch):
    written = _study(tmp_path)
    assert [p.name for p in written] == ["uniform_d64.json", "ar1_d64.json"]
    assert all(p.parent == tmp_path / "icassp2023" / "toy_sources" / "smoke" for p in written)
    ours = results.load(written[0])
    assert ours.metric == "MSE" and ours.x == ["12 bits", "16 bits"] and set(ours.series) == {"AVQ", "RVQ", "PVQ"}
    assert ours.meta["source"] == "uniform" and ours.meta["preset"] == "smoke" and ours.meta["seeds"] == [0]
    assert ours.meta["budget"]["RVQ"]["steps"] == SMOKE.steps
    assert len(list((tmp_path / ".runs" / "toy_sources" / "smoke").glob("*.json"))) == 12

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(toy, "train_and_evaluate", no_training)
    again = _study(tmp_path)
    assert results.load(again[0]).series["PVQ"].mean == ours.series["PVQ"].mean

    rows = toy_sources.summary(tmp_path, REFERENCE, "smoke")
    assert {(r["figure"], r["source"]) for r in rows} == {("2a", "ar1"), ("2b", "uniform")} and len(rows) == 6
    for r in rows:
        mine = json.loads((tmp_path / "icassp2023" / "toy_sources" / "smoke" / f"{r['source']}_d64.json").read_text())
        fig = "Figure 2/correlated_dataset_Fig2-a.json" if r["kind"] == "correlated" else \
            "Figure 2/uncorrelated_dataset_Fig2-b.json"
        paper = json.loads((REFERENCE / "icassp2023" / fig).read_text())
        key = f"Mean ({r['method']})"
        assert r["ours"] == pytest.approx(mine[key][1] / mine[key][0], rel=1e-12)
        i, j = paper["VQ Bitrate"].index("12 bits"), paper["VQ Bitrate"].index("16 bits")
        assert r["paper"] == pytest.approx(paper[key][j] / paper[key][i], rel=1e-12)
        assert r["rel_diff"] == pytest.approx(r["ours"] / r["paper"] - 1)
        assert r["within_2pct"] == (abs(r["rel_diff"]) <= 0.02)
    best = toy_sources.closest(rows)
    assert best["2b"]["source"] == "uniform" and best["2a"]["source"] == "ar1"


def test_gaussian_bound_and_closest():
    assert toy_sources.gaussian_rd_mse([1.0] * 64, 40) == pytest.approx(64 * 2 ** (-80 / 64), rel=1e-9)
    assert toy_sources.rd_fall("gaussian", 128, 12, 40) == pytest.approx(2 ** (-56 / 128), rel=1e-9)
    # reverse water-filling: a component below the level gets no bits and keeps its variance
    assert toy_sources.gaussian_rd_mse([4.0, 1e-6], 1) == pytest.approx(1.0 + 1e-6, rel=1e-6)
    rows = [{"figure": "3", "source": s, "method": m, "dim": 64, "rel_diff": d}
            for s, m, d in (("a", "AVQ", 0.1), ("a", "RVQ", -0.01), ("b", "AVQ", 0.05))]
    best = toy_sources.closest(rows)["3"]
    assert best["source"] == "b" and best["points"] == [("AVQ", 64)]  # scored on the points both sources have
    rows.append({"figure": "3", "source": "b", "method": "RVQ", "dim": 64, "rel_diff": 0.5})
    assert toy_sources.closest(rows)["3"]["source"] == "a"
    with pytest.raises(ValueError, match="eigenvalues"):
        toy_sources.gaussian_rd_mse([-1.0], 4)


def test_bad_study_arguments_raise():
    with pytest.raises(ValueError, match="source must be one of"):
        toy_sources.planned_runs(["cauchy"], toy_sources.study_preset("smoke"))
    with pytest.raises(ValueError, match="methods"):
        toy_sources.planned_runs(["gaussian"], toy_sources.study_preset("smoke"), methods=("SQ",))
    with pytest.raises(ValueError, match="rates"):
        toy_sources.study_preset("smoke", rates=(13,))
    with pytest.raises(ValueError, match="preset"):
        toy_sources.study_preset("huge")


def test_planned_runs_put_each_kind_at_its_dimensions():
    keys = toy_sources.planned_runs(["gaussian", "factor"], toy_sources.study_preset("smoke", (12, 40)))
    dims = {(k.data, k.dim) for k in keys}
    assert dims == {("gaussian", 64), ("gaussian", 128), ("gaussian", 256), ("factor", 64)}
    first = [k.method for k in keys if k.data == "gaussian" and k.dim == 64 and k.bits == 12]
    assert first == ["RVQ", "PVQ", "AVQ"]


def test_the_authors_preset_follows_their_recipe_and_stays_off_the_command_line():
    p = AUTHORS_PRESET
    assert (p.steps, p.batch_size, p.lr, p.replace_every, p.finetune_fraction) == (20000, 64, 1e-3, 1000, 0.0)
    assert p.replace_until * p.steps == p.steps - 2000 and p.num_test == 2 ** 18
    assert p.fresh_data and p.init == "uniform" and p.avq_init == "scratch"
    assert "authors" not in TOY_PRESETS and set(TOY_PRESETS) == set(PRESET_NAMES)
    assert p.as_dict()["fresh_data"] is True and p.training_settings("RVQ")["fresh_data"] is True


def test_default_data_fields_leave_settings_unchanged_and_bad_ones_raise():
    for p in TOY_PRESETS.values():
        assert p.data_settings() == {"correlated_source": FIG2A_SOURCE}
        assert not {"fresh_data", "uncorrelated_source"} & set(p.as_dict())
        assert "source" not in toy.run_settings(toy.RunKey("uncorrelated", 64, "RVQ", 12, 0), p)
        assert toy.run_settings(toy.RunKey("correlated", 64, "RVQ", 12, 0), p)["source"] == FIG2A_SOURCE
    moved = dataclasses.replace(SMOKE, uncorrelated_source="uniform")
    assert toy.run_settings(toy.RunKey("uncorrelated", 64, "PVQ", 12, 0), moved)["source"] == "uniform"
    assert "uncorrelated_source" not in moved.own_settings()
    with pytest.raises(ValueError, match="uncorrelated_source"):
        dataclasses.replace(SMOKE, uncorrelated_source="factor")
    with pytest.raises(ValueError, match="correlated_source"):
        dataclasses.replace(SMOKE, correlated_source="nope")


def test_fresh_data_trains_on_a_sampler_and_keeps_a_fixed_test_set(tmp_path):
    fresh = dataclasses.replace(SMOKE, fresh_data=True, uncorrelated_source="uniform", num_test=64)
    data = toy.toy_data("uncorrelated", 8, 0, fresh)
    assert isinstance(data.train, SourceSampler) and data.train.name == "uniform"
    assert torch.equal(data.test, toy.toy_data("uncorrelated", 8, 0, fresh).test) and data.test.shape == (64, 8)
    today = toy.toy_data("uncorrelated", 8, 0, SMOKE)
    assert isinstance(today.train, torch.Tensor) and today.train.shape == (SMOKE.num_train, 8)
    key = toy.RunKey("uniform", 8, "RVQ", 8, 0)
    record, _ = toy.train_and_evaluate(key, fresh, data.train, data.test, torch.device("cpu"))
    assert math.isfinite(record["mse"]) and record["mse"] < float((data.test ** 2).sum(1).mean())
    written = toy_sources.run_study(fresh, tmp_path, sources=["uniform"], rates=(12,), methods=("PVQ",),
                                    uncorrelated_dims=(64,), progress=False)
    meta = results.load(written[0]).meta
    assert meta["data"]["fresh_data"] is True and meta["data"]["num_train"] is None


def test_a_run_of_one_method_adds_its_curve_and_keeps_the_others(tmp_path):
    def study(methods, preset=SMOKE):
        (path,) = toy_sources.run_study(preset, tmp_path, sources=["uniform"], rates=(12,), methods=methods,
                                        uncorrelated_dims=(8,), progress=False)
        return path, results.load(path)

    path, first = study(("PVQ",))
    assert set(first.series) == {"PVQ"} and set(first.meta["compute_seconds_by_method"]) == {"PVQ"}
    _, both = study(("RVQ",))
    assert list(both.series) == ["RVQ", "PVQ"] and both.series["PVQ"].mean == first.series["PVQ"].mean
    assert both.meta["budget"]["PVQ"] == first.meta["budget"]["PVQ"]
    by = both.meta["compute_seconds_by_method"]
    assert set(by) == {"RVQ", "PVQ"} and both.meta["compute_seconds"] == pytest.approx(by["RVQ"] + by["PVQ"], abs=1e-3)
    # a file from before per-method seconds: its sum is carried while all its curves are kept
    legacy = dict(both.meta, compute_seconds=5.0)
    del legacy["compute_seconds_by_method"]
    results.write(dataclasses.replace(both, meta=legacy), path)
    _, added = study(("AVQ",))
    assert list(added.series) == ["AVQ", "RVQ", "PVQ"]
    assert added.meta["compute_seconds_unattributed"] == {"methods": ["PVQ", "RVQ"], "seconds": 5.0}
    avq_seconds = added.meta["compute_seconds_by_method"]["AVQ"]
    assert added.meta["compute_seconds"] == pytest.approx(5.0 + avq_seconds, abs=1e-3)
    # curves made with other training settings are dropped, not mixed in
    other = dataclasses.replace(SMOKE, steps=SMOKE.steps + 1)
    _, replaced = study(("AVQ",), other)
    assert list(replaced.series) == ["AVQ"] and "compute_seconds_unattributed" not in replaced.meta
    assert toy_sources.kept_methods(path, 8, toy_sources.study_preset(SMOKE, (12,)), ("RVQ",)) == ({}, None)


def _file(source: str, values: dict[str, list[float]]) -> results.ResultFile:
    series = {m: results.Series(mean=v, low=v, high=v) for m, v in values.items()}
    return results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=["12 bits", "40 bits"], series=series,
                              context={"Data Source": source, "Data Dimension": "64"}, meta={"source": source})


def test_the_plots_draw_every_source_and_the_table_has_the_rows():
    import matplotlib

    matplotlib.use("Agg")
    from vqcore.plotting import toy_sources as plots

    files = {"gaussian": _file("gaussian", {"RVQ": [50.0, 30.0]}), "uniform": _file("uniform", {"RVQ": [50.0, 25.0],
                                                                                                 "PVQ": [50.0, 26.0]})}
    paper = _file("paper", {"RVQ": [60.0, 33.0], "PVQ": [60.0, 31.0]})
    fig = plots.plot_source_panels(files, paper, bound=([12, 40], [1.0, 0.55]))
    rvq, pvq = fig.axes[:2]
    assert [line.get_label() for line in rvq.lines] == ["gaussian", "uniform", "paper", "Gaussian bound"]
    assert [line.get_label() for line in pvq.lines] == ["uniform", "paper", "Gaussian bound"]
    assert list(rvq.lines[1].get_ydata()) == [1.0, 0.5]
    rows = [{"figure": "2b", "dim": 64, "source": "uniform", "method": "RVQ", "ours": 0.5, "paper": 0.55,
             "rel_diff": 0.5 / 0.55 - 1, "rd_fall": 0.545}]
    table = plots.fall_table(rows)
    assert table.loc[("2b", 64, "uniform", "RVQ"), "ours/paper - 1 (%)"] == pytest.approx(100 * (0.5 / 0.55 - 1))


def test_a_source_spec_with_parameters_runs_and_is_told_apart():
    p = toy_sources.study_preset("smoke", (12,))
    keys = toy_sources.planned_runs(["powerlaw@alpha=3", "powerlaw"], p, methods=("PVQ",))
    assert [k.name for k in keys] == ["powerlaw@alpha=3-d64-PVQ-12b-s0", "powerlaw-d64-PVQ-12b-s0"]
    steep, flat = (toy.toy_data(k.data, 64, 0, p).test for k in keys)
    spread = [float(torch.linalg.eigvalsh(torch.cov(x.T.double()))[-1]) for x in (steep, flat)]
    assert spread[0] > spread[1]  # alpha = 3 puts more of the energy into the first direction
    assert toy_sources.rd_fall("powerlaw@alpha=3", 64, 12, 40) < toy_sources.rd_fall("powerlaw", 64, 12, 40)
    assert toy_sources.source_kind("ar1@rho=0.99") == "correlated"


def test_the_command_line_runs_a_small_study(tmp_path):
    assert toy_sources.split_sources("uniform,factor@rank=8,noise_var=0.001,ar1") == [
        "uniform", "factor@rank=8,noise_var=0.001", "ar1"]
    code = toy_sources.main(["--preset", "smoke", "--results-dir", str(tmp_path), "--reference-dir", str(REFERENCE),
                             "--sources", "uniform", "--rates", "12", "--methods", "PVQ",
                             "--uncorrelated-dims", "64", "--no-progress"])
    assert code == 0
    result = results.load(tmp_path / "icassp2023" / "toy_sources" / "smoke" / "uniform_d64.json")
    assert list(result.series) == ["PVQ"] and result.x == ["12 bits"]
