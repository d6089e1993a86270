"""The figure registry and ``reproduce``: every figure has its notebook and runner, the runners
write the files the registry names, and ``reproduce`` runs the runners in a fixed order."""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest
import torch

from vqcore.experiments import registry, timing
from vqcore.experiments.common import resolve_device
from vqcore.experiments.reproduce import expected_seconds, reproduce, run_experiments, runner_order

from tests.helpers import need

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("one_thread")


# -- the registry -----------------------------------------------------------------------------

def test_every_figure_has_its_notebook_runner_and_files():
    ids = registry.figure_ids()
    assert len(ids) == 18 and len(set(ids)) == 18
    assert ids[:10] == ("1", "2a", "2b", "3", "4a", "4b", "4c", "5", "6a", "6b")
    all_files = [rel for fig in registry.FIGURES for rel in fig.files]
    assert len(all_files) == len(set(all_files)), "two figures name the same result file"
    for fig in registry.FIGURES:
        assert (REPO / "notebooks" / f"{fig.notebook}.ipynb").is_file(), fig.id
        module, _, function = fig.runner.partition(":")
        assert module.startswith("vqcore.experiments.") and function.startswith("run_"), fig.runner
        assert importlib.util.find_spec(module) is not None, fig.runner
        assert fig.paper in ("icassp2023", "interspeech2023", "nsvq2022") and fig.title
        assert fig.files and all(rel.startswith(f"{fig.paper}/") and rel.endswith(".json") for rel in fig.files)


def test_the_toy_and_complexity_runners_load():
    from vqcore.experiments.complexity_figures import run_complexity
    from vqcore.experiments.toy import run_toy

    assert registry.figure("2a").load_runner() is run_toy
    assert registry.load_runner("vqcore.experiments.complexity_figures:run_complexity") is run_complexity
    with pytest.raises(ValueError, match="run_nothing"):
        registry.load_runner("vqcore.experiments.toy:run_nothing")


def test_parse_accepts_the_papers_names_and_rejects_unknown_ones():
    assert registry.parse("Figure 2a") == ["2a"]
    assert registry.parse(["fig-2a", " 3", "FIG 4C"]) == ["2a", "3", "4c"]
    assert registry.parse("Fig2a, 3,fig-4c") == ["2a", "3", "4c"]
    assert registry.parse("6b,2a,2a") == ["2a", "6b"]  # the papers' order, once each
    assert registry.parse(None) == list(registry.figure_ids())
    assert registry.parse(None)[:11] == ["1", "2a", "2b", "3", "4a", "4b", "4c", "5", "6a", "6b", "sfvq2d"]
    assert len(registry.parse(None)) == 18
    with pytest.raises(ValueError, match="figures") as err:
        registry.parse("2a,9z")
    assert "'9z'" in str(err.value) and "sfvqdivergence" in str(err.value)  # it names the figures
    with pytest.raises(ValueError, match="figures"):
        registry.parse(" , ")
    assert registry.figure("Figure 6b").id == "6b"


def test_result_path_and_file_key():
    assert registry.result_path("R", "3", 2) == Path("R/icassp2023/Figure 3/Data_Dimension_256.json")
    assert registry.file_key("2a") == ("Figure 2", "correlated_dataset_Fig2-a.json")
    assert registry.file_key("6a") == ("Figure 6", "Recall_RVQ_Fig6-a.json")
    with pytest.raises(IndexError):
        registry.result_path("R", "2a", 1)


def test_runner_groups_follow_the_papers_order():
    groups = registry.runner_groups(["sfvq2d", "6b", "2b", "4c", "1", "2a", "sfvqgroups", "3"])
    assert [runner.split(":")[1] for runner, _ in groups] == [
        "run_speech_coding", "run_toy", "run_complexity", "run_interspeech"]
    assert [figs for _, figs in groups] == [["1"], ["2a", "2b", "3"], ["4c", "6b"], ["sfvq2d", "sfvqgroups"]]
    every = registry.runner_groups(None)
    assert [runner.split(":")[1] for runner, _ in every] == [
        "run_speech_coding", "run_toy", "run_images", "run_complexity", "run_ann", "run_interspeech",
        "run_nsvq2022_speech", "run_nsvq2022_images"]
    assert sum(len(figs) for _, figs in every) == 18
    with pytest.raises(ValueError, match="figure"):
        registry.runner_groups(["2z"])


# -- reproduce ----------------------------------------------------------------------------------

def test_the_runners_write_the_files_the_registry_names(tmp_path):
    written = reproduce("smoke", "6b,2a,4c", results_dir=tmp_path, device="cpu", notebooks=False, progress=False)
    assert set(written) == {"results", "notebooks"} and written["notebooks"] == []
    expected = [registry.result_path(tmp_path, fid, i) for fid in ("2a", "4c", "6b")
                for i in range(len(registry.figure(fid).files))]
    assert written["results"] == expected  # the toy runner first, then the complexity runner
    assert all(p.is_file() for p in expected)


