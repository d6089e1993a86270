"""Image compression with a small VQ-VAE (ICASSP 2023 Figures 4a, 4b) at the ``smoke`` preset: the model,
the runner (vqcore.experiments.images) and its result files (vqcore.experiments.image_results)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqcore import ResidualVQ
from vqcore.io import results
from vqcore.data.images import split_images
from vqcore.experiments import image_results, image_training, images, registry
from vqcore.models.image_vqvae import ImageVQVAE

REPO = Path(__file__).resolve().parents[2]
REFERENCE = (REPO / "reference" / "icassp2023" / "Figure 4").resolve()
SMOKE = images.get_image_preset("smoke")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run of both figures (shared by the tests below)."""
    root = tmp_path_factory.mktemp("images")
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        written = images.run_images(images.FIGURES, "smoke", results_dir=root, device="cpu", progress=False)
    return root, written


# -- the model -----------------------------------------------------------------------------------

def test_model_shapes_bits_per_pixel_and_bad_input():
    torch.manual_seed(0)
    model = ImageVQVAE(latent_dim=8, channels=8, downsampling=2, quantizer=ResidualVQ(8, 4, 3))
    x = torch.rand(2, 1, 16, 24)
    out = model(x)
    assert out.reconstruction.shape == x.shape and out.latents.shape == (2, 4, 6, 8)
    assert out.quantizer is not None and out.quantizer.codes.shape == (2, 4, 6, 4)
    rec = model.reconstruct(x)
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    assert model.bits_per_pixel() == 12 / 16
    out.reconstruction.mean().backward()
    assert model.quantizer.codebooks.grad is not None and model.encoder[0].weight.grad is not None
    with pytest.raises(ValueError, match="x"):
        model(torch.rand(2, 1, 15, 16))
    with pytest.raises(ValueError, match="x"):
        model(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match="quantizer"):
        model.set_quantizer(ResidualVQ(4, 2, 2))
    with pytest.raises(ValueError, match="bits per pixel"):
        ImageVQVAE(8, 8, 2).bits_per_pixel()


# -- the experiment ------------------------------------------------------------------------------

def test_bad_arguments_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="figures"):
        images.run_images(["5"], "smoke", results_dir=tmp_path)
    with pytest.raises(ValueError, match="preset"):
        images.run_images(images.FIGURES, "huge", results_dir=tmp_path)
    with pytest.raises(ValueError, match="seeds"):
        images.run_images(images.FIGURES, "smoke", results_dir=tmp_path, seeds=[])
    with pytest.raises(ValueError, match="figures"):
        images.run_images([], "smoke", results_dir=tmp_path)
    with pytest.raises(ValueError, match="figures"):
        images.figure_file("4c")


def test_figures_and_files_come_from_the_registry():
    assert images.FIGURES == ("4a", "4b") == tuple(image_results.METRICS)
    for fig in images.FIGURES:
        entry = registry.figure(fig)
        assert entry.runner == "vqcore.experiments.images:run_images"
        assert images.figure_file(fig) == entry.files[0] and images.figure_file(f"Figure {fig}") == entry.files[0]
        assert images.example_file() in entry.artefacts


