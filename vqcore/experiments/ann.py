"""ICASSP 2023 Figures 5 and 6a: approximate nearest-neighbour search with 64-bit codes on SIFT.

What runs (see :func:`run_ann`):

1. Data: :func:`vqcore.data.sift.build_sift_sets` (128-d SIFT descriptors from the bundled
   photographs; base, query and learning sets; exact ground truth by brute force).
   Every quantizer sees the same affine normalisation ``(x - mean) / rms`` fitted on the
   learning set; it maps distances to a constant multiple, so rankings (and recall) are those
   of the raw descriptors, while NSVQ's Adam steps act on unit-scale values.
2. Proposed: :class:`vqcore.AdditiveVQ` (beam search), :class:`vqcore.ResidualVQ` and
   :class:`vqcore.ProductVQ` with ``M`` codebooks of ``2 ** bits`` entries (paper: 8 x 256, 64-bit
   codes), trained with NSVQ (:func:`vqcore.training.fit_quantizer`) on the learning set, one run
   per seed.
3. Baselines with classical training (faiss-cpu): ``LocalSearchQuantizer`` (AVQ baseline),
   ``ResidualQuantizer`` with beam ``max_beam_size`` (RVQ baseline), ``ProductQuantizer`` (PVQ
   baseline), trained on the same normalised learning set, once (first seed).
4. Search: every base vector is encoded and decoded; queries are compared with the decoded base
   by asymmetric distance (:mod:`vqcore.ann`); 1-recall@T for T = 1, 2, ..., 512 (Figure 5) and
   T = 1, 10, ..., 10000 (Figure 6a). A depth beyond the base size counts as the base size.

Each run (method, seed) is saved as an atomic ``.npz`` checkpoint of its ranks, so an
interrupted run resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import results
from .._atomic import atomic_write_bytes
from ..additive import AdditiveVQ
from ..ann import POWERS_OF_TEN, POWERS_OF_TWO, asymmetric_ranks, recall_at
from ..data.sift import DEFAULT_C_DOG, build_sift_sets
from ..data.sift import default_cache_dir as sift_cache_dir
from ..product import ProductVQ
from ..residual import ResidualVQ
from ..training import fit_quantizer

logger = logging.getLogger(__name__)

__all__ = ["BASELINES", "FIG5_FILE", "FIG6A_FILE", "PRESETS", "PROPOSED", "run_ann"]

FIG5_FILE = Path("icassp2023") / "Figure 5" / "Recall.json"
FIG6A_FILE = Path("icassp2023") / "Figure 6" / "Recall_RVQ_Fig6-a.json"
METRIC = "Recall @ T"
PROPOSED = ("AVQ", "RVQ", "PVQ")
BASELINES = ("AVQ", "RVQ", "PVQ")
_FORMAT = 1

_SMOKE_IMAGES = ("brick", "camera", "chelsea", "coffee", "coins", "moon", "page", "text")

#: preset -> settings. ``n_base=None``: every descriptor the base images give.
PRESETS: dict[str, dict[str, Any]] = {
    # seconds: 8 images at half size, 4-bit codebooks (32-bit codes), a few training steps
    "smoke": {"images": _SMOKE_IMAGES, "scales": (0.5,), "c_dog": DEFAULT_C_DOG, "query_fraction": 0.25,
              "n_base": None, "n_query": 200, "n_learn": 700, "stages": 8, "bits_per_stage": 4, "beam_width": 4,
              "steps": 20, "batch_size": 128, "lr": 1e-2, "replace_every": 10, "seeds": (0,),
              "faiss_beam": 2, "rq_niter": 5, "lsq_train_iters": 2, "lsq_encode_ils_iters": 2, "pq_niter": 10},
    # minutes on a 2-core CPU: all 22 photographs at two scales, the paper's 8 x 256 codebooks
    "quick": {"images": None, "scales": (0.5, 1.0), "c_dog": 0.005, "query_fraction": 0.2,
              "n_base": 30000, "n_query": 1000, "n_learn": 10000, "stages": 8, "bits_per_stage": 8, "beam_width": 8,
              "steps": 300, "batch_size": 256, "lr": 1e-2, "replace_every": 50, "seeds": (0,),
              "faiss_beam": 5, "rq_niter": 10, "lsq_train_iters": 5, "lsq_encode_ils_iters": 4, "pq_niter": 25},
    # the paper's scale as far as the photographs go (a GPU is recommended for the proposed runs)
    "paper": {"images": None, "scales": (0.5, 1.0, 1.5), "c_dog": 0.005, "query_fraction": 0.2,
              "n_base": None, "n_query": 2000, "n_learn": 30000, "stages": 8, "bits_per_stage": 8, "beam_width": 16,
              "steps": 3000, "batch_size": 512, "lr": 1e-2, "replace_every": 100, "seeds": (0, 1, 2),
              "faiss_beam": 16, "rq_niter": 25, "lsq_train_iters": 25, "lsq_encode_ils_iters": 16, "pq_niter": 25},
}


def _key(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_npz(path: Path, **arrays: Any) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _proposed(method: str, cfg: dict[str, Any], dim: int):
    m, b = cfg["stages"], cfg["bits_per_stage"]
    if method == "AVQ":
        return AdditiveVQ(dim, m, b, beam_width=cfg["beam_width"])
    if method == "RVQ":
        return ResidualVQ(dim, m, b)
    if method == "PVQ":
        return ProductVQ(dim, m, b)
    raise ValueError(f"unknown method {method!r}")


@torch.no_grad()
def _reconstruct(q, x: np.ndarray, device: torch.device, chunk: int = 4096) -> np.ndarray:
    out = []
    for start in range(0, len(x), chunk):
        xb = torch.as_tensor(x[start:start + chunk], device=device)
        out.append(q.decode(q.encode(xb)).float().cpu())
    return torch.cat(out).numpy()


def _run_proposed(method: str, seed: int, cfg: dict[str, Any], learn: np.ndarray, base: np.ndarray,
                  device: torch.device, progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    torch.manual_seed(seed)
    q = _proposed(method, cfg, learn.shape[1]).to(device)
    t0 = time.perf_counter()
    fit_quantizer(q, torch.as_tensor(learn, device=device), cfg["steps"], batch_size=cfg["batch_size"],
                  lr=cfg["lr"], replace_every=cfg["replace_every"], seed=seed, progress=progress)
    t1 = time.perf_counter()
    decoded = _reconstruct(q, base, device)
    t2 = time.perf_counter()
    return decoded, {"train_s": t1 - t0, "encode_s": t2 - t1}


def _run_baseline(method: str, seed: int, cfg: dict[str, Any], learn: np.ndarray, base: np.ndarray,
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    import faiss

    d, m, b = learn.shape[1], cfg["stages"], cfg["bits_per_stage"]
    if method == "AVQ":
        q = faiss.LocalSearchQuantizer(d, m, b)
        q.random_seed = int(seed)
        q.train_iters = int(cfg["lsq_train_iters"])
        q.encode_ils_iters = int(cfg["lsq_encode_ils_iters"])
    elif method == "RVQ":
        q = faiss.ResidualQuantizer(d, m, b)
        q.max_beam_size = int(cfg["faiss_beam"])
        q.cp.niter = int(cfg["rq_niter"])
        q.cp.seed = int(seed)
    elif method == "PVQ":
        q = faiss.ProductQuantizer(d, m, b)
        q.cp.niter = int(cfg["pq_niter"])
        q.cp.seed = int(seed)
    else:
        raise ValueError(f"unknown method {method!r}")
    t0 = time.perf_counter()
    q.train(np.ascontiguousarray(learn, dtype=np.float32))
    t1 = time.perf_counter()
    decoded = q.decode(q.compute_codes(np.ascontiguousarray(base, dtype=np.float32)))
    t2 = time.perf_counter()
    return np.asarray(decoded, dtype=np.float32), {"train_s": t1 - t0, "encode_s": t2 - t1}


def run_ann(preset: str = "quick", results_dir: str | os.PathLike = "Results", device: Any = None,
            seeds: Sequence[int] | None = None, *, checkpoint_dir: str | os.PathLike | None = None,
            cache_dir: str | os.PathLike | None = None, progress: bool = False,
            overrides: dict[str, Any] | None = None) -> dict[str, Path]:
    """Run Figures 5 and 6a and write their result files.

    Args:
        preset: ``"smoke"``, ``"quick"`` or ``"paper"`` (see :data:`PRESETS`).
        results_dir: the ``Results`` root; writes ``icassp2023/Figure 5/Recall.json`` and
            ``icassp2023/Figure 6/Recall_RVQ_Fig6-a.json`` under it.
        device: torch device for training, encoding, ground truth and search (default: CUDA when
            present, else CPU). faiss baselines always run on the CPU.
        seeds: training seeds of the proposed methods (default: the preset's); the data split
            and the baselines use the first.
        checkpoint_dir: per-run checkpoints (default: ``<sift cache>/ann-runs``).
        cache_dir: SIFT cache (default :func:`vqcore.data.sift.default_cache_dir`).
        progress: show training progress bars.
        overrides: preset settings to replace (for experiments and tests).
    Returns:
        ``{"fig5": path, "fig6a": path}``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    cfg = dict(PRESETS[preset], **(overrides or {}))
    seeds = [int(s) for s in (cfg["seeds"] if seeds is None else seeds)]
    if not seeds:
        raise ValueError("need at least one seed")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t_start = time.perf_counter()
    data_seed = seeds[0]

    sets = build_sift_sets(cfg["n_base"], cfg["n_query"], cfg["n_learn"], data_seed, scales=cfg["scales"],
                           c_dog=cfg["c_dog"], query_fraction=cfg["query_fraction"], images=cfg["images"],
                           cache_dir=cache_dir, device=dev)
    mean = sets.learn.mean(0, keepdims=True)
    scale = float(np.sqrt(((sets.learn - mean) ** 2).mean()))
    learn = ((sets.learn - mean) / scale).astype(np.float32)
    base = ((sets.base - mean) / scale).astype(np.float32)
    query = ((sets.query - mean) / scale).astype(np.float32)
    n_base = len(base)

    ckpt_root = Path(checkpoint_dir) if checkpoint_dir is not None else (
        Path(cache_dir) if cache_dir is not None else sift_cache_dir()) / "ann-runs"
    run_cfg = {k: v for k, v in cfg.items() if k != "seeds"}
    ckpt_dir = ckpt_root / f"{preset}-{_key({'format': _FORMAT, 'cfg': run_cfg, 'data': sets.info.get('cache')})}"

    def run(kind: str, method: str, seed: int) -> np.ndarray:
        path = ckpt_dir / f"{kind}-{method}-seed{seed}.npz"
        if path.exists():
            try:
                with np.load(path) as f:
                    logger.info("ANN: resumed %s %s seed %d from %s", kind, method, seed, path)
                    return f["ranks"]
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("ignoring unreadable checkpoint %s: %s", path, exc)
        if kind == "proposed":
            decoded, timing = _run_proposed(method, seed, cfg, learn, base, dev, progress)
        else:
            decoded, timing = _run_baseline(method, seed, cfg, learn, base)
        ranks = asymmetric_ranks(query, decoded, sets.ground_truth, device=dev)
        mse = float(((decoded - base) ** 2).sum(1).mean() * scale ** 2)
        info = dict(timing, base_mse=mse, recall_1=float((ranks < 1).mean()))
        logger.info("ANN %s %s seed %d: %s", kind, method, seed, info)
        _save_npz(path, ranks=ranks, info=np.array(json.dumps(info)))
        return ranks

    def info_of(kind: str, method: str, seed: int) -> dict[str, Any]:
        with np.load(ckpt_dir / f"{kind}-{method}-seed{seed}.npz") as f:
            return json.loads(str(f["info"]))

    proposed = {m: [run("proposed", m, s) for s in seeds] for m in PROPOSED}
    baseline = {m: run("baseline", m, data_seed) for m in BASELINES}

    runs = {f"{m} proposed": [info_of("proposed", m, s) for s in seeds] for m in PROPOSED}
    runs.update({f"{m} baseline": info_of("baseline", m, data_seed) for m in BASELINES})
    quantiles = (0.05, 0.95)
    data_meta = {
        "name": "SIFT descriptors (skimage.feature.SIFT) of the photographs in skimage.data and "
                "sklearn load_sample_images; queries from held-out images",
        "n_base": n_base, "n_query": len(query), "n_learn": len(learn), "dim": int(base.shape[1]),
        "scales": list(cfg["scales"]), "c_dog": cfg["c_dog"], "base_images": sets.base_images,
        "query_images": sets.query_images,
    }
    settings = {k: cfg[k] for k in ("stages", "bits_per_stage", "beam_width", "steps", "batch_size", "lr",
                                    "replace_every", "faiss_beam", "rq_niter", "lsq_train_iters",
                                    "lsq_encode_ils_iters", "pq_niter")}
    settings["code_bits"] = cfg["stages"] * cfg["bits_per_stage"]
    settings["estimator"] = "nsvq"
    settings["normalisation"] = "(x - mean(learn)) / rms(learn - mean), one scalar: rankings unchanged"
    settings["depth_beyond_base"] = "recall at T > n_base is recall at n_base (= 1)"

    def series(depths: Sequence[int], methods: Sequence[str], base_methods: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"Metric": METRIC, "T": [str(t) for t in depths]}
        capped = [min(int(t), n_base) for t in depths]
        for m in methods:
            per_seed = np.array([recall_at(r, capped) for r in proposed[m]])
            s = results.summarize(per_seed, axis=0, quantiles=quantiles)
            out[f"Mean ({m} proposed)"] = s.mean
            out[f"Quantile Low ({m} proposed)"] = s.low
            out[f"Quantile High ({m} proposed)"] = s.high
        for m in base_methods:
            out[f"{m} baseline"] = recall_at(baseline[m], capped)
        return out

    wall = time.perf_counter() - t_start
    meta = results.make_meta(preset, seeds, dev, quantiles=quantiles, over="training seeds",
                             data=data_meta, settings=settings, runs=runs, wall_time_s=round(wall, 2),
                             baseline_seed=data_seed, faiss_version=_faiss_version())
    results_dir = Path(results_dir)
    fig5 = series(POWERS_OF_TWO, PROPOSED, ("AVQ", "PVQ"))
    fig5["meta"] = meta
    fig6 = series(POWERS_OF_TEN, ("RVQ",), ("RVQ",))
    fig6["meta"] = meta
    p5 = results.write(fig5, results_dir / FIG5_FILE)
    p6 = results.write(fig6, results_dir / FIG6A_FILE)
    return {"fig5": p5, "fig6a": p6}


def _faiss_version() -> str | None:
    try:
        import faiss
    except ImportError:
        return None
    return getattr(faiss, "__version__", None)
