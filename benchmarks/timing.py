"""The job record and the round-robin timer: every method timed in turn, under the same machine conditions."""
from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One timed method: ``run_pass()`` does one pass over its data (``count`` vectors or steps)."""

    key: str                      #: the row's name in the JSON, ``"<library>.<method>"``
    library: str
    description: str              #: what is timed (the JSON's ``method``)
    run_pass: Callable[[], Any]
    count: int                    #: vectors (encoding) or training steps per pass
    device: str                   #: where it runs: ``"cpu"`` or ``"cuda"``


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batched(encode: Callable[[Any], Any], data: Any, batch: int) -> Callable[[], None]:
    """One pass of ``encode`` over ``data`` (``(N, D)``, a tensor or an array), ``batch`` rows per call."""
    def one_pass() -> None:
        for i in range(0, data.shape[0], batch):
            encode(data[i:i + batch])
    return one_pass


def _timed_pass(job: Job, device: torch.device) -> float:
    start = time.perf_counter()
    job.run_pass()
    synchronize(device)
    return time.perf_counter() - start


def round_robin(jobs: list[Job], repeats: int, device: torch.device, desc: str) -> dict[str, list[float]]:
    """Seconds per pass of every job: one warm-up pass each, then ``repeats`` rounds that time one
    pass of every job in turn, so that all methods see the same machine conditions."""
    times: dict[str, list[float]] = {job.key: [] for job in jobs}
    with tqdm(total=len(jobs) * (repeats + 1), desc=desc, leave=False) as bar:
        for job in jobs:
            logger.info("warm-up %s", job.key)
            _timed_pass(job, device)
            bar.update()
        for _ in range(repeats):
            for job in jobs:
                times[job.key].append(_timed_pass(job, device))
                bar.update()
    return times


def rates(count: int, times: list[float]) -> tuple[float, float]:
    """``(median, best)`` of ``count / seconds`` over the passes."""
    per_s = [count / t for t in times]
    return statistics.median(per_s), max(per_s)


def throughput_rows(jobs: list[Job], times: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """The JSON's encode rows, by job key: vectors/second (median, best) and the seconds per pass."""
    rows = {}
    for job in jobs:
        median, best = rates(job.count, times[job.key])
        rows[job.key] = {"library": job.library, "method": job.description, "device": job.device,
                         "vectors": job.count, "vec_per_s_median": median, "vec_per_s_best": best,
                         "seconds": [round(t, 6) for t in times[job.key]]}
    return rows


@contextmanager
def threads(count: int, faiss: Any = None) -> Iterator[None]:
    """torch (and faiss, when given) on ``count`` threads inside the block; the counts before, after it."""
    before = torch.get_num_threads()
    faiss_before = faiss.omp_get_max_threads() if faiss is not None else None
    torch.set_num_threads(count)
    if faiss is not None:
        faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if faiss is not None:
            faiss.omp_set_num_threads(faiss_before)
