"""vqcore.experiments.timing: the cost of each figure from its result files' meta, in a tmp results
folder with made-up meta: the sums, shared runs counted once, the run counts, and the errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vqcore.experiments import registry, timing
from vqcore.io import results

X = ["12 bits", "16 bits"]


def _write(root: Path, figure_id: str, index: int = 0, *, methods=("AVQ", "RVQ"), **meta) -> Path:
    """A small band result file of ``figure_id`` under ``root`` with ``meta``."""
    series = {m: results.Series(mean=[2.0, 1.0], low=[1.5, 0.5], high=[2.5, 1.5]) for m in methods}
    result = results.ResultFile(metric="MSE", x_key="VQ Bitrate", x=list(X), series=series, meta=dict(meta))
    return results.write(result, registry.result_path(root, figure_id, index))


def _toy(root: Path, *, wall: float = 100.0, seconds=(10.0, 20.0, 30.0, 40.0)) -> None:
    """Figures 2a, 2b and 3 as the toy runner writes them: one call (one wall time); 2b's runs are
    Figure 3's D = 64 runs (the same compute seconds and data)."""
    common = {"preset": "quick", "device": "cpu", "seeds": [0, 1, 2], "wall_time_s": wall,
              "settings": {"bitrates": [12, 16]}}
    a, b64, b128, b256 = seconds
    _write(root, "2a", compute_seconds=a, data={"kind": "correlated", "dim": 64}, **common)
    for fid, i, s, dim in (("2b", 0, b64, 64), ("3", 0, b64, 64), ("3", 1, b128, 128), ("3", 2, b256, 256)):
        _write(root, fid, i, compute_seconds=s, data={"kind": "uncorrelated", "dim": dim}, **common)


def test_figures_sum_their_own_run_sets_and_the_total_counts_shared_runs_once(tmp_path):
    _toy(tmp_path)
    costs = timing.figure_costs(tmp_path, "2a,2b,3")
    by_id = {f.figure: f for f in costs.figures}
    assert list(by_id) == ["2a", "2b", "3"]
    assert by_id["2a"].compute_seconds == 10.0 and by_id["2b"].compute_seconds == 20.0
    assert by_id["3"].compute_seconds == 20.0 + 30.0 + 40.0
    # 2b's runs are 3's D = 64 runs: in the total once (100, not 120)
    assert costs.compute_seconds == 10.0 + 20.0 + 30.0 + 40.0
    assert by_id["2b"].shared_with == ("3",) and by_id["3"].shared_with == ("2b",) and by_id["2a"].shared_with == ()
    # runs: 3 seeds x 2 methods x 2 rates per run set; the total counts 4 run sets, not 5
    assert by_id["2a"].runs == 12 and by_id["3"].runs == 36 and costs.runs == 48
    # one call wrote them all: its wall time once per figure and once in the total
    assert by_id["3"].wall_seconds == 100.0 and costs.wall_seconds == 100.0
    assert costs.presets == ("quick",) and costs.devices == ("cpu",)
    assert costs.by_paper() == {"icassp2023": (48, 100.0)}
    assert costs.compute_minutes == pytest.approx(100.0 / 60)


def test_two_calls_of_one_runner_count_both_wall_times(tmp_path):
    _toy(tmp_path)
    # 2a written again by a later call (7 s): 2a's call and 2b's call differ
    _write(tmp_path, "2a", preset="quick", device="cpu", seeds=[0], compute_seconds=10.0, wall_time_s=7.0,
           data={"kind": "correlated", "dim": 64})
    costs = timing.figure_costs(tmp_path, "2a,2b")
    assert costs.wall_seconds == 107.0 and costs.compute_seconds == 30.0


def test_equal_seconds_with_other_data_are_other_runs(tmp_path):
    _toy(tmp_path, seconds=(5.0, 5.0, 5.0, 5.0))
    assert timing.figure_costs(tmp_path, "2a,2b,3").compute_seconds == 20.0


def test_files_of_one_figure_from_the_same_runs_count_once(tmp_path):
    """PESQ and pSNR come from the same codecs (Figure 1)."""
    for i in range(2):
        _write(tmp_path, "1", i, methods=("AVQ", "RVQ", "PVQ"), preset="quick", device="cuda:0", seeds=[0],
               compute_seconds=400.0, wall_time_s=410.0, data={"corpus": "quick"})
    (fig,) = timing.figure_costs(tmp_path, "1").figures
    assert fig.compute_seconds == 400.0 and fig.wall_seconds == 410.0 and fig.device == "cuda:0"
    assert fig.runs == 1 * 3 * 2 and len(fig.files) == 2