def test_run_experiments_calls_each_runner_once_with_the_one_signature(tmp_path, monkeypatch):
    calls = []

    def fake(figures, preset, results_dir, device, *, progress=True):
        calls.append((list(figures), preset, results_dir, device, progress))
        return [Path(results_dir) / f for f in figures]

    monkeypatch.setattr(registry, "load_runner", lambda runner: fake)
    written = run_experiments(["4c", "2b", "6b", "2a"], "smoke", tmp_path, torch.device("cpu"), progress=False)
    assert calls == [(["2a", "2b"], "smoke", tmp_path, "cpu", False), (["4c", "6b"], "smoke", tmp_path, "cpu", False)]
    assert written == [tmp_path / f for f in ("2a", "2b", "4c", "6b")]


def test_reproduce_checks_its_arguments(tmp_path, caplog):
    with pytest.raises(ValueError, match="preset"):
        reproduce("huge", "4c", results_dir=tmp_path, notebooks=False)
    with pytest.raises(ValueError, match="threads"):
        reproduce("smoke", "4c", results_dir=tmp_path, notebooks=False, threads=0)
    with pytest.raises(ValueError, match="figures"):
        reproduce("smoke", "4d", results_dir=tmp_path, notebooks=False)
    assert not any(tmp_path.iterdir())  # nothing written before the arguments are checked
    with caplog.at_level(logging.INFO, logger="vqcore.experiments.reproduce"):
        written = reproduce(" Smoke ", ["Figure 4c"], results_dir=tmp_path, device="cpu", notebooks=False,
                            progress=False)
    assert written["results"] == [registry.result_path(tmp_path, "4c")]
    assert "reproduce (smoke, figures 4c) finished" in caplog.text


def _data(path: Path) -> dict:
    """A result file without its ``meta`` (which holds dates and seconds)."""
    data = json.loads(path.read_text())
    del data["meta"]
    return data


def test_runners_in_worker_processes_write_what_one_process_writes(tmp_path):
    one = reproduce("smoke", "4c,2a", results_dir=tmp_path / "one", device="cpu", notebooks=False, progress=False,
                    threads=1)
    two = reproduce("smoke", "4c,2a", results_dir=tmp_path / "two", device="cpu", notebooks=False, progress=False,
                    threads=1, jobs=2)
    assert [p.relative_to(tmp_path / "two") for p in two["results"]] == [
        p.relative_to(tmp_path / "one") for p in one["results"]]  # the same files, in the papers' order
    assert len(one["results"]) == 2
    for a, b in zip(one["results"], two["results"]):
        assert _data(a) == _data(b), a.name


def test_a_failing_runner_lets_the_others_finish_and_is_named(tmp_path):
    (tmp_path / "icassp2023").mkdir()
    (tmp_path / "icassp2023" / "Figure 4").write_text("a file where the complexity runner's folder goes")
    with pytest.raises(RuntimeError, match="run_complexity") as err:
        reproduce("smoke", "2a,4c", results_dir=tmp_path, device="cpu", notebooks=False, progress=False,
                  threads=1, jobs=2)
    assert "run_toy" not in str(err.value)
    assert registry.result_path(tmp_path, "2a").is_file()  # the other runner's file is written


def test_expected_seconds_reads_the_recorded_compute_of_the_preset(tmp_path):
    groups = registry.runner_groups("1,2a,2b,4c")
    quick = expected_seconds(REPO / "Results", "quick", groups)
    assert len(quick) == 3 and all(s is not None and s > 0 for s in quick[:2])
    assert quick[1] == pytest.approx(timing.figure_costs(REPO / "Results", "2a,2b").compute_seconds)
    assert expected_seconds(REPO / "Results", "smoke", groups) == [None, None, None]  # another preset
    assert expected_seconds(tmp_path, "quick", groups) == [None, None, None]  # no files


def test_runners_start_longest_first_and_a_new_folder_is_timed_by_the_record(tmp_path):
    groups = registry.runner_groups("1,2a,4a,4c")  # speech, toy, images, complexity
    recorded = expected_seconds(REPO / "Results", "quick", groups)
    by_record = sorted(range(4), key=lambda i: (recorded[i] is not None, -(recorded[i] or 0.0), i))
    assert runner_order(groups, "quick", REPO / "Results") == by_record
    assert runner_order(groups, "quick", tmp_path) == by_record  # nothing there yet: the record's times
    assert runner_order(groups, "quick", tmp_path, record_dir=tmp_path) == [0, 1, 2, 3]  # no record: in order
    assert runner_order(groups, "smoke", tmp_path) == [0, 1, 2, 3]  # the record is another preset's


def test_jobs_must_be_a_positive_integer(tmp_path):
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs"):
            reproduce("smoke", "4c", results_dir=tmp_path, notebooks=False, jobs=jobs)
    assert not any(tmp_path.iterdir())


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.slow
def test_reproduce_executes_the_figures_notebook(tmp_path):
    need("papermill")
    written = reproduce("smoke", "4c,6b", results_dir=tmp_path / "Results", device="cpu",  # one notebook draws both
                        executed_dir=tmp_path / "executed", progress=False)
    assert written["notebooks"] == [tmp_path / "executed" / f"{registry.figure('4c').notebook}.ipynb"]
    assert written["notebooks"][0].is_file()


def test_the_package_docstring_names_every_module():
    import vqcore.experiments

    folder = Path(vqcore.experiments.__file__).parent
    doc = vqcore.experiments.__doc__
    missing = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"
               and f"``{p.stem}``" not in doc and f"experiments.{p.stem}`" not in doc]
    assert not missing, f"vqcore/experiments/__init__.py does not describe {missing}"
