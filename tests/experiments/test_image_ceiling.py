"""The image ceiling (vqcore.experiments.image_ceiling): the autoencoder of Figures 4a/4b without a
quantizer and its one-factor ablation, at a shortened smoke preset, end to end in a temporary folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqcore.experiments import image_ceiling as ic
from vqcore.io import results
from vqcore.experiments.image_data import image_data
from vqcore.experiments.image_presets import get_image_preset
from vqcore.experiments.image_training import (RUN_FORMAT, ImageRunKey, build_model, pretrained_autoencoder,
                                               train_run)
from vqcore.experiments.run_cache import RunCache

REPO = Path(__file__).resolve().parents[2]
#: the smoke preset with a shorter pretraining, so that the module's run takes seconds
PRESET = get_image_preset("smoke", {"pretrain_steps": 100})
#: the ablation's base: half the record's pretraining (so budget-2x is the record's autoencoder itself)
BASE_STEPS = 50
ONLY = ["record-s0", "base-s0", "budget-4x", "bicubic-8"]
RUN = {"only": ONLY, "budgets": (4,), "base_steps": BASE_STEPS}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ceiling(tmp_path_factory):
    root = tmp_path_factory.mktemp("ceiling")
    with torch.random.fork_rng():
        path = ic.run_ceiling(PRESET, root, "cpu", progress=False, **RUN)
    return root, path


def test_the_file_has_its_meta_and_one_entry_per_configuration(ceiling):
    root, path = ceiling
    assert path == root / ic.CEILING_FILE
    content = ic.load_ceiling(path)
    meta, configs = content["meta"], content["configurations"]
    assert meta["preset"] == "smoke" and meta["seed"] == 0 and meta["device"] == "cpu"
    assert list(configs) == ["record-s0", "base-s0", "bicubic-8", "budget-4x"]
    assert set(meta["seconds_per_configuration"]) == set(ONLY)
    assert meta["factors"] == {"record-s0": "record", "base-s0": "base", "budget-4x": "budget", "bicubic-8": "data"}
    assert meta["ablation_base"] == "base-s0" and meta["ablation_base_steps"] == BASE_STEPS
    for name, c in configs.items():
        assert 0 < c["ssim"] <= 1 and 0 < c["train_ssim"] <= 1 and c["psnr"] > 10, name
        assert set(c["per_image_ssim"]) == set(image_data(PRESET, 0).test_names), name
        assert meta["seconds_per_configuration"][name] == c["seconds"] >= 0
    record, base, budget, bicubic = (configs[n] for n in ONLY)
    assert record["parameters"] == base["parameters"] == sum(t.numel() for t in build_model(PRESET).parameters())
    assert record["pretrain_steps"] == 100 and base["pretrain_steps"] == 50 and budget["pretrain_steps"] == 200
    assert bicubic["parameters"] == 0 and bicubic["values_per_block"] == 1
    summary = content["summary"]
    assert summary["ceiling_of_record"] == {"ssim": pytest.approx(record["ssim"]), "psnr": pytest.approx(record["psnr"]),
                                            "seeds": 1, "source": "recomputed"}  # no result files in the folder
    assert "autoencoder_of_the_result_files" not in meta
    assert summary["ablation_base"] == "base-s0"
    assert set(summary["changes"]) == {"budget-4x"} and summary["largest_gain"] == "budget-4x"
    assert summary["changes"]["budget-4x"]["ssim_gain"] == pytest.approx(budget["ssim"] - base["ssim"], abs=1e-5)
    assert summary["changes"]["budget-4x"]["compute_ratio"] == pytest.approx(4, rel=1e-3)
    assert set(summary["data"]) == {"record-s0", "base-s0", "bicubic-8"}


def test_the_file_is_a_result_file_that_names_no_figure(ceiling):
    """Every JSON file under Results/ is read by the result loaders (the fidelity report among them)."""
    root, path = ceiling
    loaded = results.load_dir(root)
    assert list(loaded) == [ic.CEILING_FILE]
    result = loaded[ic.CEILING_FILE]
    assert result.x == ["record-s0", "base-s0", "bicubic-8", "budget-4x"] and "figure" not in result.meta
    configs = ic.load_ceiling(path)["configurations"]
    assert result.series["SSIM"].central == [configs[n]["ssim"] for n in result.x]
    assert result.series["Pretraining steps"].central == [100, 50, 0, 200]


def test_the_record_is_the_autoencoder_of_the_image_experiment(ceiling):
    """The record's autoencoder is stored with the image runner's runs, where the runner finds it."""
    root, path = ceiling
    record = ic.load_ceiling(path)["configurations"]["record-s0"]
    data = image_data(PRESET, 0)
    cache = RunCache(root / ".runs" / "images" / "smoke", RUN_FORMAT)
    _, info = pretrained_autoencoder(PRESET, 0, data, cache, torch.device("cpu"))  # loads, trains nothing
    assert info["test_ssim_mean"] == pytest.approx(record["ssim"], abs=1e-9)
    assert info["train_seconds"] == record["seconds"]
    assert not (root / ".runs" / "image_ceiling" / "smoke" / "record-s0").exists()
    assert (root / ".runs" / "image_ceiling" / "smoke" / "base-s0" / "autoencoder-s0.safetensors").is_file()


def test_an_ablation_that_comes_to_the_preset_shares_its_autoencoder(tmp_path):
    configs = {c.name: c for c in ic.configurations(PRESET, base_steps=25, budgets=(2, 4))}
    shared = tmp_path / ".runs" / "images" / "smoke"
    assert ic.autoencoder_cache(configs["budget-4x"], PRESET, tmp_path).root == shared  # 4 x 25 = the preset's 100
    assert ic.autoencoder_cache(configs["record-s0"], PRESET, tmp_path).root == shared
    assert ic.autoencoder_cache(configs["budget-2x"], PRESET, tmp_path).root == (
        tmp_path / ".runs" / "image_ceiling" / "smoke" / "budget-2x")
    assert configs["channels-32"].overrides == {"pretrain_steps": 25, "channels": 32}
    assert ic.ablation_base(PRESET, 25) == "base-s0" and ic.ablation_base(PRESET, 100) == "record-s0"
    assert "base-s0" not in {c.name for c in ic.configurations(PRESET, base_steps=100)}


def test_the_ceiling_is_above_a_quantized_model_trained_from_it(ceiling):
    """A quantized model fine-tuned from the record's autoencoder (100 + 12 steps in all) stays below an
    autoencoder without a quantizer that had at least as much training (``budget-4x``: 200 steps)."""
    root, path = ceiling
    top = ic.load_ceiling(path)["configurations"]["budget-4x"]
    data = image_data(PRESET, 0)
    cache = RunCache(root / ".runs" / "images" / "smoke", RUN_FORMAT)
    ae, _ = pretrained_autoencoder(PRESET, 0, data, cache, torch.device("cpu"))
    assert PRESET.pretrain_steps + PRESET.steps <= top["pretrain_steps"]
    for bits in PRESET.bitrates:
        run, _ = train_run(ImageRunKey("RVQ", bits, 0), PRESET, data, ae, torch.device("cpu"), None)
        assert np.mean(run["ssim"]) <= top["ssim"], bits
        assert np.mean(run["psnr"]) <= top["psnr"], bits


def test_a_second_run_reuses_every_record(ceiling, monkeypatch):
    root, path = ceiling
    before = ic.load_ceiling(path)["configurations"]

    def fail(*args, **kwargs):
        raise AssertionError("a stored configuration was measured again")

    monkeypatch.setattr(ic, "measure", fail)
    ic.run_ceiling(PRESET, root, "cpu", progress=False, **RUN)
    assert ic.load_ceiling(path)["configurations"] == before


def test_a_missing_record_alone_is_measured_again(ceiling, monkeypatch, tmp_path):
    root, path = ceiling
    before = ic.load_ceiling(path)["configurations"]
    (root / ".runs" / "image_ceiling" / "smoke" / "bicubic-8.json").unlink()
    measured = []
    real = ic.measure
    monkeypatch.setattr(ic, "measure", lambda config, *a: measured.append(config.name) or real(config, *a))
    out = ic.run_ceiling(PRESET, root, "cpu", progress=False, **RUN, out=tmp_path / "c.json")
    assert measured == ["bicubic-8"]
    assert ic.load_ceiling(out)["configurations"]["bicubic-8"]["ssim"] == before["bicubic-8"]["ssim"]


def test_a_quantized_try_reuses_the_stored_autoencoder(ceiling):
    root, path = ceiling
    record = ic.load_ceiling(path)["configurations"]["record-s0"]
    out = ic.try_quantized("record-s0", PRESET, root, "cpu", bits=(12, 24, 40), budgets=(4,), progress=False)
    assert out["autoencoder"]["train_seconds"] == record["seconds"]  # loaded, not pretrained again
    assert list(out["ssim"]) == [12, 24, 40] and all(v < record["ssim"] + 0.05 for v in out["ssim"].values())
    stored = json.loads((root / ".runs" / "image_ceiling" / "smoke" / "try-record-s0-RVQ.json").read_text())
    assert stored["gain_ratio"] == pytest.approx(out["gain_ratio"])
    assert (root / ".runs" / "images" / "smoke" / "RVQ-40b-s0.safetensors").is_file()  # with the figures' runs
    base = ic.try_quantized("base-s0", PRESET, root, "cpu", bits=(12, 24, 40), base_steps=BASE_STEPS, progress=False)
    assert base["autoencoder"]["steps"] == BASE_STEPS
    assert (root / ".runs" / "image_ceiling" / "smoke" / "base-s0" / "RVQ-40b-s0.safetensors").is_file()
    with pytest.raises(ValueError, match="config_name"):
        ic.try_quantized("bicubic-8", PRESET, root, "cpu", progress=False)
    with pytest.raises(ValueError, match="bits"):
        ic.try_quantized("record-s0", PRESET, root, "cpu", bits=(12, 40), progress=False)


def test_bicubic_baseline_improves_with_more_values_per_block():
    tiles, _ = ic.training_tiles(PRESET, image_data(PRESET, 0).train_names[:3])
    ssim = [np.mean(ic._bicubic(tiles, k)["ssim"]) for k in (8, 4, 2)]
    assert ssim[0] < ssim[1] < ssim[2] < 1


def test_configurations_cover_the_factors():
    names = [c.name for c in ic.configurations("quick")]
    assert names == ["record-s0", "bicubic-8", "bicubic-4", "bicubic-2", "latent-128", "channels-96",
                     "budget-4x", "record-s1", "record-s2"]
    budget = next(c for c in ic.configurations("quick") if c.factor == "budget")
    assert budget.overrides == {"pretrain_steps": 4 * get_image_preset("quick").pretrain_steps}
    based = [c.name for c in ic.configurations("quick", base_steps=1200)]
    assert based[:2] == ["record-s0", "base-s0"] and len(based) == len(names) + 1


def test_summary_picks_the_largest_gain_and_the_cheapest_gain():
    def entry(ssim, seconds):
        return {"kind": "autoencoder", "ssim": ssim, "psnr": 20 + ssim, "train_ssim": ssim, "seconds": seconds}
    content = {"meta": {"seed": 0}, "configurations": {
        "record-s0": entry(0.5, 60.0), "big": entry(0.7, 600.0), "cheap": entry(0.6, 60.0)}}
    summary = ic.summarize(content)
    assert summary["largest_gain"] == "big" and summary["best_per_compute"] == "cheap"
    assert summary["changes"]["big"]["compute_ratio"] == 10
    assert summary["ceiling_of_record"]["source"] == "recomputed"
    content["meta"]["autoencoder_of_the_result_files"] = {"0": {"ssim": 0.4, "psnr": 20.0}, "1": {"ssim": 0.6, "psnr": 22.0}}
    assert ic.summarize(content)["ceiling_of_record"] == {"ssim": pytest.approx(0.5), "psnr": pytest.approx(21.0),
                                                          "seeds": 2, "source": "the result files"}
    with pytest.raises(ValueError, match="ceiling"):
        ic.summarize({"meta": {"seed": 1}, "configurations": content["configurations"]})


def test_bad_arguments_raise_value_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="only"):
        ic.configurations("smoke", only=["record-s9"])
    with pytest.raises(ValueError, match="budget"):
        ic.configurations("smoke", budgets=(0,))
    with pytest.raises(ValueError, match="channels"):
        ic.configurations("smoke", channels=-1)
    with pytest.raises(ValueError, match="base_steps"):
        ic.configurations("smoke", base_steps=0)
    with pytest.raises(ValueError, match="preset"):
        ic.run_ceiling("huge", tmp_path, "cpu", progress=False)
    with pytest.raises(ValueError, match="device"):
        ic.run_ceiling("smoke", tmp_path, "tpu9", progress=False)
    bad = tmp_path / "ceiling.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="ceiling.json"):
        ic.load_ceiling(bad)
    bad.write_text(json.dumps({"Metric": "x", "Index": ["a"], "v": [1], "meta": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="configurations"):
        ic.load_ceiling(bad)
    assert ic.load_ceiling(tmp_path / "absent.json") is None
    with pytest.raises(ValueError, match="only"):
        ic.main(["--results-dir", str(tmp_path), "--preset", "smoke", "--only", "nope", "--no-progress"])


def test_the_committed_ceiling_is_that_of_the_results_of_record():
    path = REPO / "Results" / ic.CEILING_FILE
    if not path.is_file():
        pytest.skip("no committed ceiling file")
    content = ic.load_ceiling(path)
    assert content["meta"]["preset"] == "quick" and content["summary"]["ceiling_of_record"]["source"] == "the result files"
    record = json.loads((REPO / "Results" / "icassp2023" / "Figure 4" / "SSIM_Fig4-a.json").read_text())["meta"]
    assert "record-s0" in content["configurations"]
    for seed, info in record["autoencoder_without_quantizer"].items():
        ours = content["configurations"].get(f"record-s{seed}")
        if ours is None:
            continue
        assert ours["pretrain_steps"] == info["steps"]
        assert ours["ssim"] == pytest.approx(info["test_ssim_mean"], abs=0.01)
