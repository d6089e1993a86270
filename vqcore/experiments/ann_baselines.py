"""The classical baselines of Figures 5 and 6a, trained with faiss-cpu (imported only when one runs).

``AVQ``: ``LocalSearchQuantizer``; ``RVQ``: ``ResidualQuantizer`` with beam ``faiss_beam``;
``PVQ``: ``ProductQuantizer`` (k-means per part). Each has ``stages`` codebooks of
``2 ** bits_per_stage`` entries, like the proposed quantizers, and always runs on the CPU.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .ann_presets import AnnPreset

__all__ = ["BASELINES", "describe_baselines", "faiss_version", "run_baseline"]

#: the methods with a baseline
BASELINES: tuple[str, ...] = ("AVQ", "RVQ", "PVQ")


def describe_baselines(p: AnnPreset) -> dict[str, str]:
    """``{"<method> baseline": what it is}`` for the result metadata."""
    return {
        "AVQ baseline": "faiss LocalSearchQuantizer",
        "RVQ baseline": f"faiss ResidualQuantizer, beam {p.faiss_beam}",
        "PVQ baseline": "faiss ProductQuantizer (k-means per part)",
    }


def _faiss_quantizer(method: str, dim: int, seed: int, p: AnnPreset) -> Any:
    import faiss

    m, b = p.stages, p.bits_per_stage
    if method == "AVQ":
        q = faiss.LocalSearchQuantizer(dim, m, b)
        q.random_seed = int(seed)
        q.train_iters = int(p.lsq_train_iters)
        q.encode_ils_iters = int(p.lsq_encode_ils_iters)
    elif method == "RVQ":
        q = faiss.ResidualQuantizer(dim, m, b)
        q.max_beam_size = int(p.faiss_beam)
        q.cp.niter = int(p.rq_niter)
        q.cp.seed = int(seed)
    elif method == "PVQ":
        q = faiss.ProductQuantizer(dim, m, b)
        q.cp.niter = int(p.pq_niter)
        q.cp.seed = int(seed)
    else:
        raise ValueError(f"method must be one of {BASELINES}, got {method!r}")
    return q


def run_baseline(method: str, seed: int, p: AnnPreset, learn: np.ndarray, base: np.ndarray,
                 ) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the faiss baseline of ``method`` on ``learn`` ``(L, D)`` and reconstruct ``base`` ``(N, D)``.

    Returns:
        ``(decoded, timing)``: the decoded base ``(N, D)`` float32 and ``{"train_s", "encode_s"}``.
    """
    q = _faiss_quantizer(method, learn.shape[1], seed, p)
    t0 = time.perf_counter()
    q.train(np.ascontiguousarray(learn, dtype=np.float32))
    t1 = time.perf_counter()
    decoded = q.decode(q.compute_codes(np.ascontiguousarray(base, dtype=np.float32)))
    t2 = time.perf_counter()
    return np.asarray(decoded, dtype=np.float32), {"train_s": t1 - t0, "encode_s": t2 - t1}


def faiss_version() -> str | None:
    """The installed faiss version (None when faiss is not installed)."""
    try:
        import faiss
    except ImportError:
        return None
    return getattr(faiss, "__version__", None)
