"""SIFT descriptors from the bundled photographs (:mod:`vqcore.data.sift`): extraction, the sets and their cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vqcore.data.images import image_group, list_images, load_image, split_images
from vqcore.data.sift import build_sift_sets, extract_descriptors, image_descriptors
from vqcore.eval.ann import exact_nearest
from vqcore.experiments.ann_presets import PRESETS

SMOKE = PRESETS["smoke"]


def _smoke_sets(cache_dir, seed=0):
    return build_sift_sets(SMOKE.n_base, SMOKE.n_query, SMOKE.n_learn, seed, scales=SMOKE.scales,
                           c_dog=SMOKE.c_dog, query_fraction=SMOKE.query_fraction, images=SMOKE.images,
                           cache_dir=cache_dir)


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sift-cache")


# -- images --------------------------------------------------------------------------------------

def test_images_are_grey_float_photographs():
    names = list_images()
    assert len(names) >= 20 and len(set(names)) == len(names)
    for name in ("astronaut", "camera", "china", "motorcycle_left"):
        img = load_image(name)
        assert img.ndim == 2 and img.dtype == np.float64
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.01
        assert not img.flags.writeable
    with pytest.raises(KeyError):
        load_image("checkerboard")


def test_split_by_image_is_seeded_and_keeps_groups_together():
    train, test = split_images(test_fraction=0.3, seed=3)
    assert (train, test) == split_images(test_fraction=0.3, seed=3)
    assert set(train).isdisjoint(test) and sorted(train + test) == sorted(list_images())
    assert {image_group(n) for n in train}.isdisjoint({image_group(n) for n in test})
    assert ("motorcycle_left" in train) == ("motorcycle_right" in train)
    assert any(split_images(test_fraction=0.3, seed=s) != (train, test) for s in range(4, 10))


# -- descriptors -----------------------------------------------------------------------------------

def test_sift_extraction_survives_failures():
    assert extract_descriptors(np.zeros((20, 20))).shape == (0, 128)  # too small
    assert extract_descriptors(np.full((64, 64), 0.5)).shape == (0, 128)  # no keypoint
    d = extract_descriptors(load_image("camera"), scales=(0.5,))
    assert d.dtype == np.uint8 and d.shape[1] == 128 and len(d) > 50


def test_descriptor_cache_is_reused_and_a_damaged_file_is_rebuilt(tmp_path):
    first = image_descriptors("coins", (0.5,), cache_dir=tmp_path)
    (path,) = (tmp_path / "images").glob("coins-*.npz")
    stamp = path.stat().st_mtime_ns
    np.testing.assert_array_equal(image_descriptors("coins", (0.5,), cache_dir=tmp_path), first)
    assert path.stat().st_mtime_ns == stamp  # read, not rewritten
    path.write_bytes(b"PK\x03\x04 not a zip file")
    np.testing.assert_array_equal(image_descriptors("coins", (0.5,), cache_dir=tmp_path), first)
    assert np.load(path)["descriptors"].shape == first.shape  # rewritten whole
    other = image_descriptors("coins", (0.5,), c_dog=0.005, cache_dir=tmp_path)
    assert len(list((tmp_path / "images").glob("coins-*.npz"))) == 2 and len(other) > len(first)


# -- data sets and ground truth ----------------------------------------------------------------------

def test_sift_sets_are_deterministic_disjoint_and_cached(tmp_path, smoke_cache):
    a = _smoke_sets(smoke_cache)
    b = _smoke_sets(tmp_path)  # rebuilt from scratch in another cache
    for field in ("base", "query", "learn", "ground_truth", "gt_distance"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.base_images == b.base_images and a.query_images == b.query_images
    assert set(a.base_images).isdisjoint(a.query_images)
    assert len(a.query) == SMOKE.n_query and len(a.learn) == SMOKE.n_learn and len(a.base) > 500
    assert a.base.shape[1] == a.query.shape[1] == a.learn.shape[1] == 128
    rows = lambda x: {r.tobytes() for r in x.astype(np.uint8)}
    assert rows(a.base).isdisjoint(rows(a.learn))
    assert len(rows(a.base)) == len(a.base)
    c = _smoke_sets(smoke_cache, seed=1)
    assert c.query_images != a.query_images or not np.array_equal(c.base, a.base)
    assert list(smoke_cache.glob("sets-*.npz"))


def test_a_damaged_set_cache_is_rebuilt(tmp_path, smoke_cache):
    a = _smoke_sets(smoke_cache)
    path = smoke_cache / Path(a.info["cache"]).name
    damaged = tmp_path / "cache"
    damaged.mkdir()
    (damaged / path.name).write_bytes(path.read_bytes()[:100])  # truncated
    (damaged / "images").symlink_to(smoke_cache / "images", target_is_directory=True)
    b = _smoke_sets(damaged)
    np.testing.assert_array_equal(a.base, b.base)
    np.testing.assert_array_equal(a.ground_truth, b.ground_truth)
    with np.load(damaged / path.name) as f:  # rewritten whole
        np.testing.assert_array_equal(f["learn"], a.learn)


def test_ground_truth_matches_a_direct_recomputation(smoke_cache):
    s = _smoke_sets(smoke_cache)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(s.query), 40, replace=False)
    d = ((s.query[pick, None, :].astype(np.float64) - s.base[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(s.ground_truth[pick], d.argmin(1))
    np.testing.assert_allclose(s.gt_distance[pick], d.min(1))
    idx, _dist = exact_nearest(s.query[pick], s.base, batch_size=7)
    np.testing.assert_array_equal(idx, s.ground_truth[pick])
