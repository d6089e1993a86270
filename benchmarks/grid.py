"""Encoding cost across the codebook size and the beam width: vqcore's AVQ and RVQ against faiss on shared codebooks.

For every data set (iid and correlated Gaussian), codebook size ``K`` and thread count, faiss's
``ResidualQuantizer`` (4 codebooks, dim 64) is trained once and its codebooks are copied into
vqcore's ``AdditiveVQ`` (free order, and ``ordered_track=True``) and ``ResidualVQ``, and into a
faiss ``LocalSearchQuantizer`` where that is practical (its encoder does not take a beam). At every
beam width the methods are timed interleaved (the median of the passes, vectors/second) and their
mean squared errors put side by side. The JSON goes to ``<out>/encode-grid[-quick]-<date>.json``
(or ``--name``), written atomically.

    python -m benchmarks.grid                       # the full grid, about 8 minutes on 2 cores
    python -m benchmarks.grid --quick               # a few seconds per point
"""
from __future__ import annotations

import argparse
import json
import datetime as dt
import logging
import os
import platform
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":  # before torch loads: idle OpenMP threads sleep (see benchmarks/run.py)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import vqcore  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.timing import Job, batched, round_robin, threads, throughput_rows  # noqa: E402
from vqcore.data.gaussian import gaussian_dataset  # noqa: E402
from vqcore.io.atomic import atomic_write_text  # noqa: E402

logger = logging.getLogger("benchmarks.grid")

DIM, STAGES = 64, 4
KS, BEAMS, THREADS = (64, 256, 1024), (1, 4, 16, 64), (1, 2)
#: grid name -> the package's data kind
DATA = {"iid": "uncorrelated", "correlated": "correlated"}
AVQ, AVQ_ORDERED, RVQ = "vqcore.AdditiveVQ", "vqcore.AdditiveVQ.ordered_track", "vqcore.ResidualVQ"
FAISS_RQ, FAISS_LSQ = "faiss.ResidualQuantizer", "faiss.LocalSearchQuantizer"
#: the largest K at which faiss LSQ's encoder (iterated local search, slow) is timed
LSQ_MAX_K = 256


