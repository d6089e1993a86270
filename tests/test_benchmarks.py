"""The benchmark (benchmarks/): a tiny run through the command line's entry point, checked for the
JSON's structure and its internal consistency (never for timings), and the report's arithmetic."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import report, run
from benchmarks.config import DIM, Sizes, load_data
from benchmarks.timing import Job
from tests.helpers import need
from vqcore.data.gaussian import gaussian_dataset

TOP_LEVEL = ["schema", "date", "device", "versions", "config", "environment", "load_average_start", "encode",
             "notes", "encode_1_thread", "quality", "training", "ratios", "targets", "ratios_1_thread",
             "load_average_end", "elapsed_s"]
ENCODE_KEYS = ["vqcore.ResidualVQ", "vqcore.ProductVQ", "vqcore.AdditiveVQ", "vqcore.AdditiveVQ.ordered_track",
               "vqcore.SpaceFillingVQ", "vqcore.SpaceFillingVQ.project", "vector_quantize_pytorch.ResidualVQ",
               "nsvq.ResidualNSVQ", "nsvq.ProductNSVQ", "diveq.ResidualDIVEQ", "diveq.ProductDIVEQ", "diveq.SFDIVEQ",
               "faiss.ResidualQuantizer.beam16", "faiss.ResidualQuantizer.beam1", "faiss.LocalSearchQuantizer",
               "faiss.ProductQuantizer"]
#: the training-speed rows: our RVQ with every estimator, our SFVQ with its curve estimators, the peers
TRAINING_KEYS = ["vqcore.ResidualVQ", "vqcore.ResidualVQ.ste", "vqcore.ResidualVQ.ema", "vqcore.ResidualVQ.diveq",
                 "vqcore.ResidualVQ.diveq_detach", "vqcore.ResidualVQ.rotation", "vqcore.SpaceFillingVQ.nsvq",
                 "vqcore.SpaceFillingVQ.sf_diveq", "vqcore.SpaceFillingVQ.sf_diveq_detach",
                 "vector_quantize_pytorch.ResidualVQ", "diveq.ResidualDIVEQ", "diveq.SFDIVEQ"]


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The JSON of the smallest run: --quick, 1 repeat, 1024 test vectors, 2 threads (so that the
    one-thread comparison runs too); torch's and faiss's thread counts are put back afterwards."""
    need("faiss", "vector-quantize-pytorch", "nsvq", "diveq")
    import faiss

    out = tmp_path_factory.mktemp("bench")
    before, faiss_before = torch.get_num_threads(), faiss.omp_get_max_threads()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            assert run.main(["--device", "cpu", "--quick", "--repeats", "1", "--vectors", "1024", "--threads", "2",
                             "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(before)
        faiss.omp_set_num_threads(faiss_before)
    files = list(out.iterdir())
    assert [f.name for f in files] == [f"cpu-{json.loads(files[0].read_text())['date'][:10]}.json"]  # no temp file
    assert "targets:" in printed.getvalue() and f"wrote {files[0]}" in printed.getvalue()
    return json.loads(files[0].read_text())


def test_tiny_run_writes_the_documented_layout(tiny_result: dict):
    r = tiny_result
    assert list(r) == TOP_LEVEL
    assert r["config"]["quick"] is True and r["config"]["vectors"] == 1024 and r["config"]["repeats"] == 1
    assert r["device"]["torch_threads"] == 2 and r["device"]["faiss_threads"] == 2
    assert "gaussian_dataset('correlated'" in r["config"]["data"]
    assert r["config"]["options"] == {"device": "cpu", "vectors": 1024, "batch": None, "repeats": 1, "threads": 2,
                                      "train_batch": 1024, "quick": True, "omp_wait_policy": "passive"}
    assert list(r["encode"]) == ENCODE_KEYS
    for key, row in r["encode"].items():
        assert set(row) == {"library", "method", "device", "vectors", "vec_per_s_median", "vec_per_s_best",
                            "seconds"}, key
        assert key.startswith(row["library"] + ".")
        assert len(row["seconds"]) == 1 and row["vec_per_s_best"] >= row["vec_per_s_median"] > 0
    assert r["encode"]["faiss.LocalSearchQuantizer"]["vectors"] == r["config"]["faiss_lsq_vectors"]
    assert set(r["encode_1_thread"]) == set(run.SINGLE_THREAD_KEYS)


def test_tiny_run_ratios_and_targets_follow_from_the_rows(tiny_result: dict):
    r, rows = tiny_result, tiny_result["encode"]
    pairs = [(c.ours, c.peer) for c in report.COMPARISONS]
    assert [(x["ours"], x["peer"]) for x in r["ratios"]] == pairs + [("vqcore.AdditiveVQ",
                                                                      "authors' published AVQ code")]
    for x in r["ratios"][:-1]:
        assert x["ratio_median"] == pytest.approx(rows[x["ours"]]["vec_per_s_median"]
                                                  / rows[x["peer"]]["vec_per_s_median"])
        assert ("meets_target" in x) == (x["target"] is not None)
    assert r["ratios"][-1]["ratio_median"] is None
    assert [(x["ours"], x["peer"]) for x in r["ratios_1_thread"]] == [
        p for p in pairs if p[0] in run.SINGLE_THREAD_KEYS and p[1] in run.SINGLE_THREAD_KEYS]
    assert len(r["targets"]) == 8
    for t in r["targets"]:
        assert set(t) >= {"target", "value", "met"} and isinstance(t["met"], bool)
    for t, x in zip(r["targets"][:4], [x for x in r["ratios"] if x["target"] is not None]):
        assert t["value"] == x["ratio_median"] and t["met"] == (x["ratio_median"] >= x["target"])


def test_tiny_run_quality_shares_the_codebooks(tiny_result: dict):
    q = tiny_result["quality"]
    # faiss's codes decoded with our copy of its codebooks: the same reconstruction
    assert q["faiss_codes_decoded_by_vqcore_mse"] == pytest.approx(q["faiss_rq_mse"], rel=1e-5)
    # ordered_track keeps, per vector, the better of the free-order and the fixed-order tuple
    assert q["vqcore_avq_ordered_track_mse"] <= q["vqcore_avq_mse"] * (1 + 1e-6)
    assert q["vqcore_no_worse"] == (q["relative_difference"] <= 0)
    assert q["vqcore_avq_mse"] < q["data_variance_per_component"]
    assert list(q["by_beam_width"]["mse"]) == ["1", "4", "16", "64"]
    assert list(tiny_result["training"]) == ["what", "batch", "steps", *TRAINING_KEYS, "ratio_vqcore_over_peer",
                                             "ratios_over_diveq"]


def test_tiny_run_times_training_for_every_estimator(tiny_result: dict):
    tr = tiny_result["training"]
    for key in TRAINING_KEYS:
        assert set(tr[key]) == {"method", "steps_per_s_median", "steps_per_s_best"}, key
        assert tr[key]["steps_per_s_best"] >= tr[key]["steps_per_s_median"] > 0, key
    for key in TRAINING_KEYS[1:6]:
        assert f"{key.rsplit('.', 1)[1]} estimator" in tr[key]["method"]
    assert tr["ratios_over_diveq"] == pytest.approx({
        f"{a} / {b}": tr[a]["steps_per_s_median"] / tr[b]["steps_per_s_median"]
        for a, b in (("vqcore.ResidualVQ.diveq", "diveq.ResidualDIVEQ"),
                     ("vqcore.SpaceFillingVQ.sf_diveq", "diveq.SFDIVEQ"))})
    assert tiny_result["versions"]["diveq"] is not None
    assert "diveq.ResidualDIVEQ" in report.summary(tiny_result)


def test_default_sizes_are_those_of_the_committed_run(repo_root: Path):
    recorded = json.loads((repo_root / "benchmarks/results/cpu-2026-11-22.json").read_text())["config"]
    s = Sizes.for_run(vectors=None, batch=None, repeats=None, quick=False, on_gpu=False)
    assert (s.vectors, s.batch, s.repeats, s.train_vectors, s.faiss_vectors, s.lsq_vectors) == (
        recorded["vectors"], recorded["batch"], recorded["repeats"], recorded["train_vectors"],
        recorded["faiss_vectors"], recorded["faiss_lsq_vectors"])


def test_the_data_are_the_packages_correlated_source():
    sizes = Sizes.for_run(vectors=64, batch=None, repeats=None, quick=True, on_gpu=False)
    data = load_data(sizes, torch.device("cpu"))
    split = gaussian_dataset("correlated", DIM, sizes.train_vectors, 64, seed=0)
    assert torch.equal(data.test, split.test) and torch.equal(data.train, split.train)
    assert data.test_np.shape == (sizes.faiss_vectors, DIM)


def test_ratios_and_targets_by_device():
    def row(v):
        return {"vec_per_s_median": v, "vec_per_s_best": 2 * v}
    rows = {"vqcore.AdditiveVQ": row(2e6), "faiss.ResidualQuantizer.beam16": row(1e7),
            "vqcore.ResidualVQ": row(3.0), "vector_quantize_pytorch.ResidualVQ": row(2.0)}
    ratio_rows = report.ratios(rows, "cuda")
    assert [(x["ours"], x["ratio_median"], x.get("meets_target")) for x in ratio_rows] == [
        ("vqcore.AdditiveVQ", 0.2, None), ("vqcore.ResidualVQ", 1.5, True)]  # AVQ's 0.5 applies on the CPU only
    gpu = report.speed_targets(rows, ratio_rows, "cuda")
    assert [(t["met"]) for t in gpu] == [True, False, True]  # AVQ > 1e6, RVQ not > 1e8, RVQ / vqp >= 1
    cpu = report.speed_targets(rows, report.ratios(rows, "cpu"), "cpu")
    assert [t["met"] for t in cpu] == [False, True, True]  # AVQ / faiss 0.2 < 0.5; RVQ 1.5; AVQ >= 16,800 vec/s
    with pytest.raises(dataclasses.FrozenInstanceError):
        Job("k", "lib", "what", lambda: None, 1, "cpu").count = 2


def test_help_lists_the_options(repo_root: Path):
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--help"], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for option in ("--device", "--vectors", "--batch", "--repeats", "--threads", "--train-batch", "--quick",
                   "--omp-wait-policy", "--out"):
        assert option in done.stdout


GRID_POINT_KEYS = {"data", "K", "beam", "threads", "vectors", "methods", "ratios"}


@pytest.mark.slow
def test_encode_grid_quick_run_writes_the_documented_layout(tmp_path: Path):
    """The encoding grid (benchmarks/grid.py) at a tiny size: every point, method and ratio in place."""
    need("faiss")
    from benchmarks import grid

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert grid.main(["--quick", "--ks", "16", "64", "--beams", "1", "4", "--threads", "1", "2",
                          "--out", str(tmp_path), "--name", "g.json"]) == 0
    assert [f.name for f in tmp_path.iterdir()] == ["g.json"]  # no temporary file left
    r = json.loads((tmp_path / "g.json").read_text())
    assert list(r) == ["schema", "kind", "date", "device", "versions", "config", "environment", "load_average_start",
                       "points", "targets", "load_average_end", "elapsed_s"]
    assert r["kind"] == "encode-grid" and r["config"]["ks"] == [16, 64] and r["config"]["sizes"]["quick"] is True
    points = r["points"]
    assert [(p["data"], p["K"], p["beam"], p["threads"]) for p in points] == [
        (d, k, b, t) for d in ("iid", "correlated") for k in (16, 64) for b in (1, 4) for t in (1, 2)]
    for p in points:
        assert set(p) == GRID_POINT_KEYS
        want = [grid.AVQ, grid.AVQ_ORDERED] + ([grid.RVQ] if p["beam"] == 1 else []) + [grid.FAISS_RQ] + (
            [grid.FAISS_LSQ] if p["beam"] == 1 else [])
        assert list(p["methods"]) == want
        for row in p["methods"].values():
            assert row["vec_per_s_best"] >= row["vec_per_s_median"] > 0 and 0 < row["mse"] < 2
        peer = p["methods"][grid.FAISS_RQ]
        for key, ratio in p["ratios"].items():
            assert ratio["speed"] == pytest.approx(p["methods"][key]["vec_per_s_median"] / peer["vec_per_s_median"])
        # the ordered track keeps the better of its two tuples per vector: never above the free order's error
        assert p["methods"][grid.AVQ_ORDERED]["mse"] <= p["methods"][grid.AVQ]["mse"] * (1 + 1e-6)
    by_thread = {(p["data"], p["K"], p["beam"]): p for p in points if p["threads"] == 1}
    for p in points:  # the MSE does not depend on the thread count
        assert p["methods"][grid.AVQ]["mse"] == by_thread[(p["data"], p["K"], p["beam"])]["methods"][grid.AVQ]["mse"]
    assert all(isinstance(t["met"], bool) for t in r["targets"]) and "targets:" in printed.getvalue()
    # the book's figure draws from this layout
    import matplotlib

    matplotlib.use("Agg")
    from vqcore.plotting.encode_cost import cost_table, plot_encode_cost

    axes = plot_encode_cost(r, "correlated", 2)
    assert len(axes) == 2 and len(axes[0].lines) == 3 * 2 and len(axes[1].lines) == 3 * 2
    assert cost_table(r, "iid", 1)[grid.FAISS_RQ][(64, 4)] == pytest.approx(
        1e6 / by_thread[("iid", 64, 4)]["methods"][grid.FAISS_RQ]["vec_per_s_median"])
    with pytest.raises(ValueError, match="no points"):
        cost_table(r, "iid", 3)


def test_encode_grid_refuses_bad_options():
    from benchmarks import grid

    for argv, option in ((["--ks", "48"], "--ks"), (["--beams", "0"], "--beams"), (["--name", "a/b.json"], "--name")):
        err = io.StringIO()
        with pytest.raises(SystemExit) as exc, contextlib.redirect_stderr(err):
            grid.main(argv)
        assert exc.value.code == 2 and option in err.getvalue()
