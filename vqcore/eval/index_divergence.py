"""What the codebook indices of a quantizer say about phones: histograms and the adjacent-index divergence.

The SFVQ paper's claim is that neighbouring indices hold similar content. Here it becomes a
number: for every index ``i`` take the distribution ``P_i`` of the phone labels of the frames
coded with ``i``; the **adjacent-index divergence** is the mean Jensen-Shannon divergence (base 2,
so in ``[0, 1]``) between ``P_i`` and ``P_{i+1}`` over the pairs of neighbouring indices that
both coded at least ``min_count`` frames. Lower means neighbours hold more similar phones.

Empirical distributions from few frames are noisy, and the noise alone makes the divergence
positive. The **permuted baseline** removes that question: the same statistic after relabelling
the indices by a random permutation (the same histograms, neighbourhoods destroyed), averaged
over many permutations. An unordered codebook (a plain VQ) sits at its baseline; an ordered one
falls below it.

numpy only; inputs are arrays of integer codes and string labels, one per frame.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "adjacent_divergence",
    "class_histograms",
    "js_divergence",
    "mean_index",
    "permuted_adjacent_divergence",
]


def _check(codes: Sequence[int] | np.ndarray, labels: Sequence[str], num_codes: int) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"codes must be one-dimensional (one code per frame), got shape {codes.shape}")
    if len(labels) != codes.shape[0]:
        raise ValueError(f"labels must hold one label per code: {len(labels)} labels for {codes.shape[0]} codes")
    if int(num_codes) != num_codes or num_codes < 2:
        raise ValueError(f"num_codes must be an integer >= 2, got {num_codes!r}")
    if codes.size and (codes.min() < 0 or codes.max() >= num_codes or not np.issubdtype(codes.dtype, np.integer)):
        raise ValueError(f"codes must be integers in [0, {num_codes}), got range [{codes.min()}, {codes.max()}]")
    return codes.astype(np.int64)


def class_histograms(codes: Sequence[int] | np.ndarray, labels: Sequence[str], classes: Sequence[str],
                     num_codes: int) -> np.ndarray:
    """Counts of the frames of each class per code: ``(len(classes), num_codes)``.

    Frames whose label is not in ``classes`` are ignored.
    """
    codes = _check(codes, labels, num_codes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be a non-empty list of distinct labels, got {list(classes)!r}")
    row = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(classes), num_codes), dtype=np.int64)
    for code, label in zip(codes, labels):
        r = row.get(label)
        if r is not None:
            out[r, code] += 1
    return out


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits between distributions along the last axis (``(..., C)`` each)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    p = p / p.sum(-1, keepdims=True)
    q = q / q.sum(-1, keepdims=True)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / b), 0.0)
        return terms.sum(-1)

    return np.clip(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0, 1.0)


def _label_matrix(codes: np.ndarray, labels: Sequence[str], num_codes: int) -> np.ndarray:
    """Counts ``(num_codes, num_labels)`` of every label per code."""
    names = sorted(set(labels))
    col = {n: i for i, n in enumerate(names)}
    out = np.zeros((num_codes, max(len(names), 1)), dtype=np.float64)
    np.add.at(out, (codes, np.array([col[l] for l in labels], dtype=np.int64)), 1.0)
    return out


def _adjacent(counts: np.ndarray, min_count: int) -> float:
    used = counts.sum(1) >= min_count
    pairs = used[:-1] & used[1:]
    if not pairs.any():
        return float("nan")
    left, right = counts[:-1][pairs], counts[1:][pairs]
    return float(js_divergence(left, right).mean())


def adjacent_divergence(codes: Sequence[int] | np.ndarray, labels: Sequence[str], num_codes: int,
                        min_count: int = 5) -> float:
    """Mean JS divergence (bits) between the label distributions of codes ``i`` and ``i + 1``.

    Only pairs where both codes label at least ``min_count`` frames count; NaN when there is no
    such pair.
    """
    codes = _check(codes, labels, num_codes)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    return _adjacent(_label_matrix(codes, labels, num_codes), min_count)


def permuted_adjacent_divergence(codes: Sequence[int] | np.ndarray, labels: Sequence[str], num_codes: int,
                                 min_count: int = 5, permutations: int = 200, seed: int = 0) -> np.ndarray:
    """:func:`adjacent_divergence` after relabelling the codes by ``permutations`` random permutations
    of ``0 .. num_codes - 1`` (seeded): one value per permutation, ``(permutations,)``."""
    codes = _check(codes, labels, num_codes)
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = _label_matrix(codes, labels, num_codes)
    rng = np.random.default_rng(seed)
    return np.array([_adjacent(counts[rng.permutation(num_codes)], min_count) for _ in range(permutations)])


def mean_index(histograms: np.ndarray) -> np.ndarray:
    """Centre of mass (mean code) of each row of ``(C, num_codes)`` histograms: ``(C,)``; NaN for an empty row."""
    h = np.asarray(histograms, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"histograms must have shape (C, num_codes), got {h.shape}")
    total = h.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (h * np.arange(h.shape[1])).sum(1) / total
