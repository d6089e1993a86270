"""Nearest-neighbour search (ICASSP 2023 Figures 5 and 6a) at the smoke preset: data, ground truth, recall."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from vqcore.io import results
from vqcore.eval.ann import (
    POWERS_OF_TEN,
    POWERS_OF_TWO,
    asymmetric_ranks,
    recall_at,
    recall_curve,
    search,
)
from vqcore.data.images import image_group, list_images, load_image, split_images
from vqcore.data.sift import build_sift_sets, extract_descriptors
from vqcore.eval.ann import exact_nearest
from vqcore.experiments.ann_recall import FIG5_FILE, FIG6A_FILE, FIGURES, PRESETS, run_ann

SMOKE = PRESETS["smoke"]


def _smoke_sets(cache_dir, seed=0):
    return build_sift_sets(SMOKE["n_base"], SMOKE["n_query"], SMOKE["n_learn"], seed, scales=SMOKE["scales"],
                           c_dog=SMOKE["c_dog"], query_fraction=SMOKE["query_fraction"], images=SMOKE["images"],
                           cache_dir=cache_dir)


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sift-cache")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, smoke_cache):
    out = tmp_path_factory.mktemp("Results")
    paths = run_ann(FIGURES, "smoke", out, "cpu", progress=False, cache_dir=smoke_cache)
    return out, dict(zip(FIGURES, paths))


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


def test_sift_extraction_survives_failures():
    assert extract_descriptors(np.zeros((20, 20))).shape == (0, 128)  # too small
    assert extract_descriptors(np.full((64, 64), 0.5)).shape == (0, 128)  # no keypoint
    d = extract_descriptors(load_image("camera"), scales=(0.5,))
    assert d.dtype == np.uint8 and d.shape[1] == 128 and len(d) > 50


# -- data sets and ground truth ----------------------------------------------------------------------

def test_sift_sets_are_deterministic_disjoint_and_cached(tmp_path, smoke_cache):
    a = _smoke_sets(smoke_cache)
    b = _smoke_sets(tmp_path)  # rebuilt from scratch in another cache
    for field in ("base", "query", "learn", "ground_truth", "gt_distance"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.base_images == b.base_images and a.query_images == b.query_images
    assert set(a.base_images).isdisjoint(a.query_images)
    assert len(a.query) == SMOKE["n_query"] and len(a.learn) == SMOKE["n_learn"] and len(a.base) > 500
    assert a.base.shape[1] == a.query.shape[1] == a.learn.shape[1] == 128
    rows = lambda x: {r.tobytes() for r in x.astype(np.uint8)}
    assert rows(a.base).isdisjoint(rows(a.learn))
    assert len(rows(a.base)) == len(a.base)
    c = _smoke_sets(smoke_cache, seed=1)
    assert c.query_images != a.query_images or not np.array_equal(c.base, a.base)
    assert list(smoke_cache.glob("sets-*.npz"))


def test_ground_truth_matches_a_direct_recomputation(smoke_cache):
    s = _smoke_sets(smoke_cache)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(s.query), 40, replace=False)
    d = ((s.query[pick, None, :].astype(np.float64) - s.base[None].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_array_equal(s.ground_truth[pick], d.argmin(1))
    np.testing.assert_allclose(s.gt_distance[pick], d.min(1))
    idx, _dist = exact_nearest(s.query[pick], s.base, batch_size=7)
    np.testing.assert_array_equal(idx, s.ground_truth[pick])


# -- search and recall -------------------------------------------------------------------------------

def test_ranks_break_ties_by_index_and_recall_is_monotone():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 16)).astype(np.float32)
    base[100:110] = base[5]  # identical decoded vectors tie
    query = rng.normal(size=(50, 16)).astype(np.float32)
    gt, _ = exact_nearest(query, base)
    ranks = asymmetric_ranks(query, base, gt, batch_size=7)
    assert (ranks == 0).all()  # exact decoding finds every neighbour first
    noisy = base + rng.normal(scale=0.5, size=base.shape).astype(np.float32)
    ranks = asymmetric_ranks(query, noisy, gt)
    depths = list(range(1, 301))
    rec = recall_at(ranks, depths)
    assert all(b >= a for a, b in itertools.pairwise(rec)) and rec[-1] == 1.0
    assert recall_curve(query, noisy, gt, (1, 300)) == [rec[0], 1.0]
    tie_gt = np.full(3, 107)
    assert list(asymmetric_ranks(base[[5, 5, 5]], base, tie_gt)) == [8] * 3  # 5 and 100..106 come first
    idx, dist = search(query, noisy, 5)
    assert idx.shape == (50, 5) and (np.diff(dist, axis=1) >= -1e-4).all()


def test_smoke_run_writes_both_figures(smoke_run, reference_dir):
    out, paths = smoke_run
    assert paths["5"] == out / FIG5_FILE and paths["6a"] == out / FIG6A_FILE
    fig5, fig6 = results.load(paths["5"]), results.load(paths["6a"])
    assert fig5.x == [str(t) for t in POWERS_OF_TWO] and fig6.x == [str(t) for t in POWERS_OF_TEN]
    for ours, ref in ((paths["5"], "Figure 5/Recall.json"), (paths["6a"], "Figure 6/Recall_RVQ_Fig6-a.json")):
        mine = json.loads(ours.read_text())
        theirs = json.loads((reference_dir / "icassp2023" / ref).read_text())
        assert set(mine) - {"meta"} == set(theirs)  # the authors' series names, no more, no fewer
        assert mine["Metric"] == theirs["Metric"]
    n_base = fig5.meta["data"]["n_base"]
    assert fig5.meta["preset"] == "smoke" and n_base < 10000
    for f in (fig5, fig6):
        for method, s in f.series.items():
            values = s.mean if s.mean is not None else s.values
            assert all(0.0 <= v <= 1.0 for v in values), method
            assert all(b >= a for a, b in itertools.pairwise(values)), method
    assert fig6.series["RVQ proposed"].mean[-1] == 1.0 and fig6.series["RVQ baseline"].values[-1] == 1.0  # T=10000 >= N


def test_recall_reaches_one_at_the_base_size(smoke_run, smoke_cache):
    s = _smoke_sets(smoke_cache)
    out, _paths = smoke_run
    runs = sorted(out.glob(".runs/ann/smoke-*/*.npz"))
    assert len(runs) == 6  # 3 proposed (1 seed) + 3 baselines
    for path in runs:
        with np.load(path) as f:
            ranks = f["ranks"]
        assert ranks.shape == (len(s.query),) and ranks.max() < len(s.base)
        rec = recall_at(ranks, range(1, len(s.base) + 1))
        assert all(b >= a for a, b in itertools.pairwise(rec)), path.name
        assert rec[-1] == 1.0


def test_smoke_run_resumes_from_checkpoints(smoke_run, smoke_cache, tmp_path):
    out, paths = smoke_run
    before = json.loads(paths["5"].read_text())
    again = run_ann(["5"], "smoke", tmp_path, "cpu", progress=False, cache_dir=smoke_cache,
                    checkpoint_dir=out / ".runs" / "ann")
    assert again == [tmp_path / FIG5_FILE] and not (tmp_path / FIG6A_FILE).exists()
    after = json.loads(again[0].read_text())
    assert {k: v for k, v in before.items() if k != "meta"} == {k: v for k, v in after.items() if k != "meta"}
    assert after["meta"]["wall_time_s"] < 10


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        run_ann(FIGURES, "huge", tmp_path, "cpu")
    with pytest.raises(ValueError, match="figures"):
        run_ann(["7"], "smoke", tmp_path, "cpu")
    with pytest.raises(ValueError, match="overrides"):
        run_ann(FIGURES, "smoke", tmp_path, "cpu", overrides={"stepz": 3})


def test_avq_init_is_checked(tmp_path):
    with pytest.raises(ValueError, match="avq_init"):
        run_ann(FIGURES, "smoke", tmp_path, "cpu", overrides={"avq_init": "pvq"})
