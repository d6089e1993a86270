"""ICASSP 2023 Figures 5 and 6a: approximate nearest-neighbour search with 64-bit codes on SIFT.

What runs (see :func:`run_ann`):

1. Data: :func:`vqcore.data.sift.build_sift_sets` (128-d SIFT descriptors from the bundled
   photographs; base, query and learning sets; exact ground truth by brute force).
   Every quantizer sees the same affine normalisation ``(x - mean) / rms`` fitted on the
   learning set; it maps distances to a constant multiple, so rankings (and recall) are those
   of the raw descriptors, while NSVQ's Adam steps act on unit-scale values.
2. Proposed: :class:`vqcore.AdditiveVQ` (beam search), :class:`vqcore.ResidualVQ` and
   :class:`vqcore.ProductVQ` with ``M`` codebooks of ``2 ** bits`` entries (paper: 8 x 256, 64-bit
   codes), trained with NSVQ on the learning set, one run per seed. The training recipe
   (:func:`vqcore.training.fit_quantizer`):

   - codebooks start from data (``init_from_data``: random learning vectors, or, for RVQ, the
     residuals of a greedy pass), then Adam on NSVQ's output error with codebook replacement
     every ``replace_every`` steps; the last ``finetune_fraction`` of the steps run at
     ``lr * finetune_lr_factor`` without replacement (a step learning-rate decay). Without the
     decay, and with a few hundred steps, NSVQ's RVQ stays far from a classical RVQ and its
     recall falls below PVQ's (the book's page says more);
   - the learning set must be large enough for RVQ's and AVQ's 2048 full-dimensional codewords:
     with 10 000 learning vectors NSVQ's RVQ overfits (its training error ends far below its
     error on the base) and falls to PVQ's recall; the ``quick`` preset uses 30 000;
   - AVQ (``avq_init = "rvq"``) starts from the codebooks of the RVQ trained with the same seed
     (a greedy RVQ solution is a valid set of AVQ codebooks, and beam search over them already
     codes better than RVQ's greedy search) and then trains ``avq_steps`` NSVQ steps with
     beam-search encoding: a beam-search step costs far more than an RVQ step on a CPU, so the
     expensive steps start from a good point. ``"scratch"`` starts AVQ from data like the others.
3. Baselines with classical training (faiss-cpu): ``LocalSearchQuantizer`` (AVQ baseline),
   ``ResidualQuantizer`` with beam ``max_beam_size`` (RVQ baseline), ``ProductQuantizer`` (PVQ
   baseline), trained on the same normalised learning set, once (first seed).
4. Search: every base vector is encoded and decoded; queries are compared with the decoded base
   by asymmetric distance (:mod:`vqcore.eval.ann`); 1-recall@T for T = 1, 2, ..., 512 (Figure 5) and
   T = 1, 10, ..., 10000 (Figure 6a). A depth beyond the base size counts as the base size.

Each run (method, seed) is saved as an atomic ``.npz`` checkpoint of its ranks (and, for RVQ,
its codebooks, which AVQ starts from) under ``<results_dir>/.runs/ann/``, so an interrupted run
resumes where it stopped.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import results
from ..io.atomic import atomic_write_bytes
from ..eval.ann import POWERS_OF_TEN, POWERS_OF_TWO, asymmetric_ranks, recall_at
from ..quantizers.base import Quantizer
from ..data.sift import DEFAULT_C_DOG, build_sift_sets
from ..quantizers.registry import build_quantizer
from ..training import fit_quantizer
from .common import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["BASELINES", "FIG5_FILE", "FIG6A_FILE", "FIGURES", "PRESETS", "PROPOSED", "figure_methods",
           "run_ann"]

#: the figures this module makes
FIGURES: tuple[str, ...] = ("5", "6a")
FIG5_FILE = Path("icassp2023") / "Figure 5" / "Recall.json"
FIG6A_FILE = Path("icassp2023") / "Figure 6" / "Recall_RVQ_Fig6-a.json"
METRIC = "Recall @ T"
PROPOSED = ("AVQ", "RVQ", "PVQ")
BASELINES = ("AVQ", "RVQ", "PVQ")
_FORMAT = 2

_SMOKE_IMAGES = ("brick", "camera", "chelsea", "coffee", "coins", "moon", "page", "text")

#: preset -> settings. ``n_base=None``: every descriptor the base images give.
PRESETS: dict[str, dict[str, Any]] = {
    # seconds: 8 images at half size, 4-bit codebooks (32-bit codes), a few training steps
    "smoke": {"images": _SMOKE_IMAGES, "scales": (0.5,), "c_dog": DEFAULT_C_DOG, "query_fraction": 0.25,
              "n_base": None, "n_query": 200, "n_learn": 700, "stages": 8, "bits_per_stage": 4, "beam_width": 4,
              "steps": 30, "batch_size": 128, "lr": 1e-2, "finetune_fraction": 0.2, "finetune_lr_factor": 0.1,
              "replace_every": 10, "replace_until": 0.9,
              "avq_init": "rvq", "avq_steps": 6, "avq_batch_size": 128, "avq_lr": 3e-3, "seeds": (0,),
              "faiss_beam": 2, "rq_niter": 5, "lsq_train_iters": 2, "lsq_encode_ils_iters": 2, "pq_niter": 10},
    # minutes on a 2-core CPU: all 22 photographs at three scales, the paper's 8 x 256 codebooks, a base of
    # 50 000 (of the ~107 000 the images give; the paper preset takes them all)
    "quick": {"images": None, "scales": (0.5, 1.0, 1.5), "c_dog": 0.005, "query_fraction": 0.2,
              "n_base": 50000, "n_query": 5000, "n_learn": 30000, "stages": 8, "bits_per_stage": 8, "beam_width": 8,
              "steps": 6000, "batch_size": 256, "lr": 1e-2, "finetune_fraction": 0.2, "finetune_lr_factor": 0.1,
              "replace_every": 50, "replace_until": 0.9,
              "avq_init": "rvq", "avq_steps": 200, "avq_batch_size": 512, "avq_lr": 3e-3, "seeds": (0, 1),
              "faiss_beam": 5, "rq_niter": 10, "lsq_train_iters": 12, "lsq_encode_ils_iters": 16, "pq_niter": 25},
    # the paper's scale as far as the photographs go (a GPU is recommended for the proposed runs)
    "paper": {"images": None, "scales": (0.5, 1.0, 1.5), "c_dog": 0.005, "query_fraction": 0.2,
              "n_base": None, "n_query": 10000, "n_learn": 30000, "stages": 8, "bits_per_stage": 8,
              "beam_width": 16, "steps": 30000, "batch_size": 512, "lr": 1e-2, "finetune_fraction": 0.2,
              "finetune_lr_factor": 0.1, "replace_every": 200, "replace_until": 0.9,
              "avq_init": "rvq", "avq_steps": 3000, "avq_batch_size": 512, "avq_lr": 1e-3, "seeds": (0, 1, 2),
              "faiss_beam": 16, "rq_niter": 25, "lsq_train_iters": 25, "lsq_encode_ils_iters": 16, "pq_niter": 25},
}


def _key(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_npz(path: Path, **arrays: Any) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _check_figures(figures: Iterable[str]) -> list[str]:
    out = []
    for f in ([figures] if isinstance(figures, str) else figures):
        key = str(f).strip().lower().removeprefix("figure").removeprefix("fig").strip().replace("-", "")
        if key not in FIGURES:
            raise ValueError(f"figures must be among {FIGURES}, got {f!r}")
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("figures: need at least one figure")
    return out


def figure_methods(figure: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(proposed, baselines)`` drawn in ``figure`` (``"5"`` or ``"6a"``), in the authors' order."""
    if figure == "5":
        return PROPOSED, ("AVQ", "PVQ")
    if figure == "6a":
        return ("RVQ",), ("RVQ",)
    raise ValueError(f"figure must be one of {FIGURES}, got {figure!r}")