def test_smoke_run_writes_the_authors_layout(smoke_run):
    root, written = smoke_run
    assert [p.relative_to(root).as_posix() for p in written] == [
        images.figure_file("4a"), images.figure_file("4b"), images.example_file()]
    for fig, metric in (("4a", "SSIM"), ("4b", "Peak SNR")):
        res = results.load(root / images.figure_file(fig))
        assert res.metric == metric and res.x_key == "VQ Bitrate"
        assert res.x == [f"{b} bits" for b in SMOKE.bitrates]
        assert res.methods == ["AVQ", "RVQ", "PVQ"] and all(s.is_band for s in res.series.values())
        meta = res.meta
        assert meta["preset"] == "smoke" and meta["device"] == "cpu" and meta["quantiles"] == [0.05, 0.95]
        assert meta["bits_per_pixel"] == {f"{b} bits": b / 64 for b in SMOKE.bitrates}
        assert set(meta["data"]["test_images"]) and meta["data"]["test_pixels"] > 0
        for s in res.series.values():
            assert all(lo <= m <= hi for lo, m, hi in zip(s.low, s.mean, s.high))
        for m in images.METHODS:
            assert set(meta["per_image"][m]) == set(meta["data"]["test_images"])
            q = meta["tile_quantiles"][m]
            assert all(lo <= hi for lo, hi in zip(q["low"], q["high"]))
            assert all(len(v) == len(SMOKE.bitrates) for v in meta["per_image"][m].values())
        if REFERENCE.is_dir():
            ref = json.loads((REFERENCE / Path(images.figure_file(fig)).name).read_text())
            ours = json.loads((root / images.figure_file(fig)).read_text())
            assert ref["Metric"] == ours["Metric"]
            assert set(ref) - {"VQ Bitrate"} == set(ours) - {"VQ Bitrate", "meta"}
            assert ref["VQ Bitrate"][0] == ours["VQ Bitrate"][0] and ref["VQ Bitrate"][-1] == ours["VQ Bitrate"][-1]
    arrays, info = images.load_examples(root / images.example_file())
    assert (root / images.example_file()).stat().st_size < 1_000_000
    assert set(arrays) == {"original"} | {f"{m}_{b}" for m in images.METHODS for b in SMOKE.bitrates}
    assert all(a.dtype == np.uint8 and a.shape == arrays["original"].shape for a in arrays.values())
    assert info["image"] in split_images(test_fraction=SMOKE.test_fraction, seed=0)[1]


def test_quality_rises_from_the_lowest_to_the_highest_bitrate(smoke_run):
    root, _ = smoke_run
    for fig in images.FIGURES:
        res = results.load(root / images.figure_file(fig))
        for method, s in res.series.items():
            assert s.mean[-1] > s.mean[0], (fig, method, s.mean)


def test_a_finished_run_is_reused_not_recomputed(smoke_run, monkeypatch):
    root, _ = smoke_run
    before = results.load(root / images.figure_file("4a"))

    def fail(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(image_training, "train_run", fail)
    monkeypatch.setattr(image_training, "train_model", fail)  # the pretrained autoencoder is stored too
    images.run_images(["4a"], "smoke", results_dir=root, device="cpu", progress=False)
    after = results.load(root / images.figure_file("4a"))
    assert after.series["AVQ"].mean == before.series["AVQ"].mean
    assert after.meta["autoencoder_without_quantizer"] == before.meta["autoencoder_without_quantizer"]


def test_the_run_cache_holds_records_and_safetensors_only(smoke_run):
    root, _ = smoke_run
    cache = root / ".runs" / "images" / "smoke"
    names = {p.name for p in cache.iterdir()}
    runs = ["autoencoder-s0"] + [k.name for k in images.planned_runs("smoke")]
    assert names == {f"{n}{suffix}" for n in runs for suffix in (".json", ".safetensors")}
    stored = json.loads((cache / "RVQ-12b-s0.json").read_text())
    assert stored["format"] == image_training.RUN_FORMAT and stored["key"] == {"method": "RVQ", "bits": 12, "seed": 0}


# -- the results of record -----------------------------------------------------------------------

@pytest.mark.parametrize("fig", images.FIGURES)
def test_results_of_record_are_quick_and_rise_with_the_bitrate(fig):
    path = REPO / "Results" / images.figure_file(fig)
    assert path.is_file(), f"missing result of record {path}: run images.run_images(preset='quick')"
    res = results.load(path)
    assert res.meta["preset"] == "quick" and res.x == [f"{b} bits" for b in range(12, 41, 4)]
    assert res.methods == ["AVQ", "RVQ", "PVQ"]
    for method, s in res.series.items():
        assert s.mean[-1] > s.mean[0], (fig, method)
    assert (REPO / "Results" / images.example_file()).stat().st_size < 1_000_000


def test_results_of_record_show_the_papers_ssim_ordering_at_most_rates():
    res = results.load(REPO / "Results" / images.figure_file("4a"))
    s = {m: res.series[m].mean for m in res.methods}
    avq_rvq = sum(a >= r for a, r in zip(s["AVQ"], s["RVQ"]))
    rvq_pvq = sum(r >= p for r, p in zip(s["RVQ"], s["PVQ"]))
    assert rvq_pvq >= 7 and avq_rvq >= 5, (avq_rvq, rvq_pvq)