def test_run_counts_follow_what_the_meta_records(tmp_path):
    base = {"preset": "quick", "device": "cpu", "wall_time_s": 1.0}
    path = _write(tmp_path, "4c", seeds=[], **base)
    assert timing.count_runs(results.load(path)) == 0  # a deterministic model: nothing trained
    path = _write(tmp_path, "5", seeds=[0, 1], runs={"A": [{}, {}], "B": [{}, {}], "base": {}}, **base)
    assert timing.count_runs(results.load(path)) == 5
    path = _write(tmp_path, "sfvqtime", seeds=[0], train_seconds={"SFVQ seed 0": 1.0, "VQ seed 0": 2.0}, **base)
    assert timing.count_runs(results.load(path)) == 2
    path = _write(tmp_path, "1", seeds=[0, 1], methods=("A", "B", "C"), **base)
    assert timing.count_runs(results.load(path)) == 2 * 3 * len(X)  # no bitrates in settings: the x axis


def test_a_meta_with_only_wall_time_uses_it_as_compute_and_says_so(tmp_path):
    _write(tmp_path, "4c", preset="quick", device="cpu", seeds=[], wall_time_s=0.5)
    (fig,) = timing.figure_costs(tmp_path, "4c").figures
    assert fig.compute_seconds == 0.5 and fig.compute_from_wall and fig.runs == 0
    assert "†" in timing.costs_markdown(timing.figure_costs(tmp_path, "4c"))


def test_the_nearest_neighbour_files_name_compute_seconds_compute_s(tmp_path):
    _write(tmp_path, "5", preset="quick", device="cpu", seeds=[0], compute_s=12.5, wall_time_s=13.0)
    (fig,) = timing.figure_costs(tmp_path, "5").figures
    assert fig.compute_seconds == 12.5 and not fig.compute_from_wall


@pytest.mark.parametrize("drop, match", [("preset", "'preset'"), ("device", "'device'"), ("seeds", "'seeds'"),
                                         ("times", "records no time")])
def test_a_meta_that_lacks_a_field_is_an_error_naming_the_file(tmp_path, drop, match):
    meta = {"preset": "quick", "device": "cpu", "seeds": [0], "compute_seconds": 1.0, "wall_time_s": 2.0}
    for key in (["compute_seconds", "wall_time_s"] if drop == "times" else [drop]):
        meta.pop(key)
    path = _write(tmp_path, "2a", **meta)
    with pytest.raises(ValueError, match=match) as err:
        timing.figure_costs(tmp_path, "2a")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("bad", [-1.0, "ten", True])
def test_a_time_that_is_not_seconds_is_an_error(tmp_path, bad):
    path = _write(tmp_path, "2a", preset="quick", device="cpu", seeds=[0], compute_seconds=bad)
    with pytest.raises(ValueError, match="compute_seconds") as err:
        timing.figure_costs(tmp_path, "2a")
    assert str(path) in str(err.value)


def test_a_missing_file_or_meta_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(ValueError, match="no such result file") as err:
        timing.figure_costs(tmp_path, "2a")
    assert str(registry.result_path(tmp_path, "2a")) in str(err.value)
    path = registry.result_path(tmp_path, "2a")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"Metric": "MSE", "VQ Bitrate": X, "AVQ": [1.0, 2.0]}), encoding="utf-8")
    with pytest.raises(ValueError, match="meta"):
        timing.figure_costs(tmp_path, "2a")


def test_the_table_has_a_row_per_figure_and_per_paper_and_the_total(tmp_path):
    _toy(tmp_path, seconds=(60.0, 120.0, 180.0, 240.0))
    text = timing.costs_markdown(timing.figure_costs(tmp_path, "2a,2b,3"))
    lines = text.splitlines()
    assert lines[1].startswith("|---") and len(lines) == 2 + 3 + 1 + 1
    assert lines[2].startswith("| 2a | icassp2023 | quick | cpu | 12 | 1.0 |")
    assert lines[4].startswith("| 3 |") and "| 9.0 |" in lines[4] and lines[4].rstrip().endswith("| 2b |")
    assert lines[5].startswith("| all of icassp2023 |") and "| 10.0 |" in lines[5]
    assert lines[6].startswith("| **total** |") and "**10.0**" in lines[6] and "**48**" in lines[6]