@torch.no_grad()
def _reconstruct(q: Quantizer, x: np.ndarray, device: torch.device, chunk: int = 4096) -> np.ndarray:
    out = []
    for start in range(0, len(x), chunk):
        xb = torch.as_tensor(x[start:start + chunk], device=device)
        out.append(q.decode(q.encode(xb)).float().cpu())
    return torch.cat(out).numpy()


def _run_proposed(method: str, seed: int, cfg: dict[str, Any], learn: np.ndarray, base: np.ndarray,
                  device: torch.device, progress: bool, warm: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, dict[str, Any], Quantizer]:
    torch.manual_seed(seed)
    q = build_quantizer(method, learn.shape[1], cfg["stages"] * cfg["bits_per_stage"], stages=cfg["stages"],
                        beam_width=cfg["beam_width"]).to(device)
    data = torch.as_tensor(learn, device=device)
    t0 = time.perf_counter()
    if method == "AVQ" and warm is not None:
        q.codebooks.data.copy_(torch.as_tensor(warm).to(q.codebooks))
        log = fit_quantizer(q, data, cfg["avq_steps"], batch_size=cfg["avq_batch_size"], lr=cfg["avq_lr"],
                            finetune_fraction=0.0, finetune_lr_factor=1.0, replace_every=0, replace_until=0.0,
                            init=False, seed=seed + 7, progress=progress)
    else:
        steps, bs, lr = ((cfg["avq_steps"], cfg["avq_batch_size"], cfg["avq_lr"]) if method == "AVQ"
                         else (cfg["steps"], cfg["batch_size"], cfg["lr"]))
        log = fit_quantizer(q, data, steps, batch_size=bs, lr=lr, finetune_fraction=cfg["finetune_fraction"],
                            finetune_lr_factor=cfg["finetune_lr_factor"], replace_every=cfg["replace_every"],
                            replace_until=cfg["replace_until"], init=True, seed=seed, progress=progress)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t1 = time.perf_counter()
    decoded = _reconstruct(q, base, device)
    t2 = time.perf_counter()
    summary = {"replaced": int(sum(log.replaced)), "final_loss": log.loss[-1] if log.loss else None}
    return decoded, dict(summary, train_s=t1 - t0, encode_s=t2 - t1, warm_start="RVQ" if warm is not None else None), q


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


