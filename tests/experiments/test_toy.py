"""The Gaussian toy experiment (Figures 2a, 2b, 3): its presets, its plan of runs, its runner and
its run cache. Everything here runs at the ``smoke`` preset: seconds in all.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

import vqcore.quantizers
from vqcore.experiments import registry, toy
from vqcore.experiments.common import get_preset
from vqcore.experiments.run_cache import RunCache
from vqcore.experiments.toy_presets import TOY_PRESETS
from vqcore.io import results

SMOKE = get_preset(TOY_PRESETS, "smoke")
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


# -- presets and the plan ----------------------------------------------------------------------

def test_presets():
    assert set(TOY_PRESETS) == {"smoke", "quick", "paper"}
    assert get_preset(TOY_PRESETS, "QUICK") is TOY_PRESETS["quick"]
    with pytest.raises(ValueError, match="preset"):
        get_preset(TOY_PRESETS, "huge")
    quick, paper = TOY_PRESETS["quick"], TOY_PRESETS["paper"]
    assert quick.bitrates == paper.bitrates == (12, 16, 20, 24, 28, 32, 36, 40)
    assert quick.stages == 4 and quick.beam_width == 16 and len(quick.seeds) == 3
    assert paper.steps > quick.steps and paper.num_train > quick.num_train
    json.dumps(quick.as_dict())  # recordable in meta
    assert quick.as_dict()["seeds"] == [0, 1, 2] and "extra" not in quick.as_dict()
    assert get_preset(TOY_PRESETS, "smoke", {"steps": 3}).steps == 3


def test_the_files_are_the_registrys():
    assert toy.FIGURES == ("2a", "2b", "3")
    assert [f for fig in toy.FIGURES for f in toy.figure_files(fig, SMOKE)] == TOY_FILES
    assert [f for fig in toy.FIGURES for f in registry.figure(fig).files] == TOY_FILES
    with pytest.raises(ValueError, match="dimension 32"):
        toy.figure_files("3", dataclasses.replace(SMOKE, fig3_dims=(64, 32)))


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
    written = toy.run_toy(toy.FIGURES, "smoke", tmp_path, "cpu", progress=False)
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
    cache = RunCache(tmp_path / ".runs" / "toy" / "smoke", toy.RUN_FORMAT)
    rvq = next(k for k in keys if k.method == "RVQ")
    model = cache.get_quantizer(rvq, toy.run_settings(rvq, SMOKE), torch.device("cpu"))
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