@dataclass(frozen=True)
class GridSizes:
    """How much one grid run measures."""

    max_vectors: int     #: test vectors per pass at beam 1 and K = 64 (fewer where a vector costs more)
    min_vectors: int
    work: int            #: vectors per pass = work / (K * beam), clamped to [min_vectors, max_vectors]
    lsq_work: int        #: faiss LSQ's vectors per pass = lsq_work / K (at least min_vectors; its encoder is slow)
    batch: int           #: vectors per encode call
    repeats: int         #: timed passes per method and point
    train_vectors: int
    kmeans_iters: int    #: faiss RQ's k-means iterations per codebook
    quick: bool

    @classmethod
    def for_run(cls, quick: bool, repeats: int | None) -> GridSizes:
        if quick:
            return cls(max_vectors=1024, min_vectors=32, work=1 << 15, lsq_work=1 << 12, batch=1024,
                       repeats=repeats or 1, train_vectors=2048, kmeans_iters=4, quick=True)
        return cls(max_vectors=16384, min_vectors=128, work=1 << 21, lsq_work=1 << 16, batch=4096, repeats=repeats or 5,
                   train_vectors=16384, kmeans_iters=10, quick=False)

    def vectors(self, k: int, beam: int) -> int:
        return max(self.min_vectors, min(self.max_vectors, self.work // (k * beam)))


def train_rq(faiss: Any, train: np.ndarray, k: int, sizes: GridSizes) -> tuple[Any, torch.Tensor]:
    """faiss RQ (greedy k-means per codebook) and its codebooks ``(STAGES, k, DIM)``."""
    rq = faiss.ResidualQuantizer(DIM, STAGES, int(np.log2(k)))
    rq.train_type = faiss.ResidualQuantizer.Train_default
    rq.max_beam_size = 1
    rq.cp.niter = sizes.kmeans_iters
    rq.cp.max_points_per_centroid = 10 ** 6  # no subsampling warning: the codebooks are shared, not judged
    rq.verbose = False
    rq.train(train)
    return rq, torch.from_numpy(faiss.vector_to_array(rq.codebooks).reshape(STAGES, k, DIM).copy())


def lsq_with(faiss: Any, books: torch.Tensor) -> Any:
    """A faiss LSQ whose codebooks are ``books`` (its encoder, ILS, on the shared codebooks)."""
    k = books.shape[1]
    lsq = faiss.LocalSearchQuantizer(DIM, STAGES, int(np.log2(k)))
    faiss.copy_array_to_vector(books.numpy().ravel(), lsq.codebooks)
    lsq.is_trained = True
    return lsq


def _rq_encode(rq: Any, beam: int, x: np.ndarray) -> np.ndarray:
    rq.max_beam_size = beam
    return rq.compute_codes(x)


def _mse(reconstruction: Any, x: torch.Tensor) -> float:
    rec = torch.from_numpy(reconstruction) if isinstance(reconstruction, np.ndarray) else reconstruction
    return F.mse_loss(rec.float(), x).item()


def point_jobs(faiss: Any, rq: Any, books: torch.Tensor, x: torch.Tensor, beam: int,
               sizes: GridSizes) -> tuple[list[Job], dict[str, Any]]:
    """The timed jobs of one (K, beam) point on the test vectors ``x``, and a decoder per job key."""
    k, bits = books.shape[1], int(np.log2(books.shape[1]))
    x_np = x.numpy()
    avq = vqcore.AdditiveVQ(DIM, STAGES, bits, beam_width=beam, ordered_track=False).eval()
    avq_ordered = vqcore.AdditiveVQ(DIM, STAGES, bits, beam_width=beam, ordered_track=True).eval()
    for q in (avq, avq_ordered):
        q.codebooks.data.copy_(books)
    n, batch = x.shape[0], sizes.batch
    jobs = [Job(AVQ, "vqcore", f"AdditiveVQ(64, 4, {bits}, beam_width={beam}, ordered_track=False).encode",
                batched(avq.encode, x, batch), n, "cpu"),
            Job(AVQ_ORDERED, "vqcore", f"AdditiveVQ(64, 4, {bits}, beam_width={beam}, ordered_track=True).encode",
                batched(avq_ordered.encode, x, batch), n, "cpu"),
            Job(FAISS_RQ, "faiss", f"ResidualQuantizer(64, 4, {bits}), max_beam_size={beam}, compute_codes",
                batched(partial(_rq_encode, rq, beam), x_np, batch), n, "cpu")]
    decoders: dict[str, Any] = {AVQ: lambda: avq.decode(avq.encode(x)),
                                AVQ_ORDERED: lambda: avq.decode(avq_ordered.encode(x)),
                                FAISS_RQ: lambda: rq.decode(_rq_encode(rq, beam, x_np))}
    if beam == 1:
        rvq = vqcore.ResidualVQ(DIM, STAGES, bits).eval()
        rvq.codebooks.data.copy_(books)
        jobs.insert(2, Job(RVQ, "vqcore", f"ResidualVQ(64, 4, {bits}).encode (greedy)",
                           batched(rvq.encode, x, batch), n, "cpu"))
        decoders[RVQ] = lambda: rvq.decode(rvq.encode(x))
        if k <= LSQ_MAX_K:  # LSQ's encoder has no beam: timed once per K, with the beam-1 point
            lsq = lsq_with(faiss, books)
            x_lsq = x_np[:max(sizes.min_vectors, sizes.lsq_work // k)]
            jobs.append(Job(FAISS_LSQ, "faiss", f"LocalSearchQuantizer(64, 4, {bits}) compute_codes (ILS, "
                                                f"encode_ils_iters={lsq.encode_ils_iters}), RQ's codebooks",
                            batched(lsq.compute_codes, x_lsq, batch), x_lsq.shape[0], "cpu"))
            decoders[FAISS_LSQ] = lambda: lsq.decode(lsq.compute_codes(x_lsq))
    return jobs, decoders


def measure_point(faiss: Any, rq: Any, books: torch.Tensor, test: torch.Tensor, beam: int, thread_counts: list[int],
                  sizes: GridSizes) -> list[dict[str, Any]]:
    """One (data, K, beam) point at every thread count: rows of speeds, with the MSE of every method."""
    k = books.shape[1]
    x = test[:sizes.vectors(k, beam)].contiguous()
    jobs, decoders = point_jobs(faiss, rq, books, x, beam, sizes)
    with torch.no_grad():
        mse = {key: _mse(rec, x[:len(rec)]) for key, decode in decoders.items() for rec in [decode()]}
    rows = []
    for count in thread_counts:
        with threads(count, faiss), torch.no_grad():
            speed = throughput_rows(jobs, round_robin(jobs, sizes.repeats, torch.device("cpu"),
                                                      f"K={k} beam={beam} threads={count}"))
        for key, row in speed.items():
            row["mse"] = mse[key]
        rows.append({"K": k, "beam": beam, "threads": count, "vectors": x.shape[0], "methods": speed,
                     "ratios": point_ratios(speed)})
    return rows


def point_ratios(methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """vqcore over faiss RQ at one point: speed (medians) and relative MSE difference (negative: ours better)."""
    peer = methods[FAISS_RQ]
    out = {}
    for key in (AVQ, AVQ_ORDERED, RVQ):
        if key in methods:
            out[key] = {"speed": methods[key]["vec_per_s_median"] / peer["vec_per_s_median"],
                        "mse": (methods[key]["mse"] - peer["mse"]) / peer["mse"]}
    return out


def run_grid(args: argparse.Namespace) -> dict[str, Any]:
    """Every point of the grid, as the JSON's dictionary."""
    import faiss  # the grid is about faiss: without it there is nothing to compare

    sizes = GridSizes.for_run(args.quick, args.repeats)
    started = dt.datetime.now().astimezone()
    result = header(started, sizes, args, faiss)
    for name in args.data:
        split = gaussian_dataset(DATA[name], DIM, sizes.train_vectors, sizes.max_vectors, seed=0)
        for k in args.ks:
            rq, books = train_rq(faiss, split.train.numpy(), k, sizes)
            for beam in args.beams:
                logger.info("data=%s K=%d beam=%d", name, k, beam)
                for row in measure_point(faiss, rq, books, split.test, beam, args.threads, sizes):
                    result["points"].append({"data": name, **row})
    result["targets"] = targets(result["points"])
    result["load_average_end"] = report.load_average()
    result["elapsed_s"] = round((dt.datetime.now().astimezone() - started).total_seconds(), 1)
    return result


def header(started: dt.datetime, sizes: GridSizes, args: argparse.Namespace, faiss: Any) -> dict[str, Any]:
    """The JSON up to its (still empty) points."""
    return {
        "schema": 1,
        "kind": "encode-grid",
        "date": started.isoformat(timespec="seconds"),
        "device": {"type": "cpu", "cpu": report.cpu_model(), "cpu_count": os.cpu_count()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "faiss": getattr(faiss, "__version__", None), "vqcore": vqcore.__version__},
        "config": {"dim": DIM, "stages": STAGES, "ks": list(args.ks), "beams": list(args.beams),
                   "threads": list(args.threads), "data": {n: f"vqcore.data.gaussian.gaussian_dataset({DATA[n]!r}, "
                                                               f"{DIM}, seed=0)" for n in args.data},
                   "sizes": {k: v for k, v in vars(sizes).items()}, "lsq_max_k": LSQ_MAX_K,
                   "statistic": "vectors/second = vectors / wall-clock seconds per pass; median (and best) of "
                                "`repeats` passes after one warm-up pass, methods interleaved; vectors per pass "
                                "= clamp(work / (K * beam), min_vectors, max_vectors); mse per component on the "
                                "same vectors; every method on faiss RQ's trained codebooks"},
        "environment": {k: os.environ.get(k) for k in report.ENV_KEYS},
        "load_average_start": report.load_average(),
        "points": [],
    }


def targets(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each with its worst value over the grid and whether it is met."""
    def worst(key: str, what: str, where: Any = lambda p: True) -> float | None:
        values = [p["ratios"][key][what] for p in points if key in p["ratios"] and where(p)]
        return (min(values) if what == "speed" else max(values)) if values else None

    rows = [("AdditiveVQ (free order) encode >= 1 x faiss RQ at every point", worst(AVQ, "speed"), 1.0),
            ("AdditiveVQ ordered_track encode >= 1 x faiss RQ at every point", worst(AVQ_ORDERED, "speed"), 1.0),
            ("AdditiveVQ (free order) >= 2 x faiss RQ at beam 16, K = 256",
             worst(AVQ, "speed", lambda p: p["beam"] == 16 and p["K"] == 256), 2.0),
            ("ResidualVQ encode >= 1 x faiss RQ beam 1", worst(RVQ, "speed"), 1.0)]
    out = [{"target": t, "value": v, "met": v >= floor} for t, v, floor in rows if v is not None]
    for key in (AVQ, AVQ_ORDERED):
        v = worst(key, "mse")
        if v is not None:
            out.append({"target": f"{key} MSE <= faiss RQ's at every point (largest relative difference)",
                        "value": v, "met": v <= 0.0})
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grid", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--ks", type=int, nargs="+", default=list(KS), help="codebook sizes (powers of two)")
    parser.add_argument("--beams", type=int, nargs="+", default=list(BEAMS), help="beam widths")
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS), help="torch and faiss threads")
    parser.add_argument("--data", nargs="+", choices=list(DATA), default=list(DATA), help="data sets")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per method (default 5; --quick 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="output folder")
    parser.add_argument("--name", default=None, help="file name (default encode-grid[-quick]-<date>.json)")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse bad options before any work (exit code 2, the option named)."""
    for k in args.ks:
        if k < 2 or k & (k - 1):
            parser.error(f"--ks: {k} is not a power of two >= 2")
    for option, values in (("--beams", args.beams), ("--threads", args.threads)):
        if any(v < 1 for v in values):
            parser.error(f"{option}: values must be >= 1, got {values}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats: must be >= 1, got {args.repeats}")
    if args.name is not None and (not args.name.endswith(".json") or Path(args.name).name != args.name):
        parser.error(f"--name: a plain file name ending in .json, got {args.name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the grid, write its JSON, print where."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    logging.basicConfig(level=logging.INFO if os.environ.get("VQCORE_BENCH_VERBOSE") else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    before = torch.get_num_threads()
    try:
        result = run_grid(args)
    finally:
        torch.set_num_threads(before)
    name = args.name or f"encode-grid{'-quick' if args.quick else ''}-{result['date'][:10]}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / name
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"\nwrote {path}")
    return 0


def summary(result: dict[str, Any]) -> str:
    """One line per point: speed ratios and MSE differences against faiss RQ; then the targets."""
    lines = ["data        K  beam thr   AVQ/faiss  ordered/faiss  RVQ/faiss   dMSE AVQ  dMSE ordered"]
    for p in result["points"]:
        r = p["ratios"]
        rvq = f"{r[RVQ]['speed']:9.2f}" if RVQ in r else " " * 9
        lines.append(f"{p['data']:10s} {p['K']:4d} {p['beam']:5d} {p['threads']:3d} {r[AVQ]['speed']:10.2f} "
                     f"{r[AVQ_ORDERED]['speed']:14.2f} {rvq}  {r[AVQ]['mse']:+9.2%} {r[AVQ_ORDERED]['mse']:+12.2%}")
    lines.append("targets:")
    lines += [f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']:.3g}" for t in result["targets"]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