def run_ann(figures: Iterable[str] = FIGURES, preset: str = "quick", results_dir: str | os.PathLike = "Results",
            device: Any = "auto", progress: bool = True, *, seeds: Sequence[int] | None = None,
            checkpoint_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
            overrides: dict[str, Any] | None = None) -> list[Path]:
    """Run Figures 5 and/or 6a and write their result files.

    Args:
        figures: any of ``"5"`` and ``"6a"`` (:data:`FIGURES`); only the methods they draw are run.
        preset: ``"smoke"``, ``"quick"`` or ``"paper"`` (see :data:`PRESETS`).
        results_dir: the ``Results`` root; writes ``icassp2023/Figure 5/Recall.json`` and/or
            ``icassp2023/Figure 6/Recall_RVQ_Fig6-a.json`` under it.
        device: torch device for training, encoding, ground truth and search (``"auto"``: CUDA
            when present, else CPU). faiss baselines always run on the CPU.
        progress: show training progress bars.
        seeds: training seeds of the proposed methods (default: the preset's); the data split
            and the baselines use the first.
        checkpoint_dir: per-run checkpoints (default: ``<results_dir>/.runs/ann``).
        cache_dir: SIFT cache (default :func:`vqcore.data.sift.default_cache_dir`).
        overrides: preset settings to replace (for experiments and tests).
    Returns:
        The result files written, in the order of ``figures``.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    figs = _check_figures(figures)
    unknown = set(overrides or {}) - set(PRESETS[preset])
    if unknown:
        raise ValueError(f"overrides: unknown settings {sorted(unknown)}")
    cfg = dict(PRESETS[preset], **(overrides or {}))
    if cfg["avq_init"] not in ("rvq", "scratch"):
        raise ValueError(f"avq_init must be 'rvq' or 'scratch', got {cfg['avq_init']!r}")
    seeds = [int(s) for s in (cfg["seeds"] if seeds is None else seeds)]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    dev = resolve_device(device)
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

    results_dir = Path(results_dir)
    ckpt_root = Path(checkpoint_dir) if checkpoint_dir is not None else results_dir / ".runs" / "ann"
    run_cfg = {k: v for k, v in cfg.items() if k != "seeds"}
    data_key = {k: sets.info.get(k) for k in ("n_base", "n_query", "n_learn", "seed", "scales", "c_dog",
                                               "query_fraction", "images")}
    ckpt_dir = ckpt_root / f"{preset}-{_key({'format': _FORMAT, 'cfg': run_cfg, 'data': data_key})}"

    def path_of(kind: str, method: str, seed: int) -> Path:
        return ckpt_dir / f"{kind}-{method}-seed{seed}.npz"

    def load(kind: str, method: str, seed: int, need: str = "ranks") -> dict[str, Any] | None:
        path = path_of(kind, method, seed)
        if not path.exists():
            return None
        try:
            with np.load(path) as f:
                out = {k: f[k] for k in f.files}
            out["info"] = json.loads(str(out["info"]))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            return None
        return out if need in out else None

    def finish(kind: str, method: str, seed: int, decoded: np.ndarray, timing: dict[str, Any],
               **extra: np.ndarray) -> np.ndarray:
        ranks = asymmetric_ranks(query, decoded, sets.ground_truth, device=dev)
        mse = float(((decoded - base) ** 2).sum(1).mean() * scale ** 2)
        info = dict(timing, base_mse=mse, recall_1=float((ranks < 1).mean()))
        logger.info("ANN %s %s seed %d: %s", kind, method, seed, info)
        _save_npz(path_of(kind, method, seed), ranks=ranks, info=np.array(json.dumps(info)), **extra)
        return ranks

    def rvq_codebooks(seed: int) -> np.ndarray:
        stored = load("proposed", "RVQ", seed, need="codebooks")
        if stored is not None:
            return stored["codebooks"]
        proposed_run("RVQ", seed)
        return load("proposed", "RVQ", seed, need="codebooks")["codebooks"]

    def proposed_run(method: str, seed: int) -> np.ndarray:
        stored = load("proposed", method, seed, need="codebooks" if method == "RVQ" else "ranks")
        if stored is not None:
            logger.info("ANN: resumed proposed %s seed %d from %s", method, seed, ckpt_dir)
            return stored["ranks"]
        warm = rvq_codebooks(seed) if method == "AVQ" and cfg["avq_init"] == "rvq" else None
        decoded, timing, q = _run_proposed(method, seed, cfg, learn, base, dev, progress, warm)
        extra = {"codebooks": q.codebooks.detach().cpu().numpy()} if method == "RVQ" else {}
        return finish("proposed", method, seed, decoded, timing, **extra)

    def baseline_run(method: str) -> np.ndarray:
        stored = load("baseline", method, data_seed)
        if stored is not None:
            logger.info("ANN: resumed baseline %s from %s", method, ckpt_dir)
            return stored["ranks"]
        decoded, timing = _run_baseline(method, data_seed, cfg, learn, base)
        return finish("baseline", method, data_seed, decoded, timing)

    need_p = [m for m in PROPOSED if any(m in figure_methods(f)[0] for f in figs)]
    need_b = [m for m in BASELINES if any(m in figure_methods(f)[1] for f in figs)]
    order = sorted(need_p, key=("RVQ", "PVQ", "AVQ").index)  # RVQ first: AVQ starts from it
    proposed = {m: [] for m in need_p}
    for m in order:
        proposed[m] = [proposed_run(m, s) for s in seeds]
    baseline = {m: baseline_run(m) for m in need_b}

    runs = {f"{m} proposed": [load("proposed", m, s)["info"] for s in seeds] for m in need_p}
    runs.update({f"{m} baseline": load("baseline", m, data_seed)["info"] for m in need_b})
    quantiles = (0.05, 0.95)
    data_meta = {
        "name": "SIFT descriptors (skimage.feature.SIFT) of the photographs in skimage.data and "
                "sklearn load_sample_images; queries from held-out images",
        "n_base": n_base, "n_query": len(query), "n_learn": len(learn), "dim": int(base.shape[1]),
        "scales": list(cfg["scales"]), "c_dog": cfg["c_dog"], "base_images": sets.base_images,
        "query_images": sets.query_images, "n_base_pool": sets.info.get("n_base_pool"),
        "n_query_pool": sets.info.get("n_query_pool"),
    }
    settings = {k: cfg[k] for k in ("stages", "bits_per_stage", "beam_width", "steps", "batch_size", "lr",
                                    "finetune_fraction", "finetune_lr_factor", "replace_every", "replace_until",
                                    "avq_init", "avq_steps", "avq_batch_size", "avq_lr", "faiss_beam", "rq_niter",
                                    "lsq_train_iters", "lsq_encode_ils_iters", "pq_niter")}
    settings["scales"] = list(cfg["scales"])
    settings["code_bits"] = cfg["stages"] * cfg["bits_per_stage"]
    settings["estimator"] = "nsvq"
    settings["init"] = "init_from_data (random learning vectors; greedy residuals for RVQ)"
    settings["normalisation"] = "(x - mean(learn)) / rms(learn - mean), one scalar: rankings unchanged"
    settings["depth_beyond_base"] = "recall at T > n_base is recall at n_base (= 1)"
    methods = {
        "AVQ proposed": (f"AdditiveVQ, beam width {cfg['beam_width']}, NSVQ; "
                         + ("starts from the trained RVQ proposed codebooks of the same seed, then "
                            f"{cfg['avq_steps']} beam-search NSVQ steps" if cfg["avq_init"] == "rvq"
                            else "from data")),
        "RVQ proposed": "ResidualVQ (greedy encoding), NSVQ",
        "PVQ proposed": "ProductVQ, NSVQ",
        "AVQ baseline": "faiss LocalSearchQuantizer",
        "RVQ baseline": f"faiss ResidualQuantizer, beam {cfg['faiss_beam']}",
        "PVQ baseline": "faiss ProductQuantizer (k-means per part)",
    }
    notes = {
        "smoke": "pipeline check only: few images, 4-bit codebooks, a few steps; the numbers mean nothing",
        "quick": "minutes on a 2-core CPU: a base of 50 000 of the ~107 000 descriptors the base images give "
                 "(the paper preset takes them all), two training seeds, far fewer training steps than the paper, "
                 "fewer LocalSearchQuantizer training iterations (12) than faiss's default (25)",
        "paper": "the paper's scale as far as the bundled photographs go; a GPU is recommended",
    }[preset]

    def series(figure: str) -> dict[str, Any]:
        depths = POWERS_OF_TWO if figure == "5" else POWERS_OF_TEN
        methods_p, methods_b = figure_methods(figure)
        out: dict[str, Any] = {"Metric": METRIC, "T": [str(t) for t in depths]}
        capped = [min(int(t), n_base) for t in depths]
        for m in methods_p:
            per_seed = np.array([recall_at(r, capped) for r in proposed[m]])
            s = results.summarize(per_seed, axis=0, quantiles=quantiles)
            out[f"Mean ({m} proposed)"] = s.mean
            out[f"Quantile Low ({m} proposed)"] = s.low
            out[f"Quantile High ({m} proposed)"] = s.high
        for m in methods_b:
            out[f"{m} baseline"] = recall_at(baseline[m], capped)
        return out

    wall = time.perf_counter() - t_start
    # training and encoding time of every run, also of runs resumed from checkpoints
    compute = sum(i["train_s"] + i["encode_s"] for v in runs.values() for i in (v if isinstance(v, list) else [v]))
    written = []
    for fig in figs:
        meta = results.make_meta(preset, seeds, dev, quantiles=quantiles, over="training seeds",
                                 figure=fig, paper="icassp2023", notes=notes, data=data_meta, settings=settings,
                                 methods={k: v for k, v in methods.items()
                                          if k.split()[0] in figure_methods(fig)[0 if "proposed" in k else 1]},
                                 runs={k: v for k, v in runs.items()
                                       if k.split()[0] in figure_methods(fig)[0 if "proposed" in k else 1]},
                                 wall_time_s=round(wall, 2), compute_s=round(compute, 2), baseline_seed=data_seed,
                                 faiss_version=_faiss_version())
        obj = series(fig)
        obj["meta"] = meta
        written.append(results.write(obj, results_dir / (FIG5_FILE if fig == "5" else FIG6A_FILE)))
    return written


def _faiss_version() -> str | None:
    try:
        import faiss
    except ImportError:
        return None
    return getattr(faiss, "__version__", None)
