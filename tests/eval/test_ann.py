"""Nearest-neighbour search with quantized base vectors (:mod:`vqcore.eval.ann`): exact ground truth, ranks, recall."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from vqcore.eval.ann import (
    asymmetric_ranks,
    exact_nearest,
    recall_at,
    recall_curve,
    search,
)


def test_exact_nearest_is_brute_force_and_breaks_ties_by_index():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 4, size=(200, 8)).astype(np.float32)  # small integers: many exact ties
    query = rng.integers(0, 4, size=(30, 8)).astype(np.float32)
    d = ((query[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    idx, dist = exact_nearest(query, base, batch_size=4)
    np.testing.assert_array_equal(idx, d.argmin(1))  # argmin: the first (lowest) index of a tie
    np.testing.assert_array_equal(dist, d.min(1))
    assert idx.dtype == np.int64


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


def test_ranks_and_recall_refuse_bad_input():
    base = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="ground_truth"):
        asymmetric_ranks(np.zeros((3, 4)), base, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="out of range"):
        asymmetric_ranks(np.zeros((2, 4)), base, np.array([0, 10]))
    with pytest.raises(ValueError, match="D"):
        asymmetric_ranks(np.zeros((2, 3)), base, np.array([0, 1]))
    with pytest.raises(ValueError, match="depths"):
        recall_at([0, 1], [0])
    with pytest.raises(ValueError, match="query"):
        recall_at([], [1])