def test_the_committed_results_of_record_all_say_their_cost():
    """Every file of record under Results/ has what the reproduction page's table needs."""
    root = Path(__file__).resolve().parents[2] / "Results"
    costs = timing.figure_costs(root)
    assert [f.figure for f in costs.figures] == list(registry.figure_ids())
    assert costs.compute_seconds > 0 and costs.presets == ("quick",)
    assert costs.compute_seconds < sum(f.compute_seconds for f in costs.figures)  # shared runs counted once


def test_longest_first_wall_is_the_greedy_schedule_of_the_longest_first():
    assert timing.longest_first_wall([], 2) == 0.0
    assert timing.longest_first_wall([5, 4, 3, 3, 3], 2) == 10.0  # {5, 3} and {4, 3, 3}
    assert timing.longest_first_wall([5, 4, 3], 1) == 12.0
    assert timing.longest_first_wall([5, 4, 3], 8) == 5.0
    with pytest.raises(ValueError, match="jobs"):
        timing.longest_first_wall([1.0], 0)
    with pytest.raises(ValueError, match="seconds"):
        timing.longest_first_wall([1.0, -2.0], 2)


# -- seeds that cost unevenly -----------------------------------------------------------------------

def _images(root: Path, seed_seconds=(400.0, 50.0, 60.0)) -> None:
    """Figures 4a and 4b as the image runner writes them: one run set, runs named ``<m>-<b>b-s<seed>``
    and an autoencoder pretrained per seed; seed s costs ``seed_seconds[s]`` (half pretraining, half runs)."""
    runs, pretrained = {}, {}
    for seed, seconds in enumerate(seed_seconds):
        runs[f"RVQ-12b-s{seed}"] = {"train_seconds": seconds / 4, "eval_seconds": seconds / 8}
        runs[f"RVQ-16b-s{seed}"] = {"train_seconds": seconds / 8, "eval_seconds": 0.0}
        pretrained[str(seed)] = {"train_seconds": seconds / 2, "test_ssim_mean": 0.9}
    meta = {"preset": "quick", "device": "cpu", "seeds": [0, 1, 2], "wall_time_s": 600.0, "runs": runs,
            "autoencoder_without_quantizer": pretrained, "compute_seconds": sum(seed_seconds), "data": {"kind": "images"}}
    _write(root, "4a", methods=("RVQ",), **meta)
    _write(root, "4b", methods=("RVQ",), **meta)


def test_seed_seconds_sum_the_runs_and_the_pretraining_of_each_seed(tmp_path):
    _images(tmp_path)
    meta = results.load(registry.result_path(tmp_path, "4a", 0)).meta
    assert timing.seed_seconds(meta) == pytest.approx({0: 400.0, 1: 50.0, 2: 60.0})
    assert timing.seed_seconds({"runs": {"AVQ proposed": {"train_seconds": 1.0}}}) == {}  # no seeds in the names
    assert timing.seed_seconds({"runs": [{"train_seconds": 1.0}]}) == {}
    with pytest.raises(ValueError, match=r"where\.json: runs\.RVQ-12b-s0.*train_seconds"):
        timing.seed_seconds({"runs": {"RVQ-12b-s0": {"train_seconds": -1.0}}}, "where.json")
    with pytest.raises(ValueError, match=r"where\.json.*runs\.RVQ-12b-s0.*must be an object"):
        timing.seed_seconds({"runs": {"RVQ-12b-s0": 3.0}}, "where.json")


def test_uneven_seeds_name_the_run_set_once_with_its_figures_and_its_median_cost(tmp_path):
    _images(tmp_path)
    _toy(tmp_path)
    costs = timing.figure_costs(tmp_path, "2a,2b,3,4a,4b")
    (spread,) = timing.uneven_seeds(costs, tmp_path)
    assert spread.figures == ("4a", "4b") and spread.path == registry.figure("4a").files[0]
    assert spread.slowest == 0 and spread.median == pytest.approx(60.0)
    assert spread.ratio == pytest.approx(400.0 / 60.0)
    assert spread.at_median == pytest.approx(3 * 60.0)  # every seed at the median seed's cost
    assert timing.uneven_seeds(costs, tmp_path, ratio=7.0) == []
    with pytest.raises(ValueError, match="ratio"):
        timing.uneven_seeds(costs, tmp_path, ratio=1)


def test_even_seeds_are_not_named(tmp_path):
    _images(tmp_path, seed_seconds=(55.0, 50.0, 60.0))
    assert timing.uneven_seeds(timing.figure_costs(tmp_path, "4a,4b"), tmp_path) == []
