#!/usr/bin/env python
"""vqcore against peer libraries: encode throughput, AVQ quality at equal codebooks, training speed.

Everything is measured in one process, side by side, on the same data (dim 64, 4 stages of 256
entries = 32 bits per vector), and written as JSON to ``<out>/<device>-<date>.json``.
See ``benchmarks/README.md`` for what is measured and the targets.

    python benchmarks/run.py                 # CPU (or the GPU when one is there: --device auto)
    python benchmarks/run.py --device cuda   # on a GPU
    python benchmarks/run.py --quick         # a smoke run of a few seconds
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WAIT_POLICIES = ("passive", "active", "runtime")


def _set_omp_wait_policy(argv: list[str]) -> None:
    """Before torch (and OpenMP) load: idle OpenMP threads sleep instead of spinning, unless told otherwise.

    With the runtime's default (spinning) policy, torch's many short parallel regions collapse when
    another process competes for the cores (a 2-core machine shared with other jobs: 20x slower);
    the passive policy keeps timings meaningful there and costs little on an idle machine. It
    applies to every library measured here. An ``OMP_WAIT_POLICY`` already in the environment wins.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--omp-wait-policy", choices=WAIT_POLICIES, default="passive")
    known, _ = pre.parse_known_args(argv)
    if known.omp_wait_policy != "runtime":
        os.environ.setdefault("OMP_WAIT_POLICY", known.omp_wait_policy.upper())


if __name__ == "__main__":  # run as a script: the policy must be set before torch is imported
    _set_omp_wait_policy(sys.argv[1:])
    if str(ROOT) not in sys.path:  # measure the working tree (and find the benchmarks package)
        sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks import report  # noqa: E402
from benchmarks.config import Sizes, data_label, load_data  # noqa: E402
from benchmarks.ours import build_ours, our_encode_jobs  # noqa: E402
from benchmarks.peers import Peers, peer_encode_jobs, train_faiss  # noqa: E402
from benchmarks.quality import quality  # noqa: E402
from benchmarks.timing import Job, round_robin, threads, throughput_rows  # noqa: E402
from benchmarks.training import training_speed  # noqa: E402
from vqcore.experiments.common import resolve_device  # noqa: E402

logger = logging.getLogger("benchmarks")

#: rows timed again with one torch / faiss thread (CPU runs with more than one thread)
SINGLE_THREAD_KEYS = ("vqcore.AdditiveVQ", "vqcore.AdditiveVQ.ordered_track", "faiss.ResidualQuantizer.beam16",
                      "vqcore.ResidualVQ", "vqcore.ProductVQ", "vector_quantize_pytorch.ResidualVQ")


def _device(name: str) -> torch.device:
    device = resolve_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return device


def _time_encoders(jobs: list[Job], repeats: int, device: torch.device, peers: Peers,
                   result: dict[str, Any]) -> None:
    """The encode rows; on a CPU with more than one thread also ``encode_1_thread``: per-core efficiency,
    and far less sensitive than OpenMP-parallel torch ops to other processes competing for the cores."""
    with torch.no_grad():
        result["encode"].update(throughput_rows(jobs, round_robin(jobs, repeats, device, "encode throughput")))
    if device.type == "cuda" or torch.get_num_threads() <= 1:
        return
    single = [job for job in jobs if job.key in SINGLE_THREAD_KEYS]
    with threads(1, peers.faiss), torch.no_grad():
        times = round_robin(single, repeats, device, "encode throughput, 1 thread")
    result["encode_1_thread"] = throughput_rows(single, times)


def _add_ratios_and_targets(result: dict[str, Any], device_type: str) -> None:
    rows = result["encode"]
    ratio_rows = report.ratios(rows, device_type)
    result["ratios"] = ratio_rows + [report.authors_row(rows)]
    result["targets"] = report.speed_targets(rows, ratio_rows, device_type)
    if "quality" in result:
        result["targets"] += report.quality_targets(result["quality"])
    if "encode_1_thread" in result:
        result["ratios_1_thread"] = report.ratios(result["encode_1_thread"], device_type)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of one run, as the JSON's dictionary."""
    device = _device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    peers = Peers.load()
    if peers.faiss is not None:
        peers.faiss.omp_set_num_threads(torch.get_num_threads())
    sizes = Sizes.for_run(vectors=args.vectors, batch=args.batch, repeats=args.repeats, quick=args.quick,
                          on_gpu=device.type == "cuda")
    started = dt.datetime.now().astimezone()
    data = load_data(sizes, device)
    result = report.header(started=started.isoformat(timespec="seconds"), device=device,
                           faiss_threads=peers.faiss.omp_get_max_threads() if peers.faiss is not None else None,
                           versions=peers.versions(), sizes=sizes, data_label=data_label(data),
                           dataset=data.description,
                           options={k: v for k, v in vars(args).items() if k != "out"})

    models = None
    if peers.faiss is not None:  # trained first, so that AVQ can take faiss RQ's codebooks
        models, notes = train_faiss(peers.faiss, data, sizes)
        result["notes"] += notes
    ours = build_ours(data, models.codebooks("rq") if models is not None else None, device)
    jobs = our_encode_jobs(ours, data, sizes, device) + peer_encode_jobs(peers, models, data, sizes, device)
    if models is not None and device.type == "cuda":
        result["notes"].append("faiss-cpu runs on the CPU; ratios against faiss compare a GPU with the CPU")
    _time_encoders(jobs, sizes.repeats, device, peers, result)

    if models is not None:
        result["quality"] = quality(peers.faiss, ours, models, data, sizes, device)
    result["training"] = training_speed(peers.vqp, data.train_dev, args.train_batch, sizes, device, peers.diveq)
    _add_ratios_and_targets(result, device.type)
    result["load_average_end"] = report.load_average()
    result["elapsed_s"] = round((dt.datetime.now().astimezone() - started).total_seconds(), 1)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python benchmarks/run.py``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--vectors", type=int, default=None,
                        help="test vectors encoded per pass (default 32768 on CPU, 4194304 on a GPU, 4096 with "
                             "--quick; faiss uses at most 32768)")
    parser.add_argument("--batch", type=int, default=None,
                        help="vectors per encode call, the same for every method (default 4096 on CPU, "
                             "1048576 on a GPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes per method (default 5; --quick 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch and faiss threads (default: torch's)")
    parser.add_argument("--train-batch", type=int, default=1024, help="batch of the training-speed comparison")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--omp-wait-policy", choices=WAIT_POLICIES, default="passive",
                        help="OMP_WAIT_POLICY set before torch loads (default passive; runtime: leave it unset); "
                             "an OMP_WAIT_POLICY already in the environment wins")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="output folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its JSON, print the summary."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if os.environ.get("VQCORE_BENCH_VERBOSE") else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    result = run(args)
    path = report.write_json(result, args.out)
    print(report.summary(result))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
