"""Approximate nearest-neighbour search with quantized base vectors, and 1-recall@T.

The base is stored as codes; a query is compared, unquantized, with every decoded base vector
(asymmetric distance, ADC) and the base is ranked by that distance. 1-recall@T is the fraction of
queries whose exact nearest neighbour (L2 on the raw vectors, see
:func:`exact_nearest`) is among the first ``T`` of that ranking.

Ranking ties (equal asymmetric distances, e.g. base vectors with the same code) are broken by
base index, so the ranking is a total order and the result is deterministic. Since only the
rank of the true neighbour matters, it is counted directly (``rank = #{j : (d_j, j) < (d_gt, gt)}``)
instead of sorting, which gives recall at every ``T`` at once: recall@T never falls as ``T``
grows and is 1 at ``T = N``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["POWERS_OF_TEN", "POWERS_OF_TWO", "asymmetric_ranks", "exact_nearest", "recall_at", "recall_curve", "search"]

#: Figure 5's depths
POWERS_OF_TWO: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
#: Figure 6a's depths
POWERS_OF_TEN: tuple[int, ...] = (1, 10, 100, 1000, 10000)


def _tensor(x: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(device, torch.float32)


def _scores(q: torch.Tensor, base: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``||b||^2 - 2 <q, b>``: the asymmetric squared distance less ``||q||^2`` (same order)."""
    return torch.addmm(norms, q, base.T, alpha=-2.0)


@torch.no_grad()
def asymmetric_ranks(query: Any, decoded_base: Any, ground_truth: Any, *, device: Any = None,
                     batch_size: int = 256) -> np.ndarray:
    """Rank (0-based) of each query's true neighbour when the base is ordered by asymmetric distance.

    Args:
        query: ``(Q, D)`` raw queries.  decoded_base: ``(N, D)`` reconstructions of the base.
        ground_truth: ``(Q,)`` index of each query's exact nearest neighbour in the base.
        device: where to compute (default CPU; ``"cuda"`` when present).
        batch_size: queries per batch (memory ``batch_size * N`` floats).
    Returns:
        ``(Q,)`` int64; ``rank < T`` means the neighbour is found at depth ``T``.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    base = _tensor(decoded_base, dev)
    q_all = _tensor(query, torch.device("cpu"))
    gt_all = torch.as_tensor(np.asarray(ground_truth), dtype=torch.long)
    if base.ndim != 2 or q_all.ndim != 2 or base.shape[1] != q_all.shape[1]:
        raise ValueError(f"need (N, D) base and (Q, D) queries, got {tuple(base.shape)} and {tuple(q_all.shape)}")
    if gt_all.shape != (q_all.shape[0],):
        raise ValueError(f"ground_truth must be ({q_all.shape[0]},), got {tuple(gt_all.shape)}")
    if len(gt_all) and (gt_all.min() < 0 or gt_all.max() >= base.shape[0]):
        raise ValueError("ground_truth indices out of range of the base")
    norms = (base * base).sum(1)
    index = torch.arange(base.shape[0], device=dev)
    ranks = []
    for start in range(0, len(q_all), batch_size):
        q = q_all[start:start + batch_size].to(dev)
        gt = gt_all[start:start + batch_size].to(dev)
        s = _scores(q, base, norms)  # (B, N)
        s_gt = s.gather(1, gt[:, None])
        before = (s < s_gt) | ((s == s_gt) & (index[None, :] < gt[:, None]))
        ranks.append(before.sum(1).cpu())
    return torch.cat(ranks).numpy().astype(np.int64) if ranks else np.zeros(0, np.int64)


def recall_at(ranks: Any, depths: Sequence[int]) -> list[float]:
    """1-recall@T for each ``T`` in ``depths``: the share of ``ranks`` below ``T``."""
    r = np.asarray(ranks)
    if r.size == 0:
        raise ValueError("recall needs at least one query")
    out = []
    for t in depths:
        if int(t) < 1:
            raise ValueError(f"depths must be >= 1, got {t}")
        out.append(float((r < int(t)).mean()))
    return out


def recall_curve(query: Any, decoded_base: Any, ground_truth: Any, depths: Sequence[int] = POWERS_OF_TWO, *,
                 device: Any = None, batch_size: int = 256) -> list[float]:
    """:func:`recall_at` of :func:`asymmetric_ranks`."""
    return recall_at(asymmetric_ranks(query, decoded_base, ground_truth, device=device, batch_size=batch_size),
                     depths)


@torch.no_grad()
def search(query: Any, decoded_base: Any, k: int, *, device: Any = None, batch_size: int = 256,
           ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` base vectors nearest each query by asymmetric distance.

    Returns:
        ``(index, squared_distance)``, each ``(Q, k)`` (``k`` capped at ``N``), nearest first.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    base = _tensor(decoded_base, dev)
    q_all = _tensor(query, torch.device("cpu"))
    k = min(int(k), base.shape[0])
    norms = (base * base).sum(1)
    idx, dist = [], []
    for start in range(0, len(q_all), batch_size):
        q = q_all[start:start + batch_size].to(dev)
        s = _scores(q, base, norms)
        v, i = torch.topk(s, k, dim=1, largest=False, sorted=True)
        idx.append(i.cpu())
        dist.append((v + (q * q).sum(1, keepdim=True)).clamp_min(0).cpu())
    return torch.cat(idx).numpy(), torch.cat(dist).numpy()


def exact_nearest(query: Any, base: Any, device: Any = None, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact L2 nearest neighbour of each query in ``base`` by brute force.

    torch, float64, queries in batches of ``batch_size`` against the whole base on ``device``
    (default CPU). Ties go to the lowest base index.

    Returns:
        ``(index, squared_distance)``: ``(Q,)`` int64 and ``(Q,)`` float64 numpy arrays.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    b = torch.as_tensor(np.asarray(base), dtype=torch.float64, device=dev)
    q_all = torch.as_tensor(np.asarray(query), dtype=torch.float64)
    if b.ndim != 2 or q_all.ndim != 2 or b.shape[1] != q_all.shape[1] or len(b) == 0:
        raise ValueError(f"need (N, D) base and (Q, D) queries, got {tuple(b.shape)} and {tuple(q_all.shape)}")
    norms = (b * b).sum(1)
    idx, dist = [], []
    for start in range(0, len(q_all), batch_size):
        q = q_all[start:start + batch_size].to(dev)
        score = torch.addmm(norms, q, b.T, alpha=-2.0)  # ||b||^2 - 2 q.b
        i = score.argmin(1)
        idx.append(i.cpu())
        dist.append(((q - b[i]) ** 2).sum(1).cpu())
    return torch.cat(idx).numpy().astype(np.int64), torch.cat(dist).numpy()
