"""The Gaussian toy experiment (Figures 2a, 2b, 3), the complexity figures (4c, 6b) and `vqcore reproduce`.

Everything here runs at the ``smoke`` preset: seconds in all.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from vqcore.io import results
from vqcore.cli import main as cli_main
from vqcore.data import gaussian
from vqcore.data.gaussian import correlated_covariance, gaussian_dataset
import vqcore.quantizers
from vqcore.experiments import toy
from vqcore.experiments.common import resolve_device
from vqcore.experiments.complexity_figures import complexity_file, run_complexity
from vqcore.experiments.presets import PRESETS, get_preset
from vqcore.experiments.reproduce import ALL_FIGURES, parse_figures

SMOKE = get_preset("smoke")
TOY_FILES = [
    "icassp2023/Figure 2/correlated_dataset_Fig2-a.json",
    "icassp2023/Figure 2/uncorrelated_dataset_Fig2-b.json",
    "icassp2023/Figure 3/Data_Dimension_64.json",
    "icassp2023/Figure 3/Data_Dimension_128.json",
    "icassp2023/Figure 3/Data_Dimension_256.json",
]


pytestmark = pytest.mark.usefixtures("one_thread")


def leftovers(root: Path) -> list[Path]:
    """Temporary files of the atomic writer left anywhere under ``root``."""
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# -- data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["correlated", "uncorrelated"])
def test_data_is_deterministic_per_seed(kind):
    a = gaussian_dataset(kind, 32, 500, 200, seed=3)
    b = gaussian_dataset(kind, 32, 500, 200, seed=3)
    c = gaussian_dataset(kind, 32, 500, 200, seed=4)
    assert a.train.shape == (500, 32) and a.test.shape == (200, 32)
    assert a.train.dtype == torch.float32
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train) and not torch.equal(a.test, c.test)
    assert not torch.equal(a.train[:200], a.test)  # separate streams for training and test
    # the test set does not depend on the size of the training set
    assert torch.equal(gaussian_dataset(kind, 32, 50, 200, seed=3).test, a.test)


def test_correlated_source_has_the_documented_covariance():
    dim = 16
    x = gaussian.correlated_gaussian(40000, dim, seed=0).double()
    cov = x.T @ x / x.shape[0]
    expected = correlated_covariance(dim)
    assert (cov - expected).abs().max() < 0.05
    assert math.isclose(float(torch.trace(expected)), dim // 4 + dim * gaussian.DEFAULT_NOISE_VAR)
    q = gaussian.factor_loadings(dim, 4)
    assert torch.allclose(q.T @ q, torch.eye(4, dtype=torch.float64), atol=1e-12)
    assert torch.equal(q, gaussian.factor_loadings(dim, 4))  # fixed per (dim, rank)


def test_uncorrelated_source_is_standard_normal():
    x = gaussian.uncorrelated_gaussian(40000, 8, seed=1).double()
    assert (x.mean(0)).abs().max() < 0.03
    assert (x.T @ x / x.shape[0] - torch.eye(8, dtype=torch.float64)).abs().max() < 0.05


def test_data_arguments_are_checked():
    with pytest.raises(ValueError, match="kind"):
        gaussian_dataset("pink", 8, 10, 10)
    with pytest.raises(ValueError):
        gaussian_dataset("correlated", 8, 0, 10)
    with pytest.raises(ValueError, match="rho"):
        gaussian.ar1_gaussian(10, 8, rho=1.0)


# -- presets and the plan ----------------------------------------------------------------------

def test_presets():
    assert set(PRESETS) == {"smoke", "quick", "paper"}
    assert get_preset("QUICK") is PRESETS["quick"]
    with pytest.raises(ValueError, match="preset"):
        get_preset("huge")
    quick, paper = PRESETS["quick"], PRESETS["paper"]
    assert quick.bitrates == paper.bitrates == (12, 16, 20, 24, 28, 32, 36, 40)
    assert quick.stages == 4 and quick.beam_width == 16 and len(quick.seeds) == 3
    assert paper.steps > quick.steps and paper.num_train > quick.num_train
    json.dumps(quick.as_dict())  # recordable in meta


def test_planned_runs_share_the_figure_2b_runs_with_figure_3():
    runs = toy.planned_runs(["2b", "3"], SMOKE)
    assert len(runs) == len(set(runs))
    assert len(runs) == 3 * len(SMOKE.bitrates) * len(SMOKE.seeds) * 3  # dims 64, 128, 256
    assert {r.data for r in runs} == {"uncorrelated"}
    for key in runs:  # RVQ is trained before the AVQ that starts from it
        if key.method == "AVQ":
            assert runs.index(dataclasses.replace(key, method="RVQ")) < runs.index(key)
    with pytest.raises(ValueError, match="figure"):
        toy.planned_runs(["5"], SMOKE)


# -- the experiment ----------------------------------------------------------------------------

def test_smoke_run_writes_valid_result_files(tmp_path):
    written = toy.run_toy(toy.FIGURES, "smoke", results_dir=tmp_path, device="cpu", progress=False)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(TOY_FILES)
    for rel in TOY_FILES:
        raw = json.loads((tmp_path / rel).read_text(encoding="utf-8"))
        result = results.load(tmp_path / rel)
        assert result.metric == "MSE" and result.x_key == "VQ Bitrate"
        assert result.x == [f"{b} bits" for b in SMOKE.bitrates]
        assert result.methods == ["AVQ", "RVQ", "PVQ"]
        for method, s in result.series.items():
            assert s.is_band and s.low is not None
            for lo, mean, hi in zip(s.low, s.mean, s.high):
                assert 0 < lo <= mean <= hi
            assert f"Quantile High ({method})" in raw
        if "Figure 2" in rel:
            assert raw["Data"] in ("Correlated", "Uncorrelated")
        else:
            assert raw["Data Dimension"] == int(rel.rsplit("_", 1)[1].removesuffix(".json"))
        meta = result.meta
        assert meta["preset"] == "smoke" and meta["seeds"] == list(SMOKE.seeds)
        assert meta["quantiles"] == list(SMOKE.quantiles) and "seeds" in meta["over"]
        assert meta["device"] == "cpu" and meta["versions"]["torch"]
        assert meta["wall_time_s"] >= 0 and meta["compute_seconds"] > 0
        assert meta["data"]["kind"] in ("correlated", "uncorrelated")
    # Figure 3 at D = 64 is Figure 2b's data: the same runs, the same numbers
    fig2b = results.load(tmp_path / TOY_FILES[1])
    fig3 = results.load(tmp_path / TOY_FILES[2])
    assert {m: s.mean for m, s in fig2b.series.items()} == {m: s.mean for m, s in fig3.series.items()}
    assert not leftovers(tmp_path)


def test_an_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch):
    real = toy.train_and_evaluate
    calls: list[toy.RunKey] = []
    crash_after: list[int | None] = [3]

    def counting(key, *args, **kwargs):
        if crash_after[0] is not None and len(calls) == crash_after[0]:
            raise KeyboardInterrupt  # the run is killed while computing its 4th run
        calls.append(key)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(toy, "train_and_evaluate", counting)
    planned = toy.planned_runs(["2a"], SMOKE)
    with pytest.raises(KeyboardInterrupt):
        toy.run_toy(["2a"], SMOKE, results_dir=tmp_path, device="cpu", progress=False)
    cache = tmp_path / ".runs" / "toy" / "smoke"
    stored = sorted(cache.glob("*.json"))
    assert [p.stem for p in stored] == sorted(k.name for k in planned[:3])
    for p in stored:  # complete records only
        assert math.isfinite(json.loads(p.read_text(encoding="utf-8"))["mse"])
    assert not (tmp_path / TOY_FILES[0]).exists()  # no figure from a partial run
    assert not leftovers(tmp_path)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in stored}

    calls.clear()
    crash_after[0] = None
    toy.run_toy(["2a"], SMOKE, results_dir=tmp_path, device="cpu", progress=False)
    assert calls == planned[3:]  # only the missing runs
    for name, (mtime, content) in before.items():
        assert (cache / name).stat().st_mtime_ns == mtime and (cache / name).read_bytes() == content
    results.load(tmp_path / TOY_FILES[0])

    calls.clear()  # everything stored: nothing to compute, the file is assembled again
    toy.run_toy(["2a"], SMOKE, results_dir=tmp_path, device="cpu", progress=False)
    assert calls == []

    calls.clear()  # other settings: the stored runs do not count
    changed = dataclasses.replace(SMOKE, steps=SMOKE.steps + 4)
    toy.run_toy(["2a"], changed, results_dir=tmp_path, device="cpu", progress=False)
    assert sorted(calls) == sorted(planned)
    assert not leftovers(tmp_path)


def test_avq_starts_from_the_stored_rvq(tmp_path):
    keys = toy.planned_runs(["2a"], SMOKE)
    toy.run_toy(["2a"], SMOKE, results_dir=tmp_path, device="cpu", progress=False)
    cache = toy.RunCache(tmp_path / ".runs" / "toy" / "smoke")
    rvq = next(k for k in keys if k.method == "RVQ")
    model = cache.get_model(rvq, toy.run_settings(rvq, SMOKE), torch.device("cpu"))
    assert model is not None and model.codebooks.shape == (4, 2 ** (rvq.bits // 4), 64)
    avq = dataclasses.replace(rvq, method="AVQ")
    assert cache.get(avq, toy.run_settings(avq, SMOKE))["warm_start"] == "ResidualVQ"


def test_init_from_data_and_avq_from_scratch_also_run(tmp_path):
    variant = dataclasses.replace(SMOKE, init="data", avq_init="scratch", bitrates=(12,))
    (path,) = toy.run_toy(["2a"], variant, results_dir=tmp_path, device="cpu", progress=False)
    assert "init_from_data" in results.load(path).meta["training"]
    assert not list((tmp_path / ".runs").rglob("*.safetensors"))  # no RVQ stored: AVQ does not need it
    with pytest.raises(ValueError, match="init"):
        dataclasses.replace(SMOKE, init="zeros")


def test_uniform_codebooks_follow_the_authors_range():
    q = vqcore.quantizers.build_quantizer("RVQ", 8, 16, stages=SMOKE.stages)
    books = toy.uniform_codebooks(q, seed=5)
    k = q.codebook_size
    assert books.shape == q.codebooks.shape and books.abs().max() <= 1 / k
    assert torch.equal(books, toy.uniform_codebooks(q, seed=5))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


# -- complexity figures and the command line ---------------------------------------------------

def test_complexity_files_match_the_published_values(tmp_path, reference_dir):
    for path in run_complexity(results_dir=tmp_path):
        ours = results.load(path)
        rel = path.relative_to(tmp_path)
        published = results.load(reference_dir / rel)
        assert ours.x == published.x and ours.metric == published.metric
        assert set(ours.series) == set(published.series) == {"AVQ", "RVQ", "PVQ"}
        for method, s in ours.series.items():
            assert not s.is_band
            for a, b in zip(s.values, published.series[method].values):
                assert abs(a - b) <= 1e-9, (rel, method)
        assert ours.meta["figure"] in ("4c", "6b")
    assert complexity_file("4c") == "icassp2023/Figure 4/Complexity_Fig4-c.json"


def test_cli_reproduce(tmp_path, capsys):
    out = tmp_path / "Results"
    assert cli_main(["reproduce", "--preset", "smoke", "--figures", "4c,6b", "--results-dir", str(out),
                     "--no-notebooks", "--no-progress"]) == 0
    assert (out / complexity_file("4c")).is_file() and (out / complexity_file("6b")).is_file()
    assert "Complexity_Fig4-c.json" in capsys.readouterr().out
    assert cli_main(["reproduce", "--preset", "smoke", "--figures", "9z", "--no-notebooks"]) == 2
    assert parse_figures("Fig2a, 3,fig-4c") == ["2a", "3", "4c"]
    assert parse_figures(None)[:11] == ["1", "2a", "2b", "3", "4a", "4b", "4c", "5", "6a", "6b", "sfvq2d"]
    assert parse_figures(None) == list(ALL_FIGURES) and len(ALL_FIGURES) == 16
