"""Image compression with a small VQ-VAE (ICASSP 2023 Figures 4a, 4b) at the ``smoke`` preset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vqcore import ResidualVQ
from vqcore.io import results
from vqcore.data.images import image_tiles, load_image, random_patches, split_images
from vqcore.experiments import images
from vqcore.models.image_vqvae import ImageVQVAE

REPO = Path(__file__).resolve().parents[2]
REFERENCE = (REPO.parent / "shared" / "reference" / "icassp2023" / "Figure 4").resolve()
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


# -- data ----------------------------------------------------------------------------------------

def test_patches_and_tiles_are_deterministic_crops_of_the_images():
    train, _ = split_images(seed=0)
    a = random_patches(train, 16, 40, seed=5)
    b = random_patches(train, 16, 40, seed=5)
    c = random_patches(train, 16, 40, seed=6)
    assert a.shape == (40, 16, 16) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0
    tiles = image_tiles("camera", 64)  # 512 x 512
    assert tiles.shape == (64, 64, 64)
    img = load_image("camera")
    assert np.allclose(tiles[1], img[:64, 64:128]) and np.allclose(tiles[8], img[64:128, :64])
    with pytest.raises(ValueError, match="size"):
        random_patches(train, 0, 4)
    with pytest.raises(ValueError, match="count"):
        random_patches(train, 8, 0)
    with pytest.raises(ValueError, match="size"):
        image_tiles("camera", -1)


def test_image_data_is_deterministic_per_seed_and_split_by_image():
    a = images.image_data(SMOKE, 0)
    b = images.image_data(SMOKE, 0)
    c = images.image_data(SMOKE, 1)
    assert torch.equal(a.patches, b.patches) and torch.equal(a.tiles, b.tiles)
    assert a.train_names == b.train_names and a.test_names == b.test_names
    assert not torch.equal(a.patches, c.patches)
    assert set(a.train_names).isdisjoint(a.test_names)
    assert a.patches.shape == (SMOKE.num_patches, 1, SMOKE.patch_size, SMOKE.patch_size)
    assert a.tiles.shape[1:] == (1, SMOKE.tile_size, SMOKE.tile_size)
    assert set(a.tile_images) == set(a.test_names)
    info = a.describe()
    assert set(info["test_images"]) == set(a.test_names)
    assert info["test_pixels"] == sum(load_image(n).size for n in a.test_names)
    assert info["train_pixels"] == sum(load_image(n).size for n in a.train_names)


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


def test_tile_metrics_match_their_definitions():
    rng = np.random.default_rng(0)
    ref = rng.random((3, 32, 32))
    noisy = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    ssim, psnr = images.tile_metrics(ref, noisy)
    assert len(ssim) == len(psnr) == 3
    mse = ((ref - noisy) ** 2).mean(axis=(1, 2))
    assert np.allclose(psnr, 10 * np.log10(1.0 / mse))
    near = np.clip(ref + 0.01 * rng.standard_normal(ref.shape), 0, 1)
    near_ssim, near_psnr = images.tile_metrics(ref, near)
    assert all(a > b for a, b in zip(near_ssim, ssim)) and all(a > b for a, b in zip(near_psnr, psnr))
    assert all(0.0 < s < 1.0 for s in ssim + near_ssim)
    with pytest.raises(ValueError, match="reference"):
        images.tile_metrics(ref, ref[:2])


# -- the experiment ------------------------------------------------------------------------------

def test_bad_arguments_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match="figures"):
        images.run_images(["5"], "smoke", results_dir=tmp_path)
    with pytest.raises(ValueError, match="preset"):
        images.run_images(images.FIGURES, "huge", results_dir=tmp_path)
    with pytest.raises(ValueError, match="seeds"):
        images.run_images(images.FIGURES, "smoke", results_dir=tmp_path, seeds=[])


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

    monkeypatch.setattr(images, "_train_run", fail)
    monkeypatch.setattr(images, "_train", fail)
    images.run_images(["4a"], "smoke", results_dir=root, device="cpu", progress=False)
    after = results.load(root / images.figure_file("4a"))
    assert after.series["AVQ"].mean == before.series["AVQ"].mean


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
